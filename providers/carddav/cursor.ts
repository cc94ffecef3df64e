/**
 * The CardDAV source's cursor: where an import stands, small enough for workflow history (about
 * 200 bytes with Radicale's 93-character sync tokens), never the listing itself.
 *
 * ```json
 * {"v":1,"book":"https://dav.example.com/alice/contacts/","phase":"full","via":"sync",
 *  "after":"card-01000.vcf","token":"http://radicale.org/ns/sync/5228…"}
 * ```
 *
 * - `book`: the address book discovery found, so later pages (and retries on other workers) skip
 *   discovery and never drift to another address book.
 * - `phase`: `full` reads every card; `delta` then reads the cards changed since `token`.
 * - `via`: how the full phase lists (`sync` = `sync-collection`, `propfind`).
 * - `after`: the last href done, in sorted href order, relative to the address book's path (`''`
 *   before the first). A page re-lists and continues with the hrefs sorting after it, so a card is
 *   read once however often a page is retried.
 * - `token`: the sync token of the import's first listing; the delta phase asks what changed since.
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure, jsonOrUndefined } from '../kit/failures';

const MAX_FIELD = 2048;

const cursorSchema = z.object({
  v: z.literal(1),
  book: z.url({ protocol: /^https?$/ }).max(MAX_FIELD),
  phase: z.enum(['full', 'delta']),
  via: z.enum(['sync', 'propfind']),
  after: z.string().max(MAX_FIELD),
  token: z.string().min(1).max(MAX_FIELD).optional(),
});

/** A decoded cursor; see the module comment for each field. */
export type CarddavCursor = Omit<z.infer<typeof cursorSchema>, 'v'>;

/** The cursor as the compact JSON string a page hands back. */
export function encodeCursor(cursor: CarddavCursor): string {
  const { book, phase, via, after, token } = cursor;
  return JSON.stringify(token === undefined ? { v: 1, book, phase, via, after } : { v: 1, book, phase, via, after, token });
}

/**
 * Reads a cursor this source issued. Throws a non-retryable `InvalidImportInput` for anything
 * else: a cursor from another provider, or one edited by hand.
 */
export function decodeCursor(text: string): CarddavCursor {
  const parsed = cursorSchema.safeParse(jsonOrUndefined(text));
  if (!parsed.success) {
    throw failure(
      FAILURE_TYPES.invalidImportInput,
      `The import's cursor is not one the CardDAV source issued (${parsed.error.issues[0]?.message ?? 'not JSON'}); start a new import.`,
      { nonRetryable: true },
    );
  }
  const { v: _version, ...cursor } = parsed.data;
  return cursor;
}

/** `href` as the cursor keeps it: relative to the address book's path when it lies below it. */
export function relativeHref(href: string, bookPath: string): string {
  return href.startsWith(bookPath) ? href.slice(bookPath.length) : href;
}

/** The href a cursor's `after` names (the inverse of {@link relativeHref}). */
export function absoluteHref(after: string, bookPath: string): string {
  return after === '' || after.startsWith('/') || after.includes('://') ? after : `${bookPath}${after}`;
}
