/**
 * The Microsoft Graph source's cursor and sync token: where an import stands among the mailbox's
 * folders, and where the next import starts reading each of them. Both hold folder ids and links
 * below the base URL (`/v1.0/…`), never a host: a stored value cannot send the token elsewhere.
 *
 * Cursor (kept in workflow history, a few hundred bytes per folder):
 *
 * ```json
 * {"v":1,"folders":["contacts","AAMkAD…"],"at":1,"next":"/v1.0/me/contactFolders/AAMkAD…/contacts/delta?$skiptoken=…",
 *  "links":{"contacts":"/v1.0/me/contactFolders/contacts/contacts/delta?$deltatoken=…"}}
 * ```
 *
 * - `folders`: every folder this import reads, in order, found on its first page;
 * - `at`: the folder being read; `next`: its `@odata.nextLink`, `null` at the folder's start;
 * - `links`: the final `@odata.deltaLink` of each folder read to its end so far.
 *
 * Sync token (`{"v":1,"links":{…}}`): every folder's final delta link, handed back on the import's
 * last page, so it is kept only once every page before it is committed.
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure, jsonOrUndefined } from '../kit/failures';
import { GRAPH_VERSION, MAX_LINK_CHARS } from './client';
import { MAX_FOLDERS, MAX_FOLDER_ID_CHARS } from './folders';

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
    links: Links,
  })
  .refine((cursor) => cursor.at < cursor.folders.length, { message: 'at is past the last folder' });

const syncTokenSchema = z.object({ v: z.literal(1), links: Links });

/** A decoded cursor; see the module comment for each field. */
export type GraphCursor = Omit<z.infer<typeof cursorSchema>, 'v'>;
/** Folder id → the final delta link of its last read. */
export type DeltaLinks = Record<string, string>;

export function encodeCursor({ folders, at, next, links }: GraphCursor): string {
  return JSON.stringify({ v: 1, folders, at, next, links });
}

/**
 * Reads a cursor this source issued. Throws a non-retryable `InvalidImportInput` for anything else:
 * a cursor from another provider, or one edited by hand.
 */
export function decodeCursor(text: string): GraphCursor {
  const parsed = cursorSchema.safeParse(jsonOrUndefined(text));
  if (!parsed.success) {
    throw failure(
      FAILURE_TYPES.invalidImportInput,
      `The import's cursor is not one the Microsoft Graph source issued (${parsed.error.issues[0]?.message ?? 'not JSON'}); start a new import.`,
      { nonRetryable: true },
    );
  }
  const { v: _version, ...cursor } = parsed.data;
  return cursor;
}

export function encodeSyncToken(links: DeltaLinks): string {
  return JSON.stringify({ v: 1, links });
}

/** The delta links of a sync token this source issued; `null` for anything else (read it as expired). */
export function decodeSyncToken(text: string): DeltaLinks | null {
  const parsed = syncTokenSchema.safeParse(jsonOrUndefined(text));
  return parsed.success ? parsed.data.links : null;
}
