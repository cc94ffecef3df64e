/**
 * What a file reader hands back for one batch, and the bookkeeping every reader shares: counting
 * records against the batch's limit, deduplicating ids, and saying where the next batch starts.
 */
import type { NormalizedContact, NormalizeOptions } from '../kit/normalize';
import { dedupeKeepLast } from '../kit/records';
import type { RejectedRecord } from '../types';
import type { FileCursor } from './byte-source';

/** Options every file reader takes: the normalisation's (the default phone region). */
export type FileReadOptions = NormalizeOptions;

/** One batch of a file. */
export interface FileBatch<Cursor extends FileCursor = FileCursor> {
  /** Contacts to upsert, one per `externalId`: of a batch's records sharing an id, the last. */
  records: NormalizedContact[];
  /** Records set aside, in file order. */
  rejected: RejectedRecord[];
  /** How many records were dropped from `records` because a later one in the batch had the same id. */
  duplicates: number;
  /** Where the next batch starts; `null` when the file has been read to its end. */
  nextCursor: Cursor | null;
}

/** Throws a `RangeError` unless `maxRecords` is a positive integer. */
export function checkMaxRecords(maxRecords: number): void {
  if (!Number.isInteger(maxRecords) || maxRecords < 1) {
    throw new RangeError(`maxRecords must be a positive integer (got ${maxRecords})`);
  }
}

/** Collects a batch's records and rejects, then finishes it. */
export class BatchCollector {
  readonly records: NormalizedContact[] = [];
  readonly rejected: RejectedRecord[] = [];

  /** Records and rejects so far, to compare with `maxRecords`. */
  get count(): number {
    return this.records.length + this.rejected.length;
  }

  /** Deduplicates and sets `nextCursor` to `null` at the end of the file. */
  finish<Cursor extends FileCursor>(cursor: Cursor, size: number, ended: boolean): FileBatch<Cursor> {
    const { records, duplicates } = dedupeKeepLast(this.records);
    const nextCursor = ended || cursor.byteOffset >= size ? null : cursor;
    return { records, rejected: this.rejected, duplicates, nextCursor };
  }
}
