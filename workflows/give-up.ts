/**
 * When an import stops waiting for its source. A batch retries with backoff for as long as its
 * source fails; every batch is scheduled with a schedule-to-close timeout of `IMPORT_GIVE_UP_AFTER`
 * (its window: every attempt, backoff and `Retry-After` wait included), and scheduled right after
 * the import's last progress. When the window ends:
 *
 * - the batch saved a page in it: that is progress, and the next batch gets a window of its own;
 * - it saved none, and its last attempt failed on the source (a limit, a timeout, a refused or
 *   dropped connection, a 5xx or 429, a body that is not a page): the import gives up, failing with
 *   that failure's type as its `errorType`;
 * - it saved none for another reason (no worker polled, a worker lacked its configuration, the
 *   store was down): not the source's doing, so a new window begins.
 *
 * Measured in the server's own timers, so it survives worker restarts and continue-as-new (which
 * only follows a completed batch, i.e. progress), and replays deterministically.
 *
 * Sandbox-safe: Temporal's workflow API and the contract only.
 */
import { ActivityFailure, ApplicationFailure, defaultPayloadConverter, TimeoutFailure } from '@temporalio/workflow';
import { afterStoppedBatch, BatchHeartbeat, type ImportCheckpoint } from './checkpoint';
import { FAILURE_TYPES, SOURCE_FAILURE_TYPES } from './contract';
import { failureConverter } from './failure-converter';
import { parseOrNull } from './parse';

/** How a batch's window ended, when it did. */
export type WindowEnd =
  /** The source failed for the whole window: the import fails with `type` and `message`. */
  | { outcome: 'give-up'; type: string; message: string; checkpoint: ImportCheckpoint }
  /** The batch saved pages, or the source is not to blame: the next batch gets a new window. */
  | { outcome: 'new-window'; why: string; checkpoint: ImportCheckpoint };

/** The checkpoint a timed-out batch last heartbeated, when that is past `batchStart`. */
function heartbeated(batchStart: ImportCheckpoint, details: unknown): ImportCheckpoint {
  const heartbeat = parseOrNull(BatchHeartbeat, details);
  return heartbeat.value !== null && heartbeat.value.checkpoint.pages > batchStart.pages ? heartbeat.value.checkpoint : batchStart;
}

/**
 * The failure the last attempt ended with, which the server attaches to a schedule-to-close timeout
 * as its cause. The SDK builds a `TimeoutFailure` without its cause, so it is read from the raw one.
 */
function lastAttemptOf(timeout: TimeoutFailure): Error | undefined {
  if (timeout.cause) return timeout.cause;
  const raw = timeout.failure?.cause;
  return raw ? failureConverter.failureToError(raw, defaultPayloadConverter) : undefined;
}

/**
 * How the window of the batch that began at `batchStart` ended, read from the failure it ended
 * with; `undefined` when `err` is not the end of a window (a failure for good, a cancellation).
 */
export function windowEnd(err: unknown, batchStart: ImportCheckpoint): WindowEnd | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const { cause } = err;
  let last: unknown;
  let checkpoint: ImportCheckpoint;
  if (cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_CLOSE') {
    // The window closed while an attempt ran or waited for its turn: the last failure, if any, says why.
    last = lastAttemptOf(cause);
    const reported = last instanceof ApplicationFailure ? afterStoppedBatch(batchStart, last.details).checkpoint : batchStart;
    const beat = heartbeated(batchStart, cause.lastHeartbeatDetails);
    checkpoint = beat.pages > reported.pages ? beat : reported;
  } else if (err.retryState === 'TIMEOUT' && cause instanceof ApplicationFailure && !cause.nonRetryable) {
    // The next attempt would begin past the window: the last attempt's failure ends it.
    last = cause;
    checkpoint = afterStoppedBatch(batchStart, cause.details).checkpoint;
  } else {
    return undefined;
  }
  if (checkpoint.pages > batchStart.pages) return { outcome: 'new-window', why: 'the batch saved pages before its window closed', checkpoint };
  if (last instanceof ApplicationFailure && last.type && SOURCE_FAILURE_TYPES.some((type) => type === last.type)) {
    return { outcome: 'give-up', type: last.type, message: last.message, checkpoint };
  }
  // Attempts that kept running out of time are a source too slow to finish a batch.
  if (last instanceof TimeoutFailure && last.timeoutType === 'START_TO_CLOSE') {
    return { outcome: 'give-up', type: FAILURE_TYPES.providerTooSlow, message: 'Every attempt of a batch ran out of time.', checkpoint };
  }
  const why = last instanceof Error ? `its last attempt ended with ${last instanceof ApplicationFailure ? (last.type ?? last.name) : last.name}` : 'no attempt ran';
  return { outcome: 'new-window', why: `${why}, which is not the source's doing`, checkpoint };
}
