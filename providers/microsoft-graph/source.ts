/**
 * The Microsoft Graph {@link ContactSource}: every contact folder of the mailbox (`folders.ts`), one
 * after the other, each read with the contact delta query, a page per request.
 *
 * - The first page lists the folders; the cursor (`cursor.ts`) then names the folder being read and
 *   its `@odata.nextLink`. A folder's last page brings its `@odata.deltaLink`, which the cursor
 *   keeps until the import's last page hands every folder's link back as the sync token.
 * - A full read starts each folder with `/contactFolders/{id}/contacts/delta?$select=…`; an
 *   incremental one (`sync: {since}`) follows the folder's stored delta link instead, and a folder
 *   new since then is read from its start. `@removed` entries are the contacts deleted from (or
 *   moved out of) a folder: `deleted`.
 * - The store sweeps per user and provider, not per folder: a sweep after reading one folder would
 *   tombstone every other folder's contacts, which an incremental read neither writes nor marks.
 *   So whatever an incremental read cannot account for (a delta link expired, `410` or
 *   `SyncStateNotFound`, a folder with a stored link gone) is a {@link SyncTokenExpiredError}:
 *   the import reads every folder from its start instead, and its sweep removes what is gone, the
 *   contacts of vanished folders included.
 * - In a full read, a folder deleted while it is read is passed over (its contacts are then not
 *   seen, so the sweep removes them), and a next link that expired starts its folder again.
 *
 * A contact's `externalId` is its Graph `id`, which is unique in a mailbox: a contact in two folders
 * is two items with two ids, and a move gives the contact a new id (we never ask for immutable ids,
 * with which a moved contact would keep its id and could be tombstoned by its old folder's
 * `@removed` after its new folder saved it).
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import { contentHash, type PhoneRegion } from '../kit/normalize';
import { dedupeKeepLast } from '../kit/records';
import { SyncTokenExpiredError, type ContactSource, type PageRequest, type SourcePage } from '../types';
import { API_NAME, GraphClient, type GraphClientOptions } from './client';
import { CONTACT_FIELDS, readEntries } from './contact';
import { decodeCursor, decodeSyncToken, encodeCursor, encodeSyncToken, type DeltaLinks, type GraphCursor } from './cursor';
import { folderPath, listContactFolders } from './folders';

/** The largest page an import asks for (`Prefer: odata.maxpagesize`); Graph may send fewer. */
export const MAX_PAGE_SIZE = 1000;
const SELECT = CONTACT_FIELDS.join(',');

const deltaPageSchema = z.object({
  value: z.array(z.unknown()),
  '@odata.nextLink': z.string().optional(),
  '@odata.deltaLink': z.string().optional(),
});

export interface GraphSourceOptions extends GraphClientOptions {
  /** Region for phone numbers without a country code. */
  defaultRegion: PhoneRegion;
}

/** The first request of a folder's full read: its contacts' delta, with the fields we store. */
function initialDeltaRef(folder: string): string {
  return `${folderPath(folder)}/contacts/delta?$select=${SELECT}`;
}

/** A page that is not the documented shape: retryable, as a cut-off body or a proxy's page is. */
function badPage(what: string, nonRetryable = false): Error {
  return failure(FAILURE_TYPES.providerBadResponse, `${API_NAME} answered a contact delta request with ${what}.`, { nonRetryable });
}

class MicrosoftGraphSource implements ContactSource {
  /** Delta links are valid with the `$select` they were made with: other fields mean a full read. */
  readonly syncParams = `microsoft-graph;$select=${SELECT}`;
  readonly #client: GraphClient;
  readonly #defaultRegion: PhoneRegion;

  constructor(options: GraphSourceOptions) {
    this.#client = new GraphClient(options);
    this.#defaultRegion = options.defaultRegion;
  }

  async fetchPage({ cursor, pageSize, signal, sync }: PageRequest): Promise<SourcePage> {
    let stored: DeltaLinks | undefined;
    if (sync !== undefined && 'since' in sync) {
      stored = decodeSyncToken(sync.since) ?? undefined;
      if (stored === undefined) throw new SyncTokenExpiredError(`The stored ${API_NAME} sync token is not one this source reads: reading everything instead.`);
    }
    const state = cursor === null ? await this.#start(signal, stored) : decodeCursor(cursor);
    return this.#read(state, Math.min(pageSize, MAX_PAGE_SIZE), signal, stored, sync !== undefined);
  }

  /** The cursor of an import's first page: every folder, the first one about to be read. */
  async #start(signal: AbortSignal, stored: DeltaLinks | undefined): Promise<GraphCursor> {
    const folders = await listContactFolders(this.#client, signal);
    const gone = Object.keys(stored ?? {}).filter((folder) => !folders.includes(folder));
    if (gone.length > 0) {
      throw new SyncTokenExpiredError(`${gone.length} contact folder(s) read last time no longer exist: reading everything, so their contacts are swept.`);
    }
    return { folders, at: 0, next: null, links: {} };
  }

  async #read(state: GraphCursor, pageSize: number, signal: AbortSignal, stored: DeltaLinks | undefined, withToken: boolean): Promise<SourcePage> {
    const folder = state.folders[state.at] as string;
    const since = stored?.[folder];
    const ref = state.next ?? since ?? initialDeltaRef(folder);
    const result = await this.#client.get(ref, signal, pageSize);
    if (!result.ok) {
      if (since !== undefined) throw new SyncTokenExpiredError(`${API_NAME} can no longer list a folder's changes ${result.message}: reading everything instead.`);
      if (result.problem === 'not_found') return this.#page(state, { contacts: [], rejected: [], removed: [] }, null, withToken);
      if (state.next === null) throw badPage(`an expired-state answer to a folder's first request ${result.message}`, true);
      return this.#read({ ...state, next: null }, pageSize, signal, stored, withToken);
    }
    const parsed = deltaPageSchema.safeParse(result.body);
    if (!parsed.success) throw badPage(`a page that is not the documented shape (${parsed.error.issues[0]?.path.join('.') || '(root)'})`);
    const { value, '@odata.nextLink': nextLink, '@odata.deltaLink': deltaLink } = parsed.data;
    if ((nextLink === undefined) === (deltaLink === undefined)) throw badPage('a page with neither or both of @odata.nextLink and @odata.deltaLink');
    const link = this.#client.refOf((nextLink ?? deltaLink) as string);
    if (link === null) throw badPage('a link to somewhere other than Graph', true);
    const entries = readEntries(value, `folder ${state.at + 1} page ${contentHash(ref).slice(0, 12)}`, this.#defaultRegion);
    return this.#page(state, entries, nextLink === undefined ? { delta: link } : { next: link }, withToken);
  }

  /** The page of `entries` read at `state`, with the cursor after it; `step` null: the folder is passed over. */
  #page(
    state: GraphCursor,
    entries: ReturnType<typeof readEntries>,
    step: { next: string } | { delta: string } | null,
    withToken: boolean,
  ): SourcePage {
    let after: GraphCursor | null;
    let links = state.links;
    if (step !== null && 'next' in step) {
      after = { ...state, next: step.next };
    } else {
      const folder = state.folders[state.at] as string;
      if (step !== null) links = { ...links, [folder]: step.delta };
      after = state.at + 1 < state.folders.length ? { ...state, at: state.at + 1, next: null, links } : null;
    }
    return {
      // A server that repeats a contact on one page: the last one stands (one upsert per row).
      contacts: dedupeKeepLast(entries.contacts).records,
      rejected: entries.rejected,
      nextCursor: after === null ? null : encodeCursor(after),
      total: null,
      ...(entries.removed.length > 0 ? { deleted: entries.removed } : {}),
      ...(after === null && withToken ? { syncToken: encodeSyncToken(links) } : {}),
    };
  }
}

/** The source of one mailbox, reading with `options` (its base URL, tokens and request bound). */
export function createMicrosoftGraphSource(options: GraphSourceOptions): ContactSource {
  return new MicrosoftGraphSource(options);
}
