/**
 * Normalisation every source applies, and the record helpers every source shares (rejects,
 * deduplication). Pure functions: no server, no database.
 *
 *   node --import tsx --test test/normalize.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toContactRecord } from '../providers/google-people/person';
import {
  DEFAULT_PHONE_REGION,
  FIELD_MAX_CHARS,
  ID_MAX_CHARS,
  RAW_STRING_MAX_CHARS,
  buildDisplayName,
  cleanText,
  hasIdentity,
  isPhoneRegion,
  normalizeContact,
  normalizeEmail,
  normalizePhone,
  withoutNul,
  type PhoneRegion,
} from '../providers/kit/normalize';
import { EXCERPT_MAX_BYTES, dedupeKeepLast, excerptOf, rejectRecord } from '../providers/kit/records';

const US = { defaultRegion: 'US' } as const;

describe('normalizeEmail', () => {
  it('trims and lower-cases the domain, keeping the local part as written', () => {
    assert.equal(normalizeEmail('  Zoe.Angstrom@Example.COM \t'), 'Zoe.Angstrom@example.com');
    assert.equal(normalizeEmail('zoe@ÅNGSTRÖM.Example'), 'zoe@ångström.example');
  });

  it('lower-cases only what follows the last @', () => {
    assert.equal(normalizeEmail('"Odd@Local"@Example.ORG'), '"Odd@Local"@example.org');
  });

  it('drops a mailto: prefix', () => {
    assert.equal(normalizeEmail('MAILTO:Ann@Example.Com'), 'Ann@example.com');
  });

  it('keeps a value without @ as it is, and gives null for blank ones', () => {
    assert.equal(normalizeEmail('not an address'), 'not an address');
    assert.equal(normalizeEmail('   '), null);
    assert.equal(normalizeEmail(null), null);
    assert.equal(normalizeEmail(undefined), null);
  });
});

describe('normalizePhone', () => {
  it('keeps the raw value and adds E.164 for a valid number in the default region', () => {
    assert.deepEqual(normalizePhone(' (202) 555-0143 ', 'US'), { phone: '(202) 555-0143', phoneE164: '+12025550143' });
  });

  it('reads a number with a country code whatever the default region', () => {
    assert.deepEqual(normalizePhone('+49 30 1234567', 'US'), { phone: '+49 30 1234567', phoneE164: '+49301234567' });
    assert.deepEqual(normalizePhone('+86 138 0013 8000', 'GB'), { phone: '+86 138 0013 8000', phoneE164: '+8613800138000' });
  });

  it('reads a national number in the region it is given', () => {
    assert.equal(normalizePhone('138 0013 8000', 'US').phoneE164, null);
    assert.equal(normalizePhone('138 0013 8000', 'CN').phoneE164, '+8613800138000');
    assert.equal(normalizePhone('020 7946 0958', 'GB').phoneE164, '+442079460958');
  });

  it('gives null E.164 for an invalid number and keeps its raw value', () => {
    assert.deepEqual(normalizePhone('12345', 'US'), { phone: '12345', phoneE164: null });
    assert.deepEqual(normalizePhone('call me maybe', 'US'), { phone: 'call me maybe', phoneE164: null });
  });

  it('checks the numbering plan, not only the length (the max metadata)', () => {
    // Ten digits like any US number, but no US number has an exchange starting with 1.
    assert.equal(normalizePhone('+1 800 123 4567', 'US').phoneE164, null);
    assert.equal(normalizePhone('+49 1234 56789', 'US').phoneE164, null);
  });

  it('drops a tel: prefix (vCard 4.0 URIs)', () => {
    assert.deepEqual(normalizePhone('tel:+1-202-555-0143', 'US'), { phone: '+1-202-555-0143', phoneE164: '+12025550143' });
  });

  it('gives nulls for a blank value', () => {
    assert.deepEqual(normalizePhone('  ', 'US'), { phone: null, phoneE164: null });
    assert.deepEqual(normalizePhone(null, 'US'), { phone: null, phoneE164: null });
  });
});

describe('buildDisplayName', () => {
  it('joins prefix, given, middle and family names, with the suffix after a comma', () => {
    assert.equal(buildDisplayName({ prefix: 'Dr.', given: 'John', middle: 'Quincy', family: 'Smith', suffix: 'Jr.' }), 'Dr. John Quincy Smith, Jr.');
    assert.equal(buildDisplayName({ given: 'Zoë', family: 'Ångström' }), 'Zoë Ångström');
    assert.equal(buildDisplayName({ family: 'Müller', suffix: 'PhD' }), 'Müller, PhD');
  });

  it('writes East Asian names family name first, without spaces', () => {
    assert.equal(buildDisplayName({ given: '小龙', family: '李' }), '李小龙');
    assert.equal(buildDisplayName({ given: '민수', family: '김' }), '김민수');
  });

  it('falls back to the nickname, then to null', () => {
    assert.equal(buildDisplayName({ nickname: 'Ziggy' }), 'Ziggy');
    assert.equal(buildDisplayName({ given: '  ', family: null, nickname: ' ' }), null);
    assert.equal(buildDisplayName({}), null);
  });
});

describe('cleanText', () => {
  it('strips NUL characters and trims', () => {
    assert.equal(cleanText(' Zo\u0000ë\u0000 '), 'Zoë');
    assert.equal(cleanText('\u0000\u0000'), null);
  });

  it('leaves a value without NUL as it is, and takes every NUL out of one with some', () => {
    const plain = 'Zoë Ångström';
    assert.equal(withoutNul(plain), plain);
    assert.equal(withoutNul('\u0000a\u0000\u0000b\u0000'), 'ab');
    assert.equal(withoutNul('\u0000'), '');
  });

  it('strips NULs from a People person\'s fields as it maps it', () => {
    const person = {
      resourceName: 'people/c1',
      etag: 'e1',
      names: [{ displayName: ' Zo\u0000ë ' }],
      emailAddresses: [{ value: 'zo\u0000e@Example.com' }],
      phoneNumbers: [{ value: '+1 202\u0000 555 0143', canonicalForm: '+1202\u00005550143' }],
      organizations: [{ name: '\u0000Acme' }],
    };
    const contact = toContactRecord(person);
    assert.deepEqual(
      [contact.displayName, contact.email, contact.phone, contact.phoneE164, contact.organization],
      ['Zoë', 'zoe@example.com', '+1 202 555 0143', '+12025550143', 'Acme'],
    );
  });

  it(`bounds a value to ${FIELD_MAX_CHARS} characters without splitting a surrogate pair`, () => {
    assert.equal(cleanText('x'.repeat(5000))?.length, FIELD_MAX_CHARS);
    const cut = cleanText(`${'x'.repeat(FIELD_MAX_CHARS - 1)}😀tail`);
    assert.equal(cut, 'x'.repeat(FIELD_MAX_CHARS - 1), 'the emoji that would be cut in half is left out whole');
  });
});

describe('normalizeContact', () => {
  const input = {
    externalId: 'card-1',
    displayName: null,
    name: { given: 'Zoë', family: 'Ångström' },
    email: ' Zoe@Example.COM ',
    phone: '(202) 555-0143',
    organization: ' Ångström\u0000 Design ',
    raw: { note: 'a\u0000b', nested: [{ long: 'y'.repeat(10_000) }], count: 3, flag: true, none: null },
  };

  it('normalises every field and keeps E.164 beside the raw phone', () => {
    const contact = normalizeContact(input, US);
    assert.equal(contact.externalId, 'card-1');
    assert.equal(contact.displayName, 'Zoë Ångström');
    assert.equal(contact.email, 'Zoe@example.com');
    assert.equal(contact.phone, '(202) 555-0143');
    assert.equal(contact.phoneE164, '+12025550143');
    assert.equal(contact.organization, 'Ångström Design');
  });

  it('cleans raw of NULs and bounds its strings, leaving other values alone', () => {
    const raw = normalizeContact(input, US).raw as { note: string; nested: Array<{ long: string }>; count: number; flag: boolean; none: null };
    assert.equal(raw.note, 'ab');
    assert.equal(raw.nested[0]?.long.length, RAW_STRING_MAX_CHARS);
    assert.equal(raw.count, 3);
    assert.equal(raw.flag, true);
    assert.equal(raw.none, null);
    assert.doesNotMatch(JSON.stringify(normalizeContact(input, US)), /\\u0000/);
  });

  it('prefers a display name it is given over one built from the name parts', () => {
    assert.equal(normalizeContact({ ...input, displayName: '  Zoë Å. ' }, US).displayName, 'Zoë Å.');
  });

  it('computes a stable etag that changes with the content when the source gives none', () => {
    const first = normalizeContact(input, US);
    assert.match(first.etag, /^[0-9a-f]{32}$/);
    assert.equal(normalizeContact(input, US).etag, first.etag);
    assert.notEqual(normalizeContact({ ...input, email: 'other@example.com' }, US).etag, first.etag);
    assert.equal(normalizeContact({ ...input, etag: ' "%EgcBAj4=" ' }, US).etag, '"%EgcBAj4="');
  });

  it(`hashes an id longer than ${ID_MAX_CHARS} characters instead of cutting it`, () => {
    const long = normalizeContact({ ...input, externalId: `${'u'.repeat(300)}-a` }, US).externalId;
    const other = normalizeContact({ ...input, externalId: `${'u'.repeat(300)}-b` }, US).externalId;
    assert.match(long, /^sha256:[0-9a-f]{32}$/);
    assert.notEqual(long, other, 'two long ids that share a prefix stay two contacts');
  });

  it('uses the default region for national numbers', () => {
    assert.equal(normalizeContact({ ...input, phone: '020 7946 0958' }, { defaultRegion: 'GB' }).phoneE164, '+442079460958');
    assert.equal(normalizeContact({ ...input, phone: '020 7946 0958' }, US).phoneE164, null);
  });

  it('refuses a default region that is not one, naming what it got', () => {
    assert.throws(() => normalizeContact(input, { defaultRegion: 'XX' as PhoneRegion }), {
      name: 'RangeError',
      message: 'defaultRegion must be an ISO 3166-1 region such as "US" (got "XX")',
    });
  });

  it('has US as the service default and knows which regions are valid', () => {
    assert.equal(DEFAULT_PHONE_REGION, 'US');
    assert.equal(isPhoneRegion('DE'), true);
    assert.equal(isPhoneRegion('de'), false);
    assert.equal(isPhoneRegion('XX'), false);
  });
});

describe('hasIdentity', () => {
  it('is true with any of name, email, phone or organization, false with none', () => {
    const none = { displayName: null, email: null, phone: null, organization: null };
    assert.equal(hasIdentity(none), false);
    for (const field of ['displayName', 'email', 'phone', 'organization'] as const) {
      assert.equal(hasIdentity({ ...none, [field]: 'x' }), true, field);
    }
  });
});

describe('rejects and duplicates', () => {
  it(`cuts an excerpt to ${EXCERPT_MAX_BYTES} bytes at a character boundary`, () => {
    const excerpt = excerptOf('ë'.repeat(EXCERPT_MAX_BYTES));
    assert.ok(Buffer.byteLength(excerpt) <= EXCERPT_MAX_BYTES);
    assert.equal(excerpt, 'ë'.repeat(EXCERPT_MAX_BYTES / 2));
    const odd = excerptOf(`x${'李'.repeat(1000)}`);
    assert.ok(Buffer.byteLength(odd) <= EXCERPT_MAX_BYTES);
    assert.doesNotMatch(odd, /\uFFFD/, 'no character is cut in half');
    assert.equal(excerptOf('short\u0000text'), 'shorttext');
  });

  it('builds a reject with a bounded excerpt', () => {
    const reject = rejectRecord('record 3 (line 20)', 'unparseable', 'broken', 'x'.repeat(10_000));
    assert.equal(reject.position, 'record 3 (line 20)');
    assert.equal(reject.reason, 'unparseable');
    assert.equal(reject.excerpt.length, EXCERPT_MAX_BYTES);
  });

  it('keeps the last record of each id, where that last one was', () => {
    const records = [
      { externalId: 'a', v: 1 },
      { externalId: 'b', v: 1 },
      { externalId: 'a', v: 2 },
      { externalId: 'c', v: 1 },
      { externalId: 'a', v: 3 },
    ];
    assert.deepEqual(dedupeKeepLast(records), {
      records: [
        { externalId: 'b', v: 1 },
        { externalId: 'c', v: 1 },
        { externalId: 'a', v: 3 },
      ],
      duplicates: 2,
    });
    assert.deepEqual(dedupeKeepLast(records.slice(0, 2)), { records: records.slice(0, 2), duplicates: 0 });
  });
});
