/**
 * `importBatch`: fetches up to `maxPages` pages from the import's source and saves each, with the
 * checkpoint it moves the import to, in one transaction. It reads as its steps: {@link resume}
 * (where this attempt continues), {@link open} (credentials, source, sync mode), then for every
 * page {@link fetch} and {@link save}, and {@link finish} (the result, or a failure that says how far
 * the batch got).
 *
 * Page k+1 is asked for while page k is saved (`IMPORT_FETCH_AHEAD=1`, the default in
 * `config/defaults.ts`): on a pooled connection its request is on the wire before the save begins,
 * so the provider's time and the store's overlap; a killed worker then
 * re-fetches up to two pages. With `IMPORT_FETCH_AHEAD=0` it is asked for once page k is committed,
 * and a kill re-fetches at most the page being saved.
 * A page holds one of the worker's connections (`connection-gate.ts`, shared fairly by tenant and
 * import) while it is fetched, and a permit of the page gate (`page-gate.ts`, least attained service)
 * from then until it is saved: a slow provider holds a connection of its tenant's share, never the
 * store. The checkpoint is heartbeated after every saved page. Returns cursors and counts only:
 * contact data never enters workflow history.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { msOptionalToNumber } from '@temporalio/common/lib/time';
import { WORKER_DEFAULTS } from '../config/defaults';
import { SealedTokenError, type TokenSealer } from '../encryption/token-seal';
import type { ContactStore, Store } from '../db/types';
import {
  advance,
  countDeletions,
  fallBackToFullRead,
  isFinished,
  resumeFrom,
  type BatchFailureDetails,
  type BatchHeartbeat,
  type ImportCheckpoint,
} from '../workflows/checkpoint';
import { FAILURE_TYPES, ImportBatchInput, readInput, type ImportBatchResult } from '../workflows/contract';
import type { ContactSource, SourceOpener, SourceSettings } from '../providers';
import { invalidInput } from '../providers/kit/failures';
import { fetchSyncedPage, keepSyncToken, resolveSyncMode, settleSyncedPage, type FetchedPage } from './import-sync';
import { pageMetrics, type PageMetrics } from './metrics';
import type { ConnectionClaim, ConnectionGate } from './connection-gate';
import { permitScope, type PageGate, type PagePermit, type PermitScope } from './page-gate';

export interface ImportBatchDeps {
  store: Store;
  sealer: TokenSealer;
  sources: SourceSettings;
  openSource: SourceOpener;
  keepAliveHeartbeatMs?: number;
  /** The worker's one page gate: how many pages are saved at once in this process, and whose go next. */
  pageGate: PageGate;
  /** The worker's one connection gate: how many pages are fetched at once, shared by tenant and import. */
  connectionGate: ConnectionGate;
  /**
   * Fetch page k+1 while page k is saved (`IMPORT_FETCH_AHEAD=1`, the default), or only once k is
   * committed (0): slower, but a kill re-fetches one page, not two.
   */
  fetchAhead?: boolean;
  /** Told when this worker cannot do a batch for want of its own configuration (see `ActivityDeps`). */
  onMisconfigured?: (problem: string) => void;
}

/** One attempt of a batch, once open: what its steps share, and where it stands. */
interface OpenBatch {
  ctx: Context;
  deps: ImportBatchDeps;
  input: ImportBatchInput;
  contacts: ContactStore;
  source: ContactSource;
  /** The activity's cancellation, or the batch's end: fetches and permit waits stop with it. */
  fetchSignal: AbortSignal;
  /** The batch's connections (one per page being fetched) and page permits (one per page until saved). */
  connections: PermitScope<ConnectionClaim>;
  permits: PermitScope<number>;
  metrics: PageMetrics;
  /** The last saved page's checkpoint and the pages this batch saved: what it heartbeats and reports. */
  at: BatchHeartbeat;
  /** Ends the batch: heartbeats stop, fetches and permit waits end, permits go back, the source closes. */
  close(): Promise<void>;
}

/** A fetched page, holding its gate permit until it is saved. */
type PageInFlight = FetchedPage & { permit: PagePermit };

export function createImportBatch(deps: ImportBatchDeps) {
  return async function importBatch(rawInput: ImportBatchInput): Promise<ImportBatchResult> {
    // Checked against the contract: what a workflow on another version sent is not trusted.
    const input = readInput(ImportBatchInput, rawInput, 'batch input');
    const ctx = Context.current();
    try {
      const from = await resume(ctx, deps.store.tenant(input.tenant), input);
      if (isFinished(from.checkpoint)) return { checkpoint: from.checkpoint, done: true };
      if (from.pagesThisBatch >= input.maxPages) return { checkpoint: from.checkpoint, done: false };
      const batch = await open(ctx, deps, input, from);
      return await finish(batch, savePages(batch));
    } catch (err) {
      await noteFailure(ctx, deps.store, input, err);
      throw err;
    }
  };
}

/**
 * Notes in the store that this attempt failed, so the import's status asks Temporal why it waits
 * (db/import-state.ts) until its next page is saved. A cancellation is no failure. Best effort:
 * the attempt's own failure is what the workflow and its retry go by.
 */
async function noteFailure(ctx: Context, store: Store, input: ImportBatchInput, err: unknown): Promise<void> {
  if (err instanceof CancelledFailure || ctx.cancellationSignal.aborted) return;
  await store.importStates
    .noteBatchFailure(input.tenant, input.importKey)
    .catch((noted: unknown) => ctx.log.warn('Could not note the failed attempt for the status', { error: String(noted) }));
}

/** Where this attempt continues: the batch start, its last heartbeat or the stored checkpoint (`resumeFrom`). */
async function resume(ctx: Context, contacts: ContactStore, input: ImportBatchInput): Promise<BatchHeartbeat> {
  const stored = await contacts.readCheckpoint(input.importKey);
  const resumption = resumeFrom(input.checkpoint, input.maxPages, ctx.info.heartbeatDetails, stored?.checkpoint ?? null);
  const { point, from, why, unreadableHeartbeat } = resumption;
  const fields = { from, why, pages: point.checkpoint.pages, attempt: ctx.info.attempt };
  if (unreadableHeartbeat !== undefined) ctx.log.warn('Ignoring an unreadable heartbeat', { ...fields, problem: unreadableHeartbeat });
  else if (from !== 'batch start') ctx.log.info(`Resuming batch from the ${from}`, fields);
  return point;
}

/** Unseals the credentials, opens the source and resolves the sync mode: the batch, ready to fetch. */
async function open(ctx: Context, deps: ImportBatchDeps, input: ImportBatchInput, from: BatchHeartbeat): Promise<OpenBatch> {
  const owner = { tenant: input.tenant, userId: input.userId };
  const source = await deps.openSource(input.provider, unseal(ctx, deps, input.sealedCredentials), deps.sources, owner);
  let checkpoint: ImportCheckpoint;
  try {
    // The budgets its requests count against, filed under the import: its status says when one is closed.
    if (source.budgetKeys?.length) await deps.store.budgets.registerImport(input.tenant, input.userId, input.importKey, source.budgetKeys);
    // The first batch decides full or incremental (import-sync.ts); later ones carry it on.
    checkpoint = await resolveSyncMode(deps.store, input, from.checkpoint, source);
  } catch (err) {
    await closeSource(ctx, source);
    throw err;
  }
  // Also aborts the page fetched ahead when the batch ends early (a save failed): no provider
  // read, and no socket, is spent on a page nobody will save.
  const ended = new AbortController();
  const fetchSignal = AbortSignal.any([ctx.cancellationSignal, ended.signal]);
  // A page can be slow, and so can the gate's queue; heartbeat meanwhile so the server neither
  // times the batch out nor withholds a cancellation until the page arrives.
  const keepAlive = setInterval(() => heartbeat(batch), deps.keepAliveHeartbeatMs ?? WORKER_DEFAULTS.keepAliveHeartbeatMs);
  const batch: OpenBatch = {
    ctx,
    deps,
    input,
    contacts: deps.store.tenant(input.tenant),
    source,
    fetchSignal,
    // Their waits end with the batch too; whatever it still holds when the batch ends goes back.
    connections: permitScope(deps.connectionGate, fetchSignal),
    permits: permitScope(deps.pageGate, fetchSignal),
    metrics: pageMetrics(ctx.metricMeter, input.provider),
    at: { checkpoint, pagesThisBatch: from.pagesThisBatch },
    async close() {
      clearInterval(keepAlive);
      ended.abort();
      batch.connections.close();
      batch.permits.close();
      await closeSource(ctx, source);
    },
  };
  return batch;
}

/** The import's credentials in clear, or the failure that says why this worker cannot have them. */
function unseal(ctx: Context, deps: ImportBatchDeps, sealedCredentials: string): string {
  try {
    return deps.sealer.open(sealedCredentials);
  } catch (err) {
    if (!(err instanceof SealedTokenError)) throw err;
    if (err.reason === 'malformed') throw invalidInput(err.message);
    ctx.log.error(`This worker cannot open the import's credentials: ${err.message}`, { attempt: ctx.info.attempt });
    deps.onMisconfigured?.(err.message);
    // Retryable: the fault is this worker's, and another worker (or this one, fixed) can do the batch.
    throw ApplicationFailure.create({ type: FAILURE_TYPES.workerMisconfigured, message: err.message, nonRetryable: false });
  }
}

async function closeSource(ctx: Context, source: ContactSource): Promise<void> {
  await source.close?.().catch((err: unknown) => ctx.log.warn('Could not close the source', { error: String(err) }));
}

/**
 * Fetches and saves pages until the batch has saved its `maxPages` or the provider has no more;
 * resolves to whether the import is done. Cancellation is honoured between pages.
 */
async function savePages(batch: OpenBatch): Promise<boolean> {
  const { input } = batch;
  const fetchAhead = batch.deps.fetchAhead ?? WORKER_DEFAULTS.fetchAhead === 1;
  let next = fetch(batch, batch.at.checkpoint, batch.at.checkpoint.cursor);
  for (;;) {
    const fetched = await next.catch((err: unknown) => {
      throw batch.ctx.cancellationSignal.aborted ? cancelled(batch) : err;
    });
    const { page } = fetched;
    // A refused sync token made this the first page of a full read: so is the rest of the import.
    const current = fetched.fellBack ? fallBackToFullRead(batch.at.checkpoint, fetched.fellBack.sweepAt) : batch.at.checkpoint;
    const more = page.nextCursor !== null && batch.at.pagesThisBatch + 1 < input.maxPages;
    // The fetch ahead waits for its connection and permit without blocking this save, which
    // releases our permit: no deadlock.
    if (more && fetchAhead) {
      next = fetch(batch, current, page.nextCursor);
      // Rejections surface when awaited above; this keeps one during the save from being "unhandled".
      next.catch(() => undefined);
      // The request goes out in a later tick than this one, and SQLite saves synchronously: without
      // this turn of the event loop the provider would hear of page k+1 only once page k is saved.
      await letRequestsLeave();
    }
    // Counted with the checkpoint, after the save, so every heartbeat pairs the two correctly.
    batch.at = { checkpoint: await save(batch, current, fetched), pagesThisBatch: batch.at.pagesThisBatch + 1 };
    heartbeat(batch);
    batch.metrics.pageSaved(page.contacts.length, page.rejected?.length ?? 0);
    if (!more) return page.nextCursor === null;
    if (batch.ctx.cancellationSignal.aborted) throw cancelled(batch);
    // Without fetch-ahead the next page is asked for only now, its predecessor committed.
    if (!fetchAhead) next = fetch(batch, batch.at.checkpoint, page.nextCursor);
  }
}

/**
 * Resolves once the event loop has turned: a request begun in this tick on a pooled connection has
 * then been written to its socket (a new connection still waits for its lookup and handshake).
 */
function letRequestsLeave(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The page at `cursor` (read as `at` says), with the page permit it holds until it is saved. The
 * fetch holds one of the worker's connections, in the tenant's share; the connection goes back once
 * the page has its permit, so pages fetched and not yet saved stay bounded by the two gates.
 */
async function fetch(batch: OpenBatch, at: ImportCheckpoint, cursor: string | null): Promise<PageInFlight> {
  const { contacts, input, source, fetchSignal } = batch;
  const connection = await batch.connections.acquire({ tenant: input.tenant, key: input.importKey });
  try {
    const fetched = await fetchSyncedPage(contacts, input, at, source, { cursor, pageSize: input.pageSize, signal: fetchSignal });
    // Least attained service: the fewer pages this import has saved, the sooner it goes.
    return { ...fetched, permit: await batch.permits.acquire(at.pages) };
  } finally {
    connection.release();
  }
}

/**
 * Saves a fetched page onto `current`, its import's checkpoint: its rejects and a sweeping
 * listing's marks (idempotent), then in one transaction its tombstones, its contacts, the sweep and
 * the checkpoint they move the import to, and last the sync token it ends with. Resolves to that checkpoint; the page's permit
 * goes back however the save ends.
 */
async function save(batch: OpenBatch, current: ImportCheckpoint, { page, permit }: PageInFlight): Promise<ImportCheckpoint> {
  const { deps, input, contacts, source } = batch;
  try {
    if (page.rejected?.length) await contacts.recordRejects(input.importKey, input.userId, page.rejected);
    const deletions = await settleSyncedPage(deps.store, input, current, page, input.importKey);
    const rejected = page.rejected?.length ?? 0;
    // The page's deletions are counted by the save, in its transaction (countDeletions).
    const after = advance(current, { saved: page.contacts.length, rejected, nextCursor: page.nextCursor, total: page.total, deleted: 0 });
    const { deleted } = await contacts.savePage(input.userId, input.provider, page.contacts, { importKey: input.importKey, checkpoint: after, deletions });
    // Only once the page it ends is committed (import-sync.ts says why).
    await keepSyncToken(deps.store, input, page, source);
    return countDeletions(after, deleted);
  } finally {
    permit.release();
  }
}

function heartbeat(batch: OpenBatch): void {
  batch.ctx.heartbeat(batch.at);
}

/** How far the batch got, for the failure it ends with. */
function stoppedAt(batch: OpenBatch): [BatchFailureDetails] {
  return [batch.at.checkpoint];
}

function cancelled(batch: OpenBatch): CancelledFailure {
  return new CancelledFailure('Batch stopped between pages', stoppedAt(batch));
}

/**
 * The batch's result once `pages` resolves to whether the import is done. A typed failure is thrown
 * again with how far the batch got: when it ends the import (non-retryable, or the last attempt
 * before the import gives up), the import's final counts are exact, and the workflow can tell a
 * batch that saved pages from one that saved none. Its retry resumes from the heartbeat anyway. The
 * batch is closed however it ends.
 */
async function finish(batch: OpenBatch, pages: Promise<boolean>): Promise<ImportBatchResult> {
  try {
    const done = await pages;
    return { checkpoint: batch.at.checkpoint, done };
  } catch (err) {
    if (!(err instanceof ApplicationFailure)) throw err;
    const { type, message, cause, nonRetryable, nextRetryDelay } = err;
    throw ApplicationFailure.create({
      type: type ?? undefined,
      message,
      nonRetryable: nonRetryable ?? false,
      nextRetryDelay: msOptionalToNumber(nextRetryDelay ?? undefined),
      details: stoppedAt(batch),
      cause,
    });
  } finally {
    await batch.close();
  }
}
