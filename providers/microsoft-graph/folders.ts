/**
 * A mailbox's contact folders: the default Contacts folder, the folders in it (`/me/contactFolders`)
 * and their child folders (`/contactFolders/{id}/childFolders`), however deep. The listings of one
 * level are asked for at once; the mailbox's request bound (`mailbox-limit.ts`) spaces them.
 *
 * Bounded against a server that lists without end: at most {@link MAX_FOLDERS} folders (their ids
 * travel in the import's cursor), and at most {@link MAX_LISTING_PAGES} pages per listing.
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import { API_NAME, GRAPH_VERSION, type GraphClient } from './client';

/**
 * The default Contacts folder, by its well-known name: the folder `/me/contacts` reads, and the
 * parent of those `/me/contactFolders` lists.
 */
export const DEFAULT_FOLDER = 'contacts';
/** The most folders an import reads; a mailbox with more is refused, saying so. */
export const MAX_FOLDERS = 100;
/** The most pages one folder listing may take (at 100 folders a page, more than {@link MAX_FOLDERS}). */
export const MAX_LISTING_PAGES = 10;
/** Longest folder id kept: Graph's are under 200 characters. */
export const MAX_FOLDER_ID_CHARS = 1024;

const FolderId = z.string().min(1).max(MAX_FOLDER_ID_CHARS);

const listingSchema = z.object({
  value: z.array(z.looseObject({ id: FolderId })),
  '@odata.nextLink': z.string().optional(),
});

/** The path of folder `id`: its contacts, child folders and so on are below it. */
export function folderPath(id: string): string {
  return `${GRAPH_VERSION}/me/contactFolders/${encodeURIComponent(id)}`;
}

/** A listing's page that is not the documented shape, or a link that leads away from Graph: retrying will not change it. */
function badListing(what: string): Error {
  return failure(FAILURE_TYPES.providerBadResponse, `${API_NAME} answered a contact folder listing with ${what}.`, { nonRetryable: true });
}

/** The ids one listing (`ref`) names, every page of it; `null` when the folder listed does not exist (any more). */
async function listIds(client: GraphClient, ref: string, signal: AbortSignal): Promise<string[] | null> {
  const ids: string[] = [];
  let next: string | null = ref;
  for (let page = 0; next !== null; page++) {
    if (page === MAX_LISTING_PAGES) throw badListing(`more than ${MAX_LISTING_PAGES} pages`);
    const result = await client.get(next, signal);
    if (!result.ok) {
      if (result.problem === 'not_found') return null;
      throw badListing(`an expired-state answer ${result.message}`);
    }
    const parsed = listingSchema.safeParse(result.body);
    if (!parsed.success) throw badListing(`a page that is not the documented shape (${parsed.error.issues[0]?.path.join('.') || '(root)'})`);
    ids.push(...parsed.data.value.map((folder) => folder.id));
    const link = parsed.data['@odata.nextLink'];
    next = link === undefined ? null : client.refOf(link);
    if (link !== undefined && next === null) throw badListing('a next link to somewhere other than Graph');
  }
  return ids;
}

/**
 * Every contact folder of the mailbox, default first, then level by level in the order Graph lists
 * them. A folder deleted while it is listed is left out. Throws a non-retryable
 * `ProviderInvalidRequest` when Graph has no contact folders for the account at all (no Exchange
 * Online mailbox) or more than {@link MAX_FOLDERS}.
 */
export async function listContactFolders(client: GraphClient, signal: AbortSignal): Promise<string[]> {
  const found = [DEFAULT_FOLDER];
  const seen = new Set(found);
  const top = await listIds(client, `${GRAPH_VERSION}/me/contactFolders?$select=id&$top=100`, signal);
  if (top === null) {
    throw failure(FAILURE_TYPES.providerInvalidRequest, `${API_NAME} has no contact folders for this account (404): it may have no mailbox.`, {
      nonRetryable: true,
    });
  }
  let level = top;
  while (level.length > 0) {
    const fresh = level.filter((id) => !seen.has(id));
    for (const id of fresh) seen.add(id);
    found.push(...fresh);
    if (found.length > MAX_FOLDERS) {
      throw failure(FAILURE_TYPES.providerInvalidRequest, `The mailbox has more than ${MAX_FOLDERS} contact folders; an import reads at most ${MAX_FOLDERS}.`, {
        nonRetryable: true,
      });
    }
    const children = await Promise.all(fresh.map((id) => listIds(client, `${folderPath(id)}/childFolders?$select=id&$top=100`, signal)));
    level = children.flatMap((ids) => ids ?? []);
  }
  return found;
}
