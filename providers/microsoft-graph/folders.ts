/**
 * A mailbox's contact folders: the default Contacts folder, the folders in it (`/me/contactFolders`)
 * and their child folders (`/contactFolders/{id}/childFolders`), however deep. The listings of one
 * level are asked for {@link MAILBOX_CONCURRENCY} at a time, as many as Graph serves a mailbox at
 * once: more would only wait on the mailbox's concurrency budget (budgets.ts).
 *
 * Bounded against a server that lists without end: at most {@link MAX_FOLDERS} folders (their ids
 * travel in the import's cursor), counted on every listing page as it comes, and at most
 * {@link MAX_LISTING_PAGES} pages per listing. A folder listed twice is read once.
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import { MAILBOX_CONCURRENCY } from './budgets';
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
/**
 * Longest folder id kept. Graph's Outlook ids are Exchange item and folder ids, which Exchange
 * bounds at 512 characters of base64 (typically about 150).
 */
export const MAX_FOLDER_ID_CHARS = 512;

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

/** The mailbox has more folders than an import reads: no retry changes that. */
function tooManyFolders(): Error {
  return failure(FAILURE_TYPES.providerInvalidRequest, `The mailbox has more than ${MAX_FOLDERS} contact folders; an import reads at most ${MAX_FOLDERS}.`, {
    nonRetryable: true,
  });
}

/**
 * Every folder id the listings of one mailbox have named so far, the default folder's included,
 * counted as each listing page comes: the listings of a level run at once, and one page can name any
 * number of folders.
 */
class FoundFolders {
  readonly #seen = new Set<string>([DEFAULT_FOLDER]);

  /** Throws once more than {@link MAX_FOLDERS} were found, so no listing asks for another page. */
  check(): void {
    if (this.#seen.size > MAX_FOLDERS) throw tooManyFolders();
  }

  /** The ids of `page` named for the first time, in order: a folder listed twice is read once. */
  add(page: ReadonlyArray<{ id: string }>): string[] {
    const fresh: string[] = [];
    for (const { id } of page) {
      if (this.#seen.has(id)) continue;
      this.#seen.add(id);
      this.check();
      fresh.push(id);
    }
    return fresh;
  }
}

/**
 * The ids one listing (`ref`) names for the first time (`found`), every page of it; `null` when the
 * folder listed does not exist (any more).
 */
async function listIds(client: GraphClient, ref: string, found: FoundFolders, signal: AbortSignal): Promise<string[] | null> {
  const ids: string[] = [];
  let next: string | null = ref;
  for (let page = 0; next !== null; page++) {
    if (page === MAX_LISTING_PAGES) throw badListing(`more than ${MAX_LISTING_PAGES} pages`);
    found.check();
    const current: string = next;
    const result = await client.get(current, signal);
    if (!result.ok) {
      if (result.problem === 'not_found') return null;
      throw badListing(`an expired-state answer ${result.message}`);
    }
    const parsed = listingSchema.safeParse(result.body);
    if (!parsed.success) throw badListing(`a page that is not the documented shape (${parsed.error.issues[0]?.path.join('.') || '(root)'})`);
    for (const id of found.add(parsed.data.value)) ids.push(id);
    const link = parsed.data['@odata.nextLink'];
    next = link === undefined ? null : client.refOf(link);
    if (link !== undefined && next === null) throw badListing('a next link to somewhere other than Graph');
    if (next === current) throw badListing('a next link to the page it came with');
  }
  return ids;
}

/**
 * Every contact folder of the mailbox, default first, then level by level in the order Graph lists
 * them, each once. A folder deleted while it is listed is left out. Throws a non-retryable
 * `ProviderInvalidRequest` when Graph has no contact folders for the account at all (no Exchange
 * Online mailbox) or more than {@link MAX_FOLDERS}.
 */
export async function listContactFolders(client: GraphClient, signal: AbortSignal): Promise<string[]> {
  const found = new FoundFolders();
  const top = await listIds(client, `${GRAPH_VERSION}/me/contactFolders?$select=id&$top=100`, found, signal);
  if (top === null) {
    throw failure(FAILURE_TYPES.providerInvalidRequest, `${API_NAME} has no contact folders for this account (404): it may have no mailbox.`, {
      nonRetryable: true,
    });
  }
  const folders = [DEFAULT_FOLDER];
  let level = top;
  while (level.length > 0) {
    for (const id of level) folders.push(id);
    const children: Array<string[] | null> = [];
    for (let start = 0; start < level.length; start += MAILBOX_CONCURRENCY) {
      const slice = level.slice(start, start + MAILBOX_CONCURRENCY);
      children.push(...(await Promise.all(slice.map((id) => listIds(client, `${folderPath(id)}/childFolders?$select=id&$top=100`, found, signal)))));
    }
    level = children.flatMap((ids) => ids ?? []);
  }
  return folders;
}
