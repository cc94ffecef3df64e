/**
 * `ImportContacts`: imports one user's contacts from one provider, batch by batch.
 *
 * The workflow holds only a cursor and counters. Each batch is one activity that fetches and saves
 * several pages, so history grows by a handful of events per batch whatever the page contents, and
 * the run continues as new before history gets large.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ImportActivities } from '../activities';
import {
  BatchFailureDetails,
  EMPTY_CHECKPOINT,
  FAILURE_TYPES,
  importKey,
  ImportBatchResult,
  ImportInput,
  MEMO_KEYS,
  NON_RETRYABLE_FAILURE_TYPES,
  parseOrNull,
  readInput,
  pauseSignal,
  resumeSignal,
  searchAttributes,
  statusQuery,
  type ImportBatchInput,
  type ImportCheckpoint,
  type ImportState,
  type ImportStatus,
  type ImportSummary,
} from './contract';

const batchOptions: ActivityOptions = {
  // A batch is a few pages; a slow provider makes it long, and the heartbeat (not this) is what
  // notices a dead worker.
  startToCloseTimeout: '30 minutes',
  // A crashed worker is noticed this long after its last heartbeat; the retry resumes from it.
  heartbeatTimeout: '10 seconds',
  // Wait for the batch to stop at a page boundary, so nothing is saved after "cancelled".
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    // Provider outages delay the import; they never end it. 429s override this with Retry-After.
    maximumInterval: '2 minutes',
    // The activities already mark these non-retryable; listing them here keeps that true even if not.
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
  },
};

const { importBatch } = proxyActivities<ImportActivities>(batchOptions);

const numberFormat = (n: number) => n.toLocaleString('en-US');

export async function ImportContacts(rawInput: ImportInput): Promise<ImportSummary> {
  const info = workflowInfo();
  // The schema also accepts inputs from before the credentials were generalised: old histories replay.
  const input = readInput(ImportInput, rawInput, 'import input');
  let checkpoint: ImportCheckpoint = input.carried?.checkpoint ?? EMPTY_CHECKPOINT;
  let pauseRequested = input.carried?.paused ?? false;
  const status: ImportStatus = {
    state: 'running',
    fetched: checkpoint.fetched,
    saved: checkpoint.saved,
    rejected: checkpoint.rejected,
    pages: checkpoint.pages,
    total: checkpoint.total,
    startedAt: input.startedAt,
    updatedAt: new Date().toISOString(),
  };

  setHandler(statusQuery, () => ({
    ...status,
    runId: info.runId,
    firstExecutionRunId: info.firstExecutionRunId,
  }));
  setHandler(pauseSignal, () => {
    pauseRequested = true;
  });
  setHandler(resumeSignal, () => {
    pauseRequested = false;
  });

  /** One place changes the status, and mirrors it where operators and the API look. */
  function publish(state: ImportState, extra: Partial<ImportStatus> = {}): void {
    Object.assign(status, {
      state,
      fetched: checkpoint.fetched,
      saved: checkpoint.saved,
      rejected: checkpoint.rejected,
      pages: checkpoint.pages,
      total: checkpoint.total,
      updatedAt: new Date().toISOString(),
      ...extra,
    });
    upsertSearchAttributes([
      { key: searchAttributes.state, value: state },
      { key: searchAttributes.contactsSaved, value: checkpoint.saved },
    ]);
    upsertMemo({ [MEMO_KEYS.progress]: { ...status } });
    const of = checkpoint.total === null ? '' : ` of ${numberFormat(checkpoint.total)}`;
    setCurrentDetails(`**${state}** · ${numberFormat(checkpoint.saved)}${of} contacts saved · ${checkpoint.pages} pages`);
  }

  if (!input.carried) publish(pauseRequested ? 'paused' : 'running');
  let batchesThisRun = 0;
  try {
    for (;;) {
      if (pauseRequested) {
        // Between batches, and waiting on a condition: a paused import holds no worker slot.
        publish('paused');
        await condition(() => !pauseRequested);
        publish('running');
      }
      const batch: ImportBatchInput = {
        tenant: input.tenant,
        importKey: importKey(info.workflowId, info.firstExecutionRunId),
        userId: input.userId,
        provider: input.provider,
        sealedCredentials: input.sealedCredentials,
        pageSize: input.tuning.pageSize,
        maxPages: input.tuning.pagesPerBatch,
        checkpoint,
      };
      const first = checkpoint.pages + 1;
      const summary = `pages ${first}–${first + input.tuning.pagesPerBatch - 1} · ${numberFormat(
        input.tuning.pageSize,
      )} contacts per page · ${numberFormat(checkpoint.saved)} saved so far`;
      // Our own activity's answer, but still read with the schema: a mismatch (a worker on another
      // version of the contract) fails this workflow task, which retries once the fleet agrees,
      // rather than carrying a malformed checkpoint into history.
      const result = ImportBatchResult.parse(
        await importBatch.executeWithOptions({ ...batchOptions, summary }, [batch]),
      );
      checkpoint = result.checkpoint;
      if (result.done) {
        publish('completed', { completedAt: new Date().toISOString() });
        return { ...status };
      }
      publish(pauseRequested ? 'paused' : 'running');
      batchesThisRun += 1;
      if (workflowInfo().continueAsNewSuggested || batchesThisRun >= input.tuning.maxBatchesPerRun) {
        await condition(allHandlersFinished);
        log.info('Continuing as new', { pages: checkpoint.pages, saved: checkpoint.saved });
        await continueAsNew<typeof ImportContacts>({
          ...input,
          carried: { checkpoint, paused: pauseRequested, runs: (input.carried?.runs ?? 1) + 1 },
        });
      }
    }
  } catch (err) {
    // A batch that stops early (cancelled, or failed for good) says how far it got, in its failure
    // details, so the counts stay exact.
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    const details = cause instanceof ApplicationFailure || cause instanceof CancelledFailure ? cause.details : undefined;
    const stoppedAt = details?.length ? parseOrNull(BatchFailureDetails, details[0]) : undefined;
    if (stoppedAt?.problem !== undefined) log.warn('Ignoring unreadable batch failure details', { problem: stoppedAt.problem });
    if (stoppedAt?.value && stoppedAt.value.pages >= checkpoint.pages) checkpoint = stoppedAt.value;
    if (isCancellation(err)) {
      publish('cancelled', { completedAt: new Date().toISOString() });
      throw err;
    }
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      const message = err.cause.message;
      publish('failed', { error: message, errorType: err.cause.type ?? FAILURE_TYPES.importFailed, completedAt: new Date().toISOString() });
      throw ApplicationFailure.create({ type: err.cause.type ?? FAILURE_TYPES.importFailed, message, nonRetryable: true });
    }
    throw err;
  }
}
