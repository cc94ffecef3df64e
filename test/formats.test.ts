/**
 * The vCard and CSV readers on one fixture per dialect (test/fixtures/contacts/): exact counts,
 * field values and reject positions; resuming from every cursor; awkward reads; layout detection.
 * The 20,000-record files are in formats-large.test.ts.
 *
 *   node --import tsx --test test/formats.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CSV_LAYOUTS,
  CsvLayoutError,
  START_CURSOR,
  bufferByteSource,
  createCardParser,
  detectCsvLayout,
  detectEncoding,
  detectFileFormat,
  parseCsvCursor,
  parseFileCursor,
  readCsvBatch,
  readVCardBatch,
  type ByteSource,
  type CsvLayout,
} from '../providers/formats';
import { FIELD_MAX_CHARS, RAW_STRING_MAX_CHARS } from '../providers/kit/normalize';
import { rowToInput } from '../providers/formats/csv-layouts';
import { MAX_CARD_BYTES } from '../providers/formats/vcard-lines';
import { EXCERPT_MAX_BYTES } from '../providers/kit/records';
import { fixture, fixtureBytes, shown, tricklingSource, walk, type BatchReader } from './support/format-readers';

const US = { defaultRegion: 'US' } as const;
const vcard: BatchReader = (source, cursor, max) => readVCardBatch(source, cursor, max, US);
const csv: BatchReader = (source, cursor, max) => readCsvBatch(source, cursor, max, US);

/** Base64 text of the fixtures' photos ("PHOTO-21-SECRET-DATA", …) and what it decodes to. */
const PHOTO_TRACES = /UEhPVE8t|LURBVEE|SECRET|PHOTO-/;

/** What each fixture must give, in `test/fixtures/contacts/expected.json`: ids only where the file has them. */
interface Expected {
  duplicates: number;
  records: Array<{ externalId?: string; displayName: string | null; email: string | null; phone: string | null; phoneE164: string | null; organization: string | null }>;
  rejected: Array<{ position: string; reason: string; message: string }>;
}
const EXPECTED = JSON.parse(fixtureBytes('expected.json').toString('utf8')) as Record<string, Expected>;

describe('every fixture', () => {
  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`reads ${name} to exactly the expected contacts and rejects`, async () => {
      const batch = await (name.endsWith('.vcf') ? vcard : csv)(fixture(name), START_CURSOR, 1_000);
      const records = batch.records.map(({ externalId, displayName, email, phone, phoneE164, organization }) => ({
        ...(/^(vcard|csv):[0-9a-f]{32}$/.test(externalId) ? {} : { externalId }),
        ...{ displayName, email, phone, phoneE164, organization },
      }));
      assert.deepEqual(records, expected.records);
      assert.deepEqual(batch.rejected.map(({ position, reason, message }) => ({ position, reason, message })), expected.rejected);
      assert.equal(batch.duplicates, expected.duplicates);
      assert.equal(batch.nextCursor, null);
      for (const reject of batch.rejected) assert.ok(Buffer.byteLength(reject.excerpt) <= EXCERPT_MAX_BYTES);
      assert.doesNotMatch(JSON.stringify(batch), PHOTO_TRACES);
    });
  }

  it('has an expectation for each of the eight dialects', () => {
    assert.equal(Object.keys(EXPECTED).length, 8);
  });
});

describe('vCard 2.1', () => {
  it('reads quoted-printable with soft line breaks, CHARSET and bare types', async () => {
    const { records, rejected } = await walk(vcard, fixture('vcard-2.1.vcf'), 100);
    const zoe = records[0]?.raw as { properties: Array<{ name: string; params?: Record<string, string[]>; value: unknown }> };
    assert.deepEqual(zoe.properties.find((p) => p.name === 'NOTE')?.value, 'Met at the café on Main St.\r\nAsk about the photos.');
    assert.deepEqual(zoe.properties.filter((p) => p.name === 'TEL').map((p) => p.params?.TYPE), [['HOME', 'VOICE'], ['CELL', 'PREF']]);
    const jose = records[1]?.raw as { properties: Array<{ name: string; value: unknown }> };
    assert.equal(jose.properties.find((p) => p.name === 'NOTE')?.value, 'Preis 5 € pro Stück', 'CHARSET=WINDOWS-1252 maps 0x80 to €');
    assert.deepEqual(rejected, [
      {
        position: 'record 6 (line 42)',
        reason: 'no_identity',
        message: 'the card has no name, email, phone or organization',
        excerpt: 'BEGIN:VCARD\nVERSION:2.1\nNOTE:Nothing but a note\nEND:VCARD',
      },
    ]);
  });

  it('drops unfolded base64 photo data up to its blank line', async () => {
    const { records } = await walk(vcard, fixture('vcard-2.1.vcf'), 100);
    assert.deepEqual((records[3]?.raw as { omitted: string[] }).omitted, ['PHOTO']);
    assert.doesNotMatch(JSON.stringify(records), PHOTO_TRACES);
  });

  it('identifies cards without UID by content, the same on every read', async () => {
    const first = await walk(vcard, fixture('vcard-2.1.vcf'), 100);
    const again = await walk(vcard, fixture('vcard-2.1.vcf'), 2);
    for (const record of first.records) assert.match(record.externalId, /^vcard:[0-9a-f]{32}$/);
    assert.equal(new Set(first.records.map((r) => r.externalId)).size, 5);
    assert.deepEqual(again.records.map((r) => [r.externalId, r.etag]), first.records.map((r) => [r.externalId, r.etag]));
  });

  it('reads a quoted-printable continuation line as value, even when it looks like a property', async () => {
    const card = 'BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Ann\r\nNOTE;ENCODING=QUOTED-PRINTABLE:See =\r\nPHOTO: data:here =\r\n TEL:1\r\nEND:VCARD\r\n';
    const { records } = await walk(vcard, bufferByteSource(Buffer.from(card)), 10);
    const raw = records[0]?.raw as { properties: Array<{ name: string; value: unknown }>; omitted?: string[] };
    assert.deepEqual(raw.properties.map((p) => [p.name, p.value]), [['FN', 'Ann'], ['NOTE', 'See PHOTO: data:here  TEL:1']]);
    assert.equal(raw.omitted, undefined);
    assert.equal(records[0]?.phone, null);
  });
});

describe('vCard 3.0', () => {
  it('reads folded lines, item groups, escapes and UIDs, keeping the last card of a repeated UID', async () => {
    const batch = await readVCardBatch(fixture('vcard-3.0.vcf'), START_CURSOR, 100, US);
    assert.equal(batch.duplicates, 1);
    assert.equal(batch.nextCursor, null);
    assert.deepEqual(
      batch.records.map((r) => r.externalId),
      ['7C8E2F1A-1B2C-4D3E-9F00-0A1B2C3D4E5F', batch.records[1]?.externalId, 'jose-mueller-1'],
    );
    const zoe = batch.records[0]?.raw as { properties: Array<{ group?: string; name: string; value: unknown }>; omitted: string[] };
    assert.equal(
      zoe.properties.find((p) => p.name === 'NOTE')?.value,
      "A long note that is folded over more than one line, with an escaped comma and a line break\nhere. Zoë's café.",
      'a fold inside a UTF-8 character joins its bytes back together',
    );
    assert.deepEqual(zoe.properties.filter((p) => p.group === 'item1').map((p) => p.name), ['EMAIL', 'X-ABLABEL']);
    assert.deepEqual(zoe.omitted, ['PHOTO']);
    assert.doesNotMatch(JSON.stringify(batch), PHOTO_TRACES);
    assert.deepEqual(batch.rejected, [
      {
        position: 'record 4 (line 33)',
        reason: 'unparseable',
        message: 'a line is not a property (NAME:value): "this line is not a property"',
        excerpt: 'BEGIN:VCARD\nVERSION:3.0\nFN:Broken Card\nthis line is not a property\nEND:VCARD',
      },
    ]);
  });
});

describe('vCard 4.0', () => {
  it('reads PREF, tel: URIs, quoted parameters and data: photos', async () => {
    const { records, rejected } = await walk(vcard, fixture('vcard-4.0.vcf'), 100);
    assert.equal(records[0]?.externalId, 'urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1');
    const adr = (records[1]?.raw as { properties: Array<{ name: string; params?: Record<string, string[]>; value: unknown }> }).properties.find(
      (p) => p.name === 'ADR',
    );
    assert.deepEqual(adr?.params?.LABEL, ['Hauptstraße 1: Hof\\n10115 Berlin'], 'a quoted parameter may hold a colon');
    assert.deepEqual(adr?.value, ['', '', 'Hauptstraße 1', 'Berlin', '', '10115', 'Germany']);
    assert.doesNotMatch(JSON.stringify(records), PHOTO_TRACES);
    assert.deepEqual(
      rejected.map(({ position, reason, message }) => ({ position, reason, message })),
      [{ position: 'record 5 (line 36)', reason: 'unparseable', message: 'no END:VCARD before the next BEGIN:VCARD (line 40)' }],
    );
    assert.equal(rejected[0]?.excerpt, 'BEGIN:VCARD\nVERSION:4.0\nFN:Half A. Card\nEMAIL:half@example.com');
  });

  it('uses the default region it is given for national numbers', async () => {
    const batch = await readVCardBatch(fixture('vcard-4.0.vcf'), START_CURSOR, 100, { defaultRegion: 'CN' });
    assert.equal(batch.records[2]?.phoneE164, '+8613800138000');
  });
});

describe('createCardParser', () => {
  it('reads one card from text, and puts the position it is given on a reject', async () => {
    const parse = createCardParser(US);
    const card = await parse('BEGIN:VCARD\nVERSION:3.0\nFN:Zoë Ångström\nTEL:(202) 555-0143\nEND:VCARD\n', '/dav/zoe.vcf');
    assert.ok('contact' in card);
    assert.deepEqual([card.contact.displayName, card.contact.phoneE164], ['Zoë Ångström', '+12025550143']);
    const empty = await parse('BEGIN:VCARD\nNOTE:n\nEND:VCARD', '/dav/n.vcf');
    assert.deepEqual('rejected' in empty && [empty.rejected.position, empty.rejected.reason], ['/dav/n.vcf', 'no_identity']);
    const none = await parse('not a card', '/dav/x.vcf');
    assert.deepEqual('rejected' in none && [none.rejected.position, none.rejected.reason], ['/dav/x.vcf', 'unparseable']);
  });
});

describe('vCard files that are not well formed', () => {
  const read = (text: string | Buffer) => walk(vcard, bufferByteSource(Buffer.from(text)), 10);

  it('rejects text outside any card by line, and a card the file ends inside', async () => {
    const { records, rejected } = await read('junk before\nmore junk\n\nBEGIN:VCARD\nFN:A\nEND:VCARD\nBEGIN:VCARD\nFN:B\n');
    assert.deepEqual(records.map((r) => r.displayName), ['A']);
    assert.deepEqual(
      rejected.map(({ position, message }) => [position, message]),
      [
        ['line 1', '3 lines of text outside BEGIN:VCARD … END:VCARD'],
        ['record 2 (line 7)', 'the file ends before END:VCARD'],
      ],
    );
  });

  it('reads an empty file as no records and no rejects', async () => {
    assert.deepEqual(await read(''), { records: [], rejected: [], cursors: [START_CURSOR], returned: 0 });
    assert.deepEqual((await read('\r\n\r\n')).returned, 0);
  });

  it('drops a 3 MB photo while reading and keeps no trace of it, even in a reject', async () => {
    const photo = 'QUJD'.repeat(750_000);
    const folded = photo.match(/.{1,74}/g)?.join('\r\n ') ?? '';
    const good = `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big Photo\r\nPHOTO;ENCODING=b;TYPE=JPEG:${folded}\r\nX-SIGNATURE;ENCODING=b:${folded}\r\nEND:VCARD\r\n`;
    const bad = `BEGIN:VCARD\r\nVERSION:3.0\r\nPHOTO;ENCODING=b;TYPE=JPEG:${folded}\r\nEND:VCARD\r\n`;
    const { records, rejected } = await read(good + bad);
    assert.deepEqual(records.map((r) => r.displayName), ['Big Photo']);
    const raw = records[0]?.raw as { properties: Array<{ name: string }>; omitted: string[] };
    assert.deepEqual(raw.properties.map((p) => p.name), ['FN']);
    assert.deepEqual(raw.omitted, ['PHOTO', 'X-SIGNATURE']);
    assert.equal(rejected[0]?.reason, 'no_identity');
    assert.equal(rejected[0]?.excerpt, 'BEGIN:VCARD\nVERSION:3.0\nPHOTO;ENCODING=b;TYPE=JPEG:\nEND:VCARD');
    assert.doesNotMatch(JSON.stringify({ records, rejected }), /QUJD/);
  });

  it('bounds every field, and refuses a card of over 1 MiB of text with a 2 KiB excerpt', async () => {
    const { records, rejected } = await read(
      `BEGIN:VCARD\nFN:${'Z'.repeat(5000)}\nNOTE:${'n'.repeat(200_000)}\nEND:VCARD\n` +
        `BEGIN:VCARD\nFN:Too much\nNOTE:${'n'.repeat(MAX_CARD_BYTES)}\nEND:VCARD\n`,
    );
    assert.equal(records[0]?.displayName?.length, FIELD_MAX_CHARS);
    assert.equal((records[0]?.raw as { properties: Array<{ value: string }> }).properties[1]?.value.length, RAW_STRING_MAX_CHARS);
    assert.deepEqual(
      rejected.map(({ position, reason, message }) => [position, reason, message]),
      [['record 2 (line 5)', 'unparseable', `the card is larger than ${MAX_CARD_BYTES} bytes without its binary data`]],
    );
    assert.ok(Buffer.byteLength(rejected[0]?.excerpt ?? '') <= EXCERPT_MAX_BYTES);
  });
});

describe('CSV exports', () => {
  it('reads a Google Contacts export: ::: values, starred labels, quoted line breaks', async () => {
    const { records, rejected } = await walk(csv, fixture('google.csv'), 100);
    const zoe = records[0]?.raw as { format: string; layout: string; fields: Record<string, string> };
    assert.equal(zoe.layout, 'google');
    assert.equal(zoe.fields.Notes, 'Met at the café, twice.\nSays "hi".');
    assert.equal(zoe.fields['E-mail 1 - Value'], 'Zoe@Example.COM ::: zoe.a@Example.COM');
    assert.deepEqual(
      rejected.map(({ position, reason }) => [position, reason]),
      [
        ['row 5 (line 9)', 'no_identity'],
        ['row 6 (line 10)', 'unparseable'],
      ],
    );
    assert.match(rejected[1]?.message ?? '', /Invalid Opening Quote/);
    assert.equal(rejected[1]?.excerpt.slice(0, 10), 'Jo"hn,Doe,');
  });

  it('reads the older Google Contacts export', async () => {
    const { records, rejected } = await walk(csv, fixture('google-legacy.csv'), 100);
    assert.equal((records[0]?.raw as { layout: string }).layout, 'google-legacy');
    assert.deepEqual(rejected.map((r) => [r.position, r.reason]), [['row 4 (line 5)', 'no_identity']]);
  });

  it('keeps the line break of an Outlook note, and the excerpt of a row with too many fields', async () => {
    const { records, rejected } = await walk(csv, fixture('outlook.csv'), 100);
    const jose = records[1]?.raw as { layout: string; fields: Record<string, string> };
    assert.equal(jose.layout, 'outlook');
    assert.equal(jose.fields.Notes, 'Prefers email.\r\nSpeaks German, English.');
    assert.equal(jose.fields.Title, 'Dr.');
    assert.match(rejected[0]?.excerpt ?? '', /^Extra,Fields,x,x/);
  });

  it('detects and decodes a Windows-1252 Outlook export', async () => {
    assert.equal(await detectEncoding(fixture('outlook-windows-1252.csv')), 'windows-1252');
    assert.equal(await detectEncoding(fixture('outlook.csv')), 'utf-8');
    const { records, rejected, cursors } = await walk(csv, fixture('outlook-windows-1252.csv'), 1);
    assert.equal((records[0]?.raw as { fields: Record<string, string> }).fields.Notes, 'Prix: 5 € – « très bien »');
    assert.deepEqual(rejected, []);
    assert.deepEqual(cursors.slice(1).map((c) => (c as { encoding?: string }).encoding), ['windows-1252', 'windows-1252']);
  });

  it('reads a file with a UTF-8 BOM', async () => {
    const { records } = await walk(csv, fixture('google-bom.csv'), 100);
    assert.ok('First Name' in (records[0]?.raw as { fields: Record<string, string> }).fields, 'the BOM is not part of the first column name');
  });

  it('reads semicolon-separated files and rejects a row whose quote never closes', async () => {
    const text = 'First Name;Last Name;E-mail Address;Company\r\nJosé;Müller;jose@X.DE;"Müller; Söhne"\r\nAnn;Lee;"ann@x.com\r\n';
    const { records, rejected } = await walk(csv, bufferByteSource(Buffer.from(text)), 10);
    assert.deepEqual(records.map(shown), [['José Müller', 'jose@x.de', null, null, 'Müller; Söhne']]);
    assert.deepEqual(rejected.map((r) => [r.position, r.reason]), [['row 2 (line 3)', 'unparseable']]);
    assert.match(rejected[0]?.message ?? '', /Quote Not Closed/);
  });
});

describe('CSV layouts', () => {
  it('names the columns it expected for a header it does not know', () => {
    const result = detectCsvLayout('Full Name,Mail,Telephone\r\n');
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.problem.code, 'unknown_csv_layout');
    assert.deepEqual(result.problem.found, ['Full Name', 'Mail', 'Telephone']);
    assert.deepEqual(result.problem.expected.map((e) => e.layout), ['google', 'google-legacy', 'outlook']);
    assert.deepEqual(result.problem.expected[2], {
      layout: 'outlook',
      label: 'Outlook',
      required: ['First Name', 'Last Name'],
      oneOf: ['E-mail Address', 'Mobile Phone', 'Business Phone', 'Home Phone', 'Company'],
    });
    assert.match(result.problem.message, /^The CSV header matches no layout we import\. Expected Google Contacts \(First Name, Last Name and one of E-mail 1 - Value/);
    assert.match(result.problem.message, /Outlook \(First Name, Last Name and one of E-mail Address, Mobile Phone/);
  });

  it('says an empty file has no header', () => {
    const result = detectCsvLayout('');
    assert.equal(result.ok ? null : result.problem.code, 'empty_csv');
  });

  it('recognises each export by its header, case and BOM aside', () => {
    const header = (name: string) => fixtureBytes(name).toString('latin1').split(/\r?\n/)[0] ?? '';
    assert.equal(detectCsvLayout(fixtureBytes('google-bom.csv').toString('utf8').split('\n')[0] ?? '').ok && 'google', 'google');
    for (const [name, layout] of [['google.csv', 'google'], ['google-legacy.csv', 'google-legacy'], ['outlook.csv', 'outlook']] as const) {
      const result = detectCsvLayout(header(name).toUpperCase());
      assert.equal(result.ok ? result.layout.layout.id : result.problem.message, layout, name);
    }
  });

  it('refuses to read a file whose header it does not know', async () => {
    await assert.rejects(readCsvBatch(bufferByteSource(Buffer.from('a,b\n1,2\n')), START_CURSOR, 10, US), (error: unknown) => {
      assert.ok(error instanceof CsvLayoutError);
      assert.equal(error.problem.code, 'unknown_csv_layout');
      return true;
    });
  });

  it('takes the id from the id column of a layout that has one, else hashes the row', () => {
    const outlook = CSV_LAYOUTS[2] as CsvLayout;
    const custom: CsvLayout = { ...outlook, id: 'crm', idColumn: 'Contact Id', header: { required: ['Contact Id'], oneOf: ['First Name'] } };
    const result = detectCsvLayout('Contact Id,First Name,Last Name', [custom]);
    assert.ok(result.ok);
    assert.equal(result.layout.layout.id, 'crm');
    assert.equal(rowToInput(result.layout, ['c-42', 'Ann', 'Lee']).externalId, 'c-42');
    assert.match(rowToInput(result.layout, ['', 'Ann', 'Lee']).externalId, /^csv:[0-9a-f]{32}$/);
  });
});

describe('resuming', () => {
  const files: Array<[string, BatchReader]> = [
    ['vcard-2.1.vcf', vcard], ['vcard-3.0.vcf', vcard], ['vcard-4.0.vcf', vcard], ['google.csv', csv],
    ['google-legacy.csv', csv], ['outlook.csv', csv], ['outlook-windows-1252.csv', csv], ['google-bom.csv', csv],
  ];

  for (const [name, read] of files) {
    it(`reads ${name} the same from every cursor as in one pass, in any batch size`, async () => {
      const source = fixture(name);
      const whole = await walk(read, source, 1_000);
      const oneByOne = await walk(read, source, 1);
      assert.equal(oneByOne.cursors.length, oneByOne.returned + oneByOne.rejected.length, 'each batch of one reads one record');
      for (const size of [1, 2, 3]) {
        const { records, rejected } = await walk(read, source, size);
        assert.deepEqual({ records, rejected }, { records: whole.records, rejected: whole.rejected }, `batches of ${size}`);
      }
      for (let i = 0; i < oneByOne.cursors.length; i++) {
        const rest = await walk(read, source, 1_000, oneByOne.cursors[i]);
        const expected = await walk(read, source, 1, oneByOne.cursors[i]);
        assert.deepEqual(rest.records, expected.records, `records from cursor ${i}`);
        assert.deepEqual(rest.rejected, expected.rejected, `rejects from cursor ${i}`);
      }
    });

    it(`reads ${name} the same when the source hands out 5 bytes at a time`, async () => {
      const bytes = fixtureBytes(name);
      const trickled: ByteSource = tricklingSource(bytes, 5);
      assert.deepEqual((await walk(read, trickled, 2)).records, (await walk(read, fixture(name), 2)).records);
    });
  }
});

describe('cursors', () => {
  it('read back from JSON as they were, a CSV cursor with its encoding', () => {
    const cursor = { byteOffset: 1234, recordIndex: 17, line: 40, encoding: 'windows-1252' };
    assert.deepEqual(parseCsvCursor(JSON.parse(JSON.stringify(cursor))), cursor);
    assert.deepEqual(parseFileCursor({ byteOffset: 0, recordIndex: 0, line: 1 }), START_CURSOR);
    assert.throws(() => parseFileCursor({ byteOffset: -1, recordIndex: 0, line: 1 }), { name: 'ZodError' });
    assert.throws(() => parseCsvCursor({ ...cursor, encoding: 'utf-16' }), { name: 'ZodError' });
  });

  it('refuses a batch size that is not a positive integer', async () => {
    await assert.rejects(readVCardBatch(fixture('vcard-4.0.vcf'), START_CURSOR, 0, US), {
      name: 'RangeError',
      message: 'maxRecords must be a positive integer (got 0)',
    });
  });
});

describe('detectFileFormat', () => {
  it('tells vCard from CSV by the first line', async () => {
    assert.equal(await detectFileFormat(fixture('vcard-2.1.vcf')), 'vcard');
    assert.equal(await detectFileFormat(bufferByteSource(Buffer.from('\uFEFF\r\nbegin:vcard\r\n'))), 'vcard');
    assert.equal(await detectFileFormat(fixture('google-bom.csv')), 'csv');
  });
});
