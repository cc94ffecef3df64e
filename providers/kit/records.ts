/**
 * Helpers every source uses around the records it produces: quarantining one that cannot be
 * saved ({@link rejectRecord}), and keeping the last of several records that share an id
 * ({@link dedupeKeepLast}), which one upsert statement needs (PostgreSQL refuses to update the same
 * row twice in one `INSERT … ON CONFLICT`).
 */
import type { RejectReason, RejectedRecord } from '../../db/types';

/** An excerpt of a rejected record is at most this many bytes of UTF-8. */
export const EXCERPT_MAX_BYTES = 2048;

/**
 * At most {@link EXCERPT_MAX_BYTES} of UTF-8 from the start of `text`, cut at a character boundary,
 * NUL-free (a database `text` column refuses NUL).
 */
export function excerptOf(text: string): string {
  const clean = text.replaceAll('\u0000', '');
  if (Buffer.byteLength(clean) <= EXCERPT_MAX_BYTES) return clean;
  const bytes = Buffer.from(clean);
  // The byte at the cut is a continuation byte (10xxxxxx) when the cut splits a character: back up
  // to that character's first byte and leave the whole character out.
  let end = EXCERPT_MAX_BYTES;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** A {@link RejectedRecord} with its excerpt bounded. */
export function rejectRecord(position: string, reason: RejectReason, message: string, text: string): RejectedRecord {
  return { position, reason, message, excerpt: excerptOf(text) };
}

/**
 * Keeps the last record of each `externalId`, at the position of that last occurrence, and says how
 * many earlier ones it dropped. Records of one import that repeat an id keep the last one.
 */
export function dedupeKeepLast<T extends { externalId: string }>(records: readonly T[]): { records: T[]; duplicates: number } {
  const lastIndex = new Map<string, number>();
  records.forEach((record, index) => lastIndex.set(record.externalId, index));
  if (lastIndex.size === records.length) return { records: [...records], duplicates: 0 };
  const kept = records.filter((record, index) => lastIndex.get(record.externalId) === index);
  return { records: kept, duplicates: records.length - kept.length };
}
