/**
 * Activities: the only place that talks to providers and the database. Built by a factory that
 * receives its dependencies, so the worker wires real ones and tests can wire their own.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TokenSealer } from '../config/token-seal';
import { SealedTokenError } from '../config/token-seal';
import type { ContactStore } from '../db/types';
import type { ImportCheckpoint, Provider } from '../workflows/contract';
import { fetchConnectionsPage, type ConnectionsPage } from './google-people';

export interface ActivityDeps {
  store: ContactStore;
  sealer: TokenSealer;
  googlePeopleBaseUrl: string;
  /** How often a batch heartbeats while it waits on a slow page; below the heartbeat timeout. */
  keepAliveHeartbeatMs?: number;
}

export interface ImportBatchInput {
  userId: string;
  provider: Provider;
  sealedAccessToken: string;
  pageSize: number;
  /** Pages to import before reporting back to the workflow. */
  maxPages: number;
  checkpoint: ImportCheckpoint;
}

export interface ImportBatchResult {
  checkpoint: ImportCheckpoint;
  /** The provider has no more pages: the import is complete. */
  done: boolean;
}

/** What a batch heartbeats after every saved page, and resumes from when retried. */
export interface BatchHeartbeat {
  checkpoint: ImportCheckpoint;
  pagesThisBatch: number;
}

export function isFinished(checkpoint: ImportCheckpoint): boolean {
  return checkpoint.pages > 0 && checkpoint.cursor === null;
}

export function createActivities(deps: ActivityDeps) {
  /**
   * Fetches up to `maxPages` pages and saves each in one transaction, fetching page k+1 while page
   * k is being saved. Heartbeats the checkpoint after every saved page, so a retry (after a worker
   * crash or a provider error) resumes after the last saved page instead of at the batch start.
   * Returns cursors and counts only: contact data never enters workflow history.
   */
  async function importBatch(input: ImportBatchInput): Promise<ImportBatchResult> {
    const ctx = Context.current();
    const resumed = ctx.info.heartbeatDetails as BatchHeartbeat | undefined;
    let checkpoint = resumed?.checkpoint ?? input.checkpoint;
    let pagesThisBatch = resumed?.pagesThisBatch ?? 0;
    if (resumed) {
      ctx.log.info('Resuming batch from its last heartbeat', { pages: checkpoint.pages, attempt: ctx.info.attempt });
    }
    if (isFinished(checkpoint)) return { checkpoint, done: true };
    if (pagesThisBatch >= input.maxPages) return { checkpoint, done: false };

    let accessToken: string;
    try {
      accessToken = deps.sealer.open(input.sealedAccessToken);
    } catch (err) {
      if (err instanceof SealedTokenError) {
        throw ApplicationFailure.create({ type: 'InvalidImportInput', message: err.message, nonRetryable: true });
      }
      throw err;
    }

    const signal = ctx.cancellationSignal;
    // Also aborts the page fetched ahead when the batch ends early (a save failed): no provider
    // read, and no socket, is spent on a page nobody will save.
    const batchDone = new AbortController();
    const fetchSignal = AbortSignal.any([signal, batchDone.signal]);
    const fetchPage = (pageToken: string | null): Promise<ConnectionsPage> =>
      fetchConnectionsPage({
        baseUrl: deps.googlePeopleBaseUrl,
        accessToken,
        pageSize: input.pageSize,
        pageToken,
        signal: fetchSignal,
      });
    const cancelled = () => new CancelledFailure('Import cancelled between pages', [checkpoint]);

    // A page can be slow; heartbeat meanwhile so the server neither times the batch out nor
    // withholds a cancellation until the page arrives.
    const keepAlive = setInterval(
      () => ctx.heartbeat({ checkpoint, pagesThisBatch } satisfies BatchHeartbeat),
      deps.keepAliveHeartbeatMs ?? 2_000,
    );
    try {
      let next = fetchPage(checkpoint.cursor);
      for (;;) {
        let page: ConnectionsPage;
        try {
          page = await next;
        } catch (err) {
          if (signal.aborted) throw cancelled();
          throw err;
        }
        // Counted with the checkpoint, after the save, so every heartbeat pairs the two correctly.
        const more = page.nextPageToken !== null && pagesThisBatch + 1 < input.maxPages;
        if (more) {
          next = fetchPage(page.nextPageToken);
          // Rejections surface when awaited above; this keeps one during the save from being "unhandled".
          next.catch(() => undefined);
        }
        await deps.store.upsertContacts(input.userId, input.provider, page.contacts);
        pagesThisBatch += 1;
        const n = page.contacts.length;
        checkpoint = {
          cursor: page.nextPageToken,
          fetched: checkpoint.fetched + n,
          saved: checkpoint.saved + n,
          pages: checkpoint.pages + 1,
          total: page.totalPeople ?? checkpoint.total,
        };
        ctx.heartbeat({ checkpoint, pagesThisBatch } satisfies BatchHeartbeat);
        if (!more) return { checkpoint, done: page.nextPageToken === null };
        if (signal.aborted) throw cancelled();
      }
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) {
        // The import fails with this: say how far the batch got, so its final counts are exact.
        throw ApplicationFailure.create({
          type: err.type ?? undefined,
          message: err.message,
          nonRetryable: true,
          details: [checkpoint],
          cause: err.cause,
        });
      }
      throw err;
    } finally {
      clearInterval(keepAlive);
      batchDone.abort();
    }
  }

  return { importBatch };
}

export type ImportActivities = ReturnType<typeof createActivities>;
