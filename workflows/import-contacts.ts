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
  CancellationScope,
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
import { afterStoppedBatch, EMPTY_CHECKPOINT, statusCounts, type ImportCheckpoint } from './checkpoint';
import {
  FAILURE_TYPES,
  importKey,
  ImportBatchResult,
  ImportInput,
  MEMO_KEYS,
  NON_RETRYABLE_FAILURE_TYPES,
  readInput,
  pauseSignal,
  resumeSignal,
  searchAttributes,
  statusQuery,
  type ImportBatchInput,
  type ImportState,
  type ImportStatus,
  type ImportSummary,
  type ProgressSamples,
  type RunStatus,
} from './contract';
import { windowEnd } from './give-up';
import { createReauthGate, credentialsRejection, describeWindow, reauthTimedOut } from './reauth';
import { recordImportEnded } from './metrics';
import { notifyConnectionNeedsReauth, notifyImportEvent } from './notify';

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
    // Provider outages delay the import, up to IMPORT_GIVE_UP_AFTER (`batchOptionsFor`, give-up.ts).
    // 429s override this with Retry-After.
    maximumInterval: '2 minutes',
    // The activities already mark these non-retryable; listing them here keeps that true even if not.
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
  },
};

const { importBatch } = proxyActivities<ImportActivities>(batchOptions);

/** The options of one batch of `input`'s import. */
function batchOptionsFor(input: ImportInput, summary: string): ActivityOptions {
  return {
    ...batchOptions,
    summary,
    // The batch's window (give-up.ts): its attempts end this long after it was scheduled, right after
    // the import's last progress.
    scheduleToCloseTimeout: input.tuning.giveUpAfterSeconds * 1000,
    // Temporal's fairness, where the server has it on: the matching service hands out each
    // tenant's batches in turn, however many imports one tenant queued.
    priority: { fairnessKey: input.tenant },
  };
}

const numberFormat = (n: number) => n.toLocaleString('en-US');

/** The API's `rate` is over the last minute; samples closer than a second add nothing to it. */
const RATE_WINDOW_MS = 60_000;
const SAMPLE_SPACING_MS = 1_000;

/**
 * Adds `[now, saved]` to `samples` (in place) and drops those no rate needs any more: all but the
 * newest one from before the window, which is where the window's count starts. Workflow time, so
 * replay records the same samples; they are state, never commands.
 */
function recordSample(samples: ProgressSamples, saved: number): void {
  const now = Date.now();
  const last = samples[samples.length - 1];
  if (!last || now - last[0] >= SAMPLE_SPACING_MS) samples.push([now, saved]);
  while (samples.length > 1 && samples[1]![0] <= now - RATE_WINDOW_MS) samples.shift();
}

export async function ImportContacts(rawInput: ImportInput): Promise<ImportSummary> {
  const info = workflowInfo();
  const input = readInput(ImportInput, rawInput, 'import input');
  let checkpoint: ImportCheckpoint = input.carried?.checkpoint ?? EMPTY_CHECKPOINT;
  let pauseRequested = input.carried?.paused ?? false;
  const samples: ProgressSamples = [...(input.carried?.samples ?? [])];
  recordSample(samples, checkpoint.saved);
  const status: ImportStatus = {
    state: 'running',
    ...statusCounts(checkpoint),
    startedAt: input.startedAt,
    updatedAt: new Date().toISOString(),
  };
  /** What the `status` query and the `credentials` update answer. */
  const runStatus = (): RunStatus => ({ ...status, runId: info.runId, firstExecutionRunId: info.firstExecutionRunId, samples });

  setHandler(statusQuery, runStatus);
  /** The running batch's scope, while it runs: a pause cancels it, and the batch stops at its next page. */
  let batchInFlight: CancellationScope | undefined;
  let batchPaused = false;
  setHandler(pauseSignal, () => {
    pauseRequested = true;
    if (batchInFlight && !batchPaused) {
      batchPaused = true;
      batchInFlight.cancel();
    }
  });
  setHandler(resumeSignal, () => {
    pauseRequested = false;
  });
  // Replaced by the `credentials` update when the provider rejected the ones the import began with.
  let sealedCredentials = input.sealedCredentials;
  const reauth = createReauthGate(runStatus);

  /** One place changes the status, and mirrors it where operators and the API look. */
  function publish(state: ImportState, extra: Partial<ImportStatus> = {}): void {
    Object.assign(status, { state, ...statusCounts(checkpoint), updatedAt: new Date().toISOString(), ...extra });
    upsertSearchAttributes([
      { key: searchAttributes.state, value: state },
      { key: searchAttributes.contactsSaved, value: checkpoint.saved },
    ]);
    upsertMemo({ [MEMO_KEYS.progress]: { ...status }, [MEMO_KEYS.firstRunId]: info.firstExecutionRunId });
    const of = checkpoint.total === null ? '' : ` of ${numberFormat(checkpoint.total)}`;
    setCurrentDetails(`**${state}** · ${numberFormat(checkpoint.saved)}${of} contacts saved · ${checkpoint.pages} pages`);
    // A metric, not a command: replay emits none, and history gains no event for it.
    if (extra.completedAt) recordImportEnded(input.provider, state, status.startedAt, extra.completedAt);
  }

  /**
   * A batch that stops early (cancelled, paused, or failed for good) says how far it got in its
   * failure's `details`: the checkpoint moves there, so the counts stay exact.
   */
  function takeStop(err: unknown): void {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    const details = cause instanceof ApplicationFailure || cause instanceof CancelledFailure ? cause.details : undefined;
    const stopped = afterStoppedBatch(checkpoint, details);
    if (stopped.problem !== undefined) log.warn('Ignoring unreadable batch failure details', { problem: stopped.problem });
    checkpoint = stopped.checkpoint;
  }

  /**
   * `needs_reauth` until the `credentials` update brings new sealed credentials (returned) or the
   * re-auth window ends (the import fails, saying why). A condition, not an activity: no worker slot.
   */
  async function waitForCredentials(rejection: ApplicationFailure): Promise<string> {
    const seconds = input.tuning.reauthTimeoutSeconds;
    const reauthBy = new Date(Date.now() + seconds * 1000).toISOString();
    publish('needs_reauth', { error: rejection.message, errorType: rejection.type ?? FAILURE_TYPES.providerUnauthenticated, reauthBy });
    // The web app hears of it (a webhook), so it can ask its user to reconnect; and of the connection
    // itself when its kept secret was what the provider refused.
    await notifyImportEvent(input, 'import.needs_reauth', status);
    await notifyConnectionNeedsReauth(input);
    const renewed = await reauth.wait(seconds);
    if (renewed === null) {
      const failure = reauthTimedOut(rejection, seconds);
      publish('failed', { error: failure.message, errorType: FAILURE_TYPES.reauthTimedOut, reauthBy: undefined, completedAt: new Date().toISOString() });
      throw failure;
    }
    publish('running', { error: undefined, errorType: undefined, reauthBy: undefined });
    return renewed;
  }

  /** One batch in a scope of its own, which a pause cancels while the batch runs. */
  async function runBatch(batch: ImportBatchInput, summary: string): Promise<unknown> {
    const scope = new CancellationScope();
    batchInFlight = scope;
    batchPaused = false;
    try {
      return await scope.run(() => importBatch.executeWithOptions(batchOptionsFor(input, summary), [batch]));
    } finally {
      batchInFlight = undefined;
    }
  }

  /**
   * Whether `err` ended the batch a pause cancelled, not the import's own cancellation: it stopped,
   * or failed in a way a later batch may get past. A failure for good while the pause was on its
   * way is still that failure.
   */
  function stoppedForPause(err: unknown): boolean {
    if (!batchPaused || CancellationScope.current().consideredCancelled) return false;
    if (isCancellation(err)) return true;
    return (
      err instanceof ActivityFailure &&
      err.retryState === 'CANCEL_REQUESTED' &&
      !(err.cause instanceof ApplicationFailure && err.cause.nonRetryable)
    );
  }

  let batchesThisRun = 0;
  /** Counts a batch; continues as new once the run has had enough of them, or history is large. */
  async function continueAsNewIfDue(): Promise<void> {
    batchesThisRun += 1;
    if (!workflowInfo().continueAsNewSuggested && batchesThisRun < input.tuning.maxBatchesPerRun) return;
    await condition(allHandlersFinished);
    log.info('Continuing as new', { pages: checkpoint.pages, saved: checkpoint.saved });
    await continueAsNew<typeof ImportContacts>({
      ...input,
      sealedCredentials,
      carried: { checkpoint, paused: pauseRequested, runs: (input.carried?.runs ?? 1) + 1, samples },
    });
  }

  if (!input.carried) publish(pauseRequested ? 'paused' : 'running');
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
        sealedCredentials,
        pageSize: input.tuning.pageSize,
        maxPages: input.tuning.pagesPerBatch,
        checkpoint,
        mode: input.mode,
      };
      const first = checkpoint.pages + 1;
      const summary = `pages ${first}–${first + input.tuning.pagesPerBatch - 1} · ${numberFormat(
        input.tuning.pageSize,
      )} contacts per page · ${numberFormat(checkpoint.saved)} saved so far`;
      // Our own activity's answer, but still read with the schema: a mismatch (a worker on another
      // version of the contract) fails this workflow task, which retries once the fleet agrees,
      // rather than carrying a malformed checkpoint into history.
      let result: ImportBatchResult;
      try {
        result = ImportBatchResult.parse(await runBatch(batch, summary));
      } catch (err) {
        // Credentials rejected for good: wait for new ones (workflows/reauth.ts), then go on from here
        // (or wait at the loop's top, if a pause came meanwhile).
        const rejection = credentialsRejection(err, input.tuning);
        if (rejection) {
          takeStop(err);
          sealedCredentials = await waitForCredentials(rejection);
          continue;
        }
        // Paused: the batch stopped at a page boundary, saying how far it got, or failed and can be
        // tried again; the loop waits for the resume and goes on from there.
        if (stoppedForPause(err)) {
          takeStop(err);
          recordSample(samples, checkpoint.saved);
          // Still paused, the loop's top says so; resumed meanwhile, the counts move here.
          if (!pauseRequested) publish('running');
          await continueAsNewIfDue();
          continue;
        }
        // The batch's window closed (give-up.ts): give up on the source, or try again in a new one.
        const ended = windowEnd(err, checkpoint);
        if (!ended) throw err;
        checkpoint = ended.checkpoint;
        if (ended.outcome === 'give-up') {
          const message = `Gave up after ${describeWindow(input.tuning.giveUpAfterSeconds)} without progress: ${ended.message}`;
          publish('failed', { error: message, errorType: ended.type, completedAt: new Date().toISOString() });
          throw ApplicationFailure.create({ type: ended.type, message, nonRetryable: true });
        }
        log.warn('A batch window closed without giving up', { why: ended.why, pages: checkpoint.pages });
        publish(pauseRequested ? 'paused' : 'running');
        await continueAsNewIfDue();
        continue;
      }
      checkpoint = result.checkpoint;
      recordSample(samples, checkpoint.saved);
      if (result.done) {
        publish('completed', { completedAt: new Date().toISOString() });
        await notifyImportEvent(input, 'import.completed', status);
        return { ...status };
      }
      publish(pauseRequested ? 'paused' : 'running');
      await continueAsNewIfDue();
    }
  } catch (err) {
    takeStop(err);
    // A batch that failed on its own while the import's cancellation was on the way was still asked to stop.
    const cancelRequested =
      err instanceof ActivityFailure && err.retryState === 'CANCEL_REQUESTED' && CancellationScope.current().consideredCancelled ? err : undefined;
    if (isCancellation(err) || cancelRequested) {
      // Cancelled while waiting for credentials: the re-auth reason is no longer why it stopped.
      publish('cancelled', { completedAt: new Date().toISOString(), error: undefined, errorType: undefined, reauthBy: undefined });
      await notifyImportEvent(input, 'import.cancelled', status);
      throw cancelRequested ? new CancelledFailure('Import cancelled while its batch was failing', [], cancelRequested) : err;
    }
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      const message = err.cause.message;
      publish('failed', { error: message, errorType: err.cause.type ?? FAILURE_TYPES.importFailed, completedAt: new Date().toISOString() });
      await notifyImportEvent(input, 'import.failed', status);
      throw ApplicationFailure.create({ type: err.cause.type ?? FAILURE_TYPES.importFailed, message, nonRetryable: true });
    }
    // A failure published before it was thrown (the re-auth window ended) is told too.
    if (status.state === 'failed') await notifyImportEvent(input, 'import.failed', status);
    throw err;
  }
}
