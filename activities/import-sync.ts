/**
 * Sync modes inside the batch activity: which mode an import runs in, what it asks its source for,
 * and what each saved page leaves behind besides contacts (tombstones, marks, the sweep, the next
 * sync token). All of it happens in the activity, so the workflow gains no command; and all of it is
 * idempotent, because a page may be done twice (a retry resumes from the last heartbeat).
 *
 * - The first batch resolves the requested mode into the checkpoint: `incremental` when the store
 *   has a token made with the source's current request parameters (and `auto` or `incremental` was
 *   asked for), else `full`.
 * - A full listing of a user who already has contacts of that provider sweeps at its end: whatever
 *   it neither wrote nor saw is tombstoned. Only such a listing marks what it saw, so a first import
 *   into an empty store does no extra write.
 * - A token the provider refuses (expired) turns the import into a full one with a sweep, from the
 *   page that failed on: that page is replaced by the first page of the full listing.
 */
import type { ContactStore, PageDeletions, Store } from '../db/types';
import type { ImportCheckpoint } from '../workflows/checkpoint';
import type { ImportBatchInput } from '../workflows/contract';
import { providerById } from '../providers';
import { SyncTokenExpiredError, type ContactSource, type PageRequest, type SourcePage, type SyncRequest } from '../providers/types';

/** A fetched page, and whether fetching it turned the import from incremental into full. */
export interface FetchedPage {
  page: SourcePage;
  /** Set when the token was refused: the import goes on as a full read sweeping from `sweepAt` (`fallBackToFullRead`). */
  fellBack?: { sweepAt: number };
}

/** The checkpoint with its mode resolved, at the first batch of an import; later ones carry it on. */
export async function resolveSyncMode(
  store: Store,
  input: ImportBatchInput,
  checkpoint: ImportCheckpoint,
  source: ContactSource,
): Promise<ImportCheckpoint> {
  if (checkpoint.mode !== undefined) return checkpoint;
  const contacts = store.tenant(input.tenant);
  const requested = input.mode;
  if ((requested === 'auto' || requested === 'incremental') && source.syncParams !== undefined) {
    const state = await store.syncState.get(input.tenant, input.userId, input.provider);
    // A token is valid only with the request it was made with: anything else reads everything.
    if (state !== null && state.params === source.syncParams) return { ...checkpoint, mode: 'incremental', syncToken: state.token };
  }
  // Some sources (a file) are a full listing of themselves only when asked to be: `auto` adds to earlier imports.
  const sweeps = providerById(input.provider).capabilities.fullReadSweeps === 'always' || requested === 'full';
  if (!sweeps || (await contacts.countContacts(input.userId, input.provider)) === 0) return { ...checkpoint, mode: 'full' };
  return { ...checkpoint, mode: 'full', sweepAt: await contacts.currentChangeSeq(input.userId) };
}

/** What to ask the source for on every page of this import (nothing for sources without tokens). */
export function syncRequest(checkpoint: ImportCheckpoint, source: ContactSource): SyncRequest | undefined {
  if (source.syncParams === undefined) return undefined;
  if (checkpoint.mode === 'incremental' && checkpoint.syncToken !== undefined) return { since: checkpoint.syncToken };
  return { requestToken: true };
}

/**
 * Fetches the page at `cursor`; when the source refuses the sync token, fetches the first page of a
 * full listing instead and says so (`fellBack`), with the sweep that listing ends with.
 */
export async function fetchSyncedPage(
  contacts: ContactStore,
  input: ImportBatchInput,
  checkpoint: ImportCheckpoint,
  source: ContactSource,
  request: Omit<PageRequest, 'sync'>,
): Promise<FetchedPage> {
  const sync = syncRequest(checkpoint, source);
  try {
    return { page: await source.fetchPage(sync === undefined ? request : { ...request, sync }) };
  } catch (err) {
    if (!(err instanceof SyncTokenExpiredError) || sync === undefined || !('since' in sync)) throw err;
    // Everything the listing neither writes nor sees goes at its end; the user has contacts (a
    // token was stored), so the sweep is worth its marks.
    const sweepAt = await contacts.currentChangeSeq(input.userId);
    const page = await source.fetchPage({ ...request, cursor: null, sync: { requestToken: true } });
    return { page, fellBack: { sweepAt } };
  }
}

/**
 * The page's bookkeeping besides its contacts. The marks of a sweeping listing are written here,
 * before the page's save (they count nothing, and a retried page writes them again); the deletions
 * the source reported and, on the last page, the sweep are returned for the save to do in the
 * page's own transaction, so the checkpoint counts exactly what that transaction tombstoned.
 */
export async function settleSyncedPage(
  store: Store,
  input: ImportBatchInput,
  checkpoint: ImportCheckpoint,
  page: SourcePage,
  mark: string,
): Promise<PageDeletions> {
  const contacts = store.tenant(input.tenant);
  const deletions: PageDeletions = page.deleted?.length ? { externalIds: page.deleted } : {};
  if (checkpoint.sweepAt === undefined) return deletions;
  // Rejects by id count as seen too: a record the provider still has is not deleted for being unreadable.
  const seen = [...page.contacts.map((contact) => contact.externalId), ...(page.rejected ?? []).map((reject) => reject.position)];
  await contacts.markSeen(input.userId, input.provider, seen, mark);
  return page.nextCursor === null ? { ...deletions, sweep: { mark, upTo: checkpoint.sweepAt } } : deletions;
}

/**
 * Keeps the sync token the last page of a listing brought, for the next import. Called only once
 * that page is committed: a token stored first would, if the save then failed for good, claim
 * changes that were never written, and every later incremental import would skip them. Stored
 * after, a crash between the two loses only the token, and the next import reads again.
 */
export async function keepSyncToken(store: Store, input: ImportBatchInput, page: SourcePage, source: ContactSource): Promise<void> {
  if (page.nextCursor !== null || source.syncParams === undefined || page.syncToken === undefined) return;
  await store.syncState.save(input.tenant, input.userId, input.provider, { token: page.syncToken, params: source.syncParams });
}
