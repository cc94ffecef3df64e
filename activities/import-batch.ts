/**
 * `importBatch`: fetches up to `maxPages` pages from the import's source and saves each in one
 * transaction, asking for page k+1 once page k is committed (or while it is being saved, with
 * `fetchAhead`: faster where the provider is slow, but a crash then re-fetches two pages). Every page
 * holds a permit of the worker's page gate (`page-gate.ts`) from before its fetch until its save, so
 * many imports on one worker take turns fairly and in bounded memory. It heartbeats the checkpoint after
 * every saved page, so a retry (after a worker crash or a provider error) resumes after the last
 * saved page instead of at the batch start. Returns cursors and counts only: contact data never
 * enters workflow history.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WORKER_DEFAULTS } from '../config/defaults';
import { SealedTokenError, type TokenSealer } from '../encryption/token-seal';
import type { ContactStore, Store } from '../db/types';
import {
  advance,
  fallBackToFullRead,
  isFinished,
  resumeFrom,
  type BatchFailureDetails,
  type BatchHeartbeat,
  type ImportCheckpoint,
} from '../workflows/checkpoint';
import { FAILURE_TYPES, ImportBatchInput, readInput, type ImportBatchResult } from '../workflows/contract';
import type { openSource as OpenSource, SourceSettings } from './sources';
import { invalidInput } from './failures';
import { fetchSyncedPage, resolveSyncMode, keepSyncToken, settleSyncedPage, type FetchedPage } from './import-sync';
import { pageMetrics } from './metrics';
import { permitScope, type PageGate, type PagePermit } from './page-gate';

export interface ImportBatchDeps {
  store: Store;
  sealer: TokenSealer;
  sources: SourceSettings;
  openSource: typeof OpenSource;
  keepAliveHeartbeatMs?: number;
  /** The worker's one page gate: how many pages are in flight in this process, and whose go next. */
  pageGate: PageGate;
  /**
   * Fetch page k+1 while page k is saved (`IMPORT_FETCH_AHEAD=1`, the default), or only once k is
   * committed (0): slower where the store writes off the thread, but a kill re-fetches one page, not two.
   */
  fetchAhead?: boolean;
  /** Told when this worker cannot do a batch for want of its own configuration (see `ActivityDeps`). */
  onMisconfigured?: (problem: string) => void;
}


/**
 * This worker lacks the key the credentials were sealed with. Retryable: the fault is this worker's,
 * and another worker (or this one, fixed) can do the batch. The import must not fail for it.
 */
function workerMisconfigured(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FAILURE_TYPES.workerMisconfigured, message, nonRetryable: false });
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

export function createImportBatch(deps: ImportBatchDeps) {
  return async function importBatch(rawInput: ImportBatchInput): Promise<ImportBatchResult> {
    // Checked against the contract: what a workflow on another version sent is not trusted.
    const input = readInput(ImportBatchInput, rawInput, 'batch input');
    const ctx = Context.current();
    const contacts = deps.store.tenant(input.tenant);
    let { checkpoint, pagesThisBatch } = await resume(ctx, contacts, input);
    if (isFinished(checkpoint)) return { checkpoint, done: true };
    if (pagesThisBatch >= input.maxPages) return { checkpoint, done: false };

    let credentials: string;
    try {
      credentials = deps.sealer.open(input.sealedCredentials);
    } catch (err) {
      if (!(err instanceof SealedTokenError)) throw err;
      if (err.reason === 'malformed') throw invalidInput(err.message);
      ctx.log.error(`This worker cannot open the import's credentials: ${err.message}`, { attempt: ctx.info.attempt });
      deps.onMisconfigured?.(err.message);
      throw workerMisconfigured(err.message);
    }
    const source = deps.openSource(input.provider, credentials, deps.sources, { tenant: input.tenant, userId: input.userId });
    // The first batch decides full or incremental (import-sync.ts); later ones carry it on.
    checkpoint = await resolveSyncMode(deps.store, input, checkpoint, source);

    const signal = ctx.cancellationSignal;
    // Also aborts the page fetched ahead when the batch ends early (a save failed): no provider
    // read, and no socket, is spent on a page nobody will save.
    const batchDone = new AbortController();
    const fetchSignal = AbortSignal.any([signal, batchDone.signal]);
    // Its waits end with the batch too; whatever it still holds when the batch ends goes back.
    const permits = permitScope(deps.pageGate, fetchSignal);
    const fetchAhead = deps.fetchAhead ?? WORKER_DEFAULTS.fetchAhead === 1;
    /** The page at `cursor`, with the gate's permit it holds until it is saved (released here if the fetch fails). */
    const fetchPage = async (at: ImportCheckpoint, cursor: string | null): Promise<FetchedPage & { permit: PagePermit }> => {
      // Least attained service: the fewer pages this import has saved, the sooner it goes.
      const permit = await permits.acquire(at.pages);
      try {
        return { ...(await fetchSyncedPage(contacts, input, at, source, { cursor, pageSize: input.pageSize, signal: fetchSignal })), permit };
      } catch (err) {
        permit.release();
        throw err;
      }
    };
    const stoppedAt = (): [BatchFailureDetails] => [checkpoint];
    const cancelled = () => new CancelledFailure('Import cancelled between pages', stoppedAt());
    const heartbeat = () => ctx.heartbeat({ checkpoint, pagesThisBatch } satisfies BatchHeartbeat);
    const metrics = pageMetrics(ctx.metricMeter, input.provider);

    // A page can be slow, and so can the gate's queue; heartbeat meanwhile so the server neither
    // times the batch out nor withholds a cancellation until the page arrives.
    const keepAlive = setInterval(heartbeat, deps.keepAliveHeartbeatMs ?? WORKER_DEFAULTS.keepAliveHeartbeatMs);
    try {
      let next = fetchPage(checkpoint, checkpoint.cursor);
      for (;;) {
        let fetched: Awaited<typeof next>;
        try {
          fetched = await next;
        } catch (err) {
          if (signal.aborted) throw cancelled();
          throw err;
        }
        const { page } = fetched;
        // A refused sync token made this the first page of a full listing: so is the rest of the import.
        const current = fetched.fellBack ? fallBackToFullRead(checkpoint, fetched.fellBack.sweepAt) : checkpoint;
        // Counted with the checkpoint, after the save, so every heartbeat pairs the two correctly.
        const more = page.nextCursor !== null && pagesThisBatch + 1 < input.maxPages;
        // The fetch-ahead waits for its permit without blocking this save, which releases ours: no deadlock.
        if (more && fetchAhead) {
          next = fetchPage(current, page.nextCursor);
          // Rejections surface when awaited above; this keeps one during the save from being "unhandled".
          next.catch(() => undefined);
        }
        let after: ImportCheckpoint;
        try {
          // Rejects first (idempotent), then the contacts with the checkpoint in one transaction.
          if (page.rejected?.length) await contacts.recordRejects(input.importKey, input.userId, page.rejected);
          // Tombstones, marks and the sweep, before the save commits the checkpoint.
          const deleted = await settleSyncedPage(deps.store, input, current, page, source, input.importKey);
          const rejected = page.rejected?.length ?? 0;
          after = advance(current, { saved: page.contacts.length, rejected, nextCursor: page.nextCursor, total: page.total, deleted });
          await contacts.savePage(input.userId, input.provider, page.contacts, { importKey: input.importKey, checkpoint: after });
          // The next sync token, only once the page it ends is committed.
          await keepSyncToken(deps.store, input, page, source);
        } finally {
          fetched.permit.release();
        }
        pagesThisBatch += 1;
        checkpoint = after;
        heartbeat();
        metrics.pageSaved(page.contacts.length, page.rejected?.length ?? 0);
        if (!more) return { checkpoint, done: page.nextCursor === null };
        if (signal.aborted) throw cancelled();
        // Without fetch-ahead the next page is asked for only now, its predecessor committed.
        if (!fetchAhead) next = fetchPage(checkpoint, page.nextCursor);
      }
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) {
        // The import fails with this: say how far the batch got, so its final counts are exact.
        throw ApplicationFailure.create({
          type: err.type ?? undefined,
          message: err.message,
          nonRetryable: true,
          details: stoppedAt(),
          cause: err.cause,
        });
      }
      throw err;
    } finally {
      clearInterval(keepAlive);
      batchDone.abort();
      permits.close();
      await source.close?.().catch((err: unknown) => ctx.log.warn('Could not close the source', { error: String(err) }));
    }
  };
}
