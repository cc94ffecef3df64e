/**
 * Helpers for the file-format tests: read a whole file batch by batch as an import would, and
 * byte sources that hand out their bytes in awkward pieces.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NormalizedContact } from '../../providers/kit/normalize';
import { START_CURSOR, bufferByteSource, type ByteSource, type FileBatch, type FileCursor } from '../../providers/formats';
import { dedupeKeepLast } from '../../providers/kit/records';
import type { RejectedRecord } from '../../providers/types';

/** Reads one batch of some format with fixed options. */
export type BatchReader = (source: ByteSource, cursor: FileCursor, maxRecords: number) => Promise<FileBatch>;

/** Everything a walk through a file gave. */
export interface Walk {
  /** What the store holds afterwards: the last record of each id, as consecutive upserts leave it. */
  records: NormalizedContact[];
  rejected: RejectedRecord[];
  /** The cursor each batch started from. */
  cursors: FileCursor[];
  /** Records returned before deduplication across batches. */
  returned: number;
}

/** Reads `source` from `from` to its end in batches of `batchSize`. */
export async function walk(read: BatchReader, source: ByteSource, batchSize: number, from: FileCursor = START_CURSOR): Promise<Walk> {
  const all: NormalizedContact[] = [];
  const rejected: RejectedRecord[] = [];
  const cursors: FileCursor[] = [];
  let cursor: FileCursor | null = from;
  while (cursor) {
    cursors.push(cursor);
    const batch: FileBatch = await read(source, cursor, batchSize);
    all.push(...batch.records);
    rejected.push(...batch.rejected);
    cursor = batch.nextCursor;
    if (cursors.length > 1_000_000) throw new Error('the reader never reached the end of the file');
  }
  return { records: dedupeKeepLast(all).records, rejected, cursors, returned: all.length };
}

const FIXTURES = path.resolve(__dirname, '../fixtures/contacts');

/** A fixture under `test/fixtures/contacts/`, in memory. */
export function fixture(name: string): ByteSource {
  return bufferByteSource(fs.readFileSync(path.join(FIXTURES, name)));
}

/** The fixture's bytes. */
export function fixtureBytes(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

/** Serves at most `piece` bytes per read, so every boundary a reader handles falls inside a read. */
export function tricklingSource(bytes: Uint8Array, piece: number): ByteSource {
  return { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, Math.min(offset + Math.min(length, piece), bytes.length)) };
}

/** Wraps a source, remembering the largest read asked of it. */
export function measuredSource(source: ByteSource): ByteSource & { largestRead: number } {
  const measured = {
    size: source.size,
    largestRead: 0,
    read: (offset: number, length: number) => {
      measured.largestRead = Math.max(measured.largestRead, length);
      return source.read(offset, length);
    },
  };
  return measured;
}

/** The fields a person sees, for comparing with expected values. */
export function shown(record: NormalizedContact): [string | null, string | null, string | null, string | null, string | null] {
  return [record.displayName, record.email, record.phone, record.phoneE164, record.organization];
}
