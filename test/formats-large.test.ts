/**
 * The file readers on generated 20,000-record files (test/support/contact-files.ts) with about 1%
 * malformed records at known positions: exact saved and rejected counts, reads in bounded pieces,
 * and a resume from a cursor that went through JSON, as one from workflow history would.
 *
 *   node --import tsx --test test/formats-large.test.ts
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  START_CURSOR,
  openFileByteSource,
  parseCsvCursor,
  parseFileCursor,
  readCsvBatch,
  readVCardBatch,
  type FileBatch,
  type FileByteSource,
  type FileCursor,
} from '../providers/formats';
import { EXCERPT_MAX_BYTES } from '../providers/kit/records';
import { GENERATED_PHOTO_MARKER, writeCsvFile, writeVCardFile, type ContactFileExpectation } from './support/contact-files';
import { measuredSource, walk, type BatchReader, type Walk } from './support/format-readers';

const RECORDS = 20_000;
const BATCH = 1_000;
const US = { defaultRegion: 'US' } as const;

let dir: string;
const files: Record<'vcard' | 'csv', ContactFileExpectation> = {} as never;
const parsers: Record<'vcard' | 'csv', (value: unknown) => FileCursor> = { vcard: parseFileCursor, csv: parseCsvCursor };
const readers: Record<'vcard' | 'csv', BatchReader> = {
  vcard: (source, cursor, max) => readVCardBatch(source, cursor, max, US),
  csv: (source, cursor, max) => readCsvBatch(source, cursor, max, US),
};

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contact-files-'));
  files.vcard = writeVCardFile(path.join(dir, 'contacts.vcf'), RECORDS);
  files.csv = writeCsvFile(path.join(dir, 'contacts.csv'), RECORDS);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

const walks = new Map<string, Promise<Walk>>();

/** One whole read of a generated file, batch by batch, shared by the tests that only look at its result. */
function walkFile(format: 'vcard' | 'csv'): Promise<Walk & { largestRead: number; size: number }> {
  const read = async () => {
    const file = await openFileByteSource(files[format].path);
    try {
      const source = measuredSource(file);
      return { ...(await walk(readers[format], source, BATCH)), largestRead: source.largestRead, size: file.size };
    } finally {
      await file.close();
    }
  };
  if (!walks.has(format)) walks.set(format, read());
  return walks.get(format) as Promise<Walk & { largestRead: number; size: number }>;
}

async function withFile<T>(file: string, use: (source: FileByteSource) => Promise<T>): Promise<T> {
  const source = await openFileByteSource(file);
  try {
    return await use(source);
  } finally {
    await source.close();
  }
}

for (const format of ['vcard', 'csv'] as const) {
  describe(`a generated ${RECORDS.toLocaleString('en')}-record ${format} file`, () => {
    it('saves and rejects exactly the expected records, reading in bounded pieces', async () => {
      const expected = files[format];
      assert.equal(expected.rejected, 200, 'the generator writes 1% malformed records');
      assert.equal(expected.duplicates, 20);
      const { records, rejected, cursors, largestRead, size } = await walkFile(format);
      assert.equal(records.length, expected.saved, 'distinct contacts saved');
      assert.equal(rejected.length, expected.rejected);
      assert.deepEqual(rejected.map((reject) => reject.position), expected.rejectedPositions);
      assert.deepEqual([...new Set(rejected.map((reject) => reject.reason))].sort(), ['no_identity', 'unparseable'], 'both reasons occur');
      assert.equal(cursors.length, RECORDS / BATCH);
      for (const reject of rejected) assert.ok(Buffer.byteLength(reject.excerpt) <= EXCERPT_MAX_BYTES, reject.position);
      assert.ok(size > 2 * 1024 * 1024, `the file is large enough to matter (${size} bytes)`);
      assert.ok(largestRead <= 1024 * 1024, `no read asks for more than 1 MiB (largest: ${largestRead})`);
    });

    it('keeps no photo data and normalises every record', async () => {
      const { records } = await walkFile(format);
      assert.doesNotMatch(JSON.stringify(records), new RegExp(GENERATED_PHOTO_MARKER));
      for (const record of records) {
        assert.match(record.email ?? '', /^person\.\d+@example\d?\.com$/, record.externalId);
        assert.notEqual(record.displayName, null, record.externalId);
      }
    });

    it('resumes after a crash from a cursor read back from JSON, reading nothing twice', async () => {
      const expected = files[format];
      await withFile(expected.path, async (source) => {
        const read = readers[format];
        const saved = new Map<string, string>();
        const positions: string[] = [];
        let consumed = 0;
        let cursor: FileCursor | null = START_CURSOR;
        for (let batch = 0; cursor; batch++) {
          const result: FileBatch = await read(source, cursor, BATCH);
          consumed += result.records.length + result.rejected.length + result.duplicates;
          for (const record of result.records) saved.set(record.externalId, record.etag);
          positions.push(...result.rejected.map((reject) => reject.position));
          // The worker dies after the 7th batch; the next attempt has only the JSON it checkpointed.
          cursor = batch === 6 && result.nextCursor ? parsers[format](JSON.parse(JSON.stringify(result.nextCursor))) : result.nextCursor;
        }
        assert.equal(consumed, RECORDS, 'every record read once');
        assert.equal(saved.size, expected.saved);
        assert.deepEqual(positions, expected.rejectedPositions);
      });
    });
  });
}
