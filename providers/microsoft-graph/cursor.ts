/**
 * The Microsoft Graph source's cursor and sync token: where an import stands among the mailbox's
 * folders, and where the next import starts reading each of them. Both hold folder ids and links
 * below the base URL (`/v1.0/…`), never a host: a stored value cannot send the token elsewhere.
 *
 * Both travel in workflow history (a batch's input and result, every heartbeat), so each is at most
 * {@link MAX_ENCODED_BYTES}: a cursor or token that would be larger is refused.
 *
 * Cursor (a few hundred bytes per folder):
 *
 * ```json
 * {"v":1,"folders":["contacts","AAMkAD…"],"at":1,"next":"/v1.0/me/contactFolders/AAMkAD…/contacts/delta?$skiptoken=…","pages":3,
 *  "links":{"contacts":"/v1.0/me/contactFolders/contacts/contacts/delta?$deltatoken=…"}}
 * ```
 *
 * - `folders`: every folder this import reads, in order, found on its first page;
 * - `at`: the folder being read; `next`: its `@odata.nextLink`, `null` at the folder's start;
 * - `pages`: how many pages of that folder were read so far, a start again after an expired next
 *   link included (`0` when the field is missing: a cursor written without it);
 * - `links`: the final `@odata.deltaLink` of each folder read to its end so far.
 *
 * Sync token (`{"v":1,"links":{…}}`): every folder's final delta link, handed back on the import's
 * last page, so it is kept only once every page before it is committed.
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure, jsonOrUndefined } from '../kit/failures';
import { API_NAME, GRAPH_VERSION, MAX_LINK_CHARS } from './client';
import { MAX_FOLDERS, MAX_FOLDER_ID_CHARS } from './folders';

/**
 * The most bytes (UTF-8) of an encoded cursor, and of an encoded sync token. A mailbox of
 * {@link MAX_FOLDERS} folders with ids and delta links of the length Graph gives them (about 150 and
 * 500 characters) comes to about 75 KB; the bound keeps a batch's payloads far below Temporal's
 * 2 MB limit, whatever lengths a server sends within {@link MAX_FOLDER_ID_CHARS} and {@link MAX_LINK_CHARS}.
 */
export const MAX_ENCODED_BYTES = 128 * 1024;
const MAX_ENCODED_KIB = MAX_ENCODED_BYTES / 1024;

const tooLarge = (text: string) => Buffer.byteLength(text) > MAX_ENCODED_BYTES;

/** `text`, unless it is past {@link MAX_ENCODED_BYTES}: then Graph's ids and links are longer than an import carries. */
function bounded(text: string, what: string): string {
  if (!tooLarge(text)) return text;
  throw failure(
    FAILURE_TYPES.providerBadResponse,
    `${API_NAME}'s folder ids and links make ${what} of more than ${MAX_ENCODED_KIB} KiB, more than an import carries from page to page.`,
    { nonRetryable: true },
  );
}

const FolderId = z.string().min(1).max(MAX_FOLDER_ID_CHARS);
const Ref = z.string().max(MAX_LINK_CHARS).startsWith(`${GRAPH_VERSION}/`);
/** Folder id → the final delta link of its last read. */
const Links = z.record(FolderId, Ref).refine((links) => Object.keys(links).length <= MAX_FOLDERS, { message: `more than ${MAX_FOLDERS} folders` });

const cursorSchema = z
  .object({
    v: z.literal(1),
    folders: z.array(FolderId).min(1).max(MAX_FOLDERS),
    at: z.number().int().nonnegative(),
    next: Ref.nullable(),
    pages: z.number().int().nonnegative().default(0),
    links: Links,
  })
  .refine((cursor) => cursor.at < cursor.folders.length, { message: 'at is past the last folder' });

const syncTokenSchema = z.object({ v: z.literal(1), links: Links });

/** A decoded cursor; see the module comment for each field. */
export type GraphCursor = Omit<z.infer<typeof cursorSchema>, 'v'>;
/** Folder id → the final delta link of its last read. */
export type DeltaLinks = Record<string, string>;

/** The cursor as text; throws a non-retryable `ProviderBadResponse` past {@link MAX_ENCODED_BYTES}. */
export function encodeCursor({ folders, at, next, pages, links }: GraphCursor): string {
  return bounded(JSON.stringify({ v: 1, folders, at, next, pages, links }), 'a cursor');
}

/**
 * Reads a cursor this source issued. Throws a non-retryable `InvalidImportInput` for anything else:
 * a cursor from another provider, or one edited by hand.
 */
export function decodeCursor(text: string): GraphCursor {
  const parsed = tooLarge(text) ? null : cursorSchema.safeParse(jsonOrUndefined(text));
  if (!parsed?.success) {
    const why = parsed === null ? `more than ${MAX_ENCODED_KIB} KiB` : (parsed.error.issues[0]?.message ?? 'not JSON');
    throw failure(FAILURE_TYPES.invalidImportInput, `The import's cursor is not one the ${API_NAME} source issued (${why}); start a new import.`, {
      nonRetryable: true,
    });
  }
  const { v: _version, ...cursor } = parsed.data;
  return cursor;
}

/** The sync token of `links`; throws a non-retryable `ProviderBadResponse` past {@link MAX_ENCODED_BYTES}. */
export function encodeSyncToken(links: DeltaLinks): string {
  return bounded(JSON.stringify({ v: 1, links }), 'a sync token');
}

/** The delta links of a sync token this source issued; `null` for anything else, a token past {@link MAX_ENCODED_BYTES} included (read it as expired). */
export function decodeSyncToken(text: string): DeltaLinks | null {
  if (tooLarge(text)) return null;
  const parsed = syncTokenSchema.safeParse(jsonOrUndefined(text));
  return parsed.success ? parsed.data.links : null;
}
