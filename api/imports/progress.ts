/**
 * What makes a status explain itself: how fast the import goes (`rate`, `etaSeconds`) and, when it
 * is not moving, why (`waiting`). The rate comes from the progress samples the workflow keeps (its
 * batch completions of the last minute); the reason from Temporal's own record of the pending batch
 * (attempt, last failure, next attempt time) and the workflow's state.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { FAILURE_TYPES, type ImportStatus, type ProgressSamples } from '../../workflows/contract';
import type { Waiting, WaitingReason } from '../schemas';

/** `rate` is contacts saved per second over this window. */
export const RATE_WINDOW_MS = 60_000;

/**
 * Contacts saved per second over the last minute (or since the samples begin, for a younger
 * import), one decimal; `undefined` without samples.
 */
export function rateOf(samples: ProgressSamples, saved: number, now: number): number | undefined {
  const first = samples[0];
  if (!first) return undefined;
  const windowStart = now - RATE_WINDOW_MS;
  // Saved moves in steps (a batch at a time): the count at the window's start is the last sample
  // taken at or before it.
  let base = first;
  for (const sample of samples) if (sample[0] <= windowStart) base = sample;
  const seconds = (now - Math.max(base[0], windowStart)) / 1000;
  if (seconds <= 0) return 0;
  return Math.round((Math.max(0, saved - base[1]) / seconds) * 10) / 10;
}

/** Seconds left at `rate`, while the import runs, is not waiting and has a known total. */
export function etaOf(status: ImportStatus, rate: number | undefined, waiting: Waiting | undefined): number | undefined {
  if (status.state !== 'running' || waiting || status.total === null || !rate) return undefined;
  return Math.ceil(Math.max(0, status.total - status.saved - status.rejected) / rate);
}

/** How each failure type of a retried batch reads as a reason to wait. */
const REASON_OF_FAILURE: Record<string, WaitingReason> = {
  [FAILURE_TYPES.providerThrottled]: 'provider_throttled',
  [FAILURE_TYPES.providerUnavailable]: 'provider_unavailable',
  [FAILURE_TYPES.providerTooSlow]: 'provider_too_slow',
  [FAILURE_TYPES.responseTooLarge]: 'response_too_large',
  [FAILURE_TYPES.providerBadResponse]: 'provider_unavailable',
  [FAILURE_TYPES.providerUnauthenticated]: 'needs_reauth',
  [FAILURE_TYPES.workerMisconfigured]: 'worker_unavailable',
};

const MESSAGES: Record<WaitingReason, string> = {
  provider_throttled: 'The provider is limiting requests',
  provider_unavailable: 'The provider is not answering',
  provider_too_slow: 'The provider answers too slowly: a request passed its time limit',
  response_too_large: 'The provider sent an answer larger than this service reads (PROVIDER_MAX_RESPONSE_BYTES)',
  needs_reauth: 'The provider refused the credentials: the user has to reconnect',
  paused: 'Paused: resume to continue',
  worker_unavailable: 'No worker is running this import; it continues when one is back',
};

/** A `waiting` of `reason`, since the status last moved, with a message a person can act on. */
export function waiting(
  reason: WaitingReason,
  status: Pick<ImportStatus, 'updatedAt'>,
  retry: { until?: string; attempt?: number } = {},
): Waiting {
  const next =
    retry.until !== undefined
      ? `; retrying at ${retry.until}${retry.attempt !== undefined ? ` (attempt ${retry.attempt})` : ''}`
      : retry.attempt !== undefined
        ? `; retrying (attempt ${retry.attempt})`
        : '';
  return { reason, since: status.updatedAt, ...retry, message: MESSAGES[reason] + next };
}

/** `{seconds, nanos}` (protobuf's Timestamp, as `describe` gives it) as ISO text. */
function isoOf(timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!timestamp || timestamp.seconds === undefined || timestamp.seconds === null) return undefined;
  const ms = Number(timestamp.seconds) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : undefined;
}

/**
 * Why an import that Temporal says is running is not making progress, from the workflow's state and
 * its pending batch; `undefined` while it moves. A batch counts as waiting when it failed before and
 * its retry has not saved a page since it began: `savedAt` (when the import's last page was saved,
 * from the store; `null` for never) says so. A batch heartbeats while it waits on a slow page too,
 * so only without word from the store does a heartbeat since the retry began count as moving.
 */
export function waitingOf(
  status: ImportStatus,
  description: WorkflowExecutionDescription | undefined,
  savedAt?: string | null,
): Waiting | undefined {
  if (status.state === 'needs_reauth') return waiting('needs_reauth', status);
  if (status.state === 'paused') return waiting('paused', status);
  if (status.state !== 'running' || description?.status.name !== 'RUNNING') return undefined;
  const pending = description.raw.pendingActivities?.[0];
  const failure = pending?.lastFailure;
  if (!pending || !failure || (pending.attempt ?? 1) <= 1) return undefined;
  const startedAt = isoOf(pending.lastStartedTime);
  const movedAt = savedAt === undefined ? isoOf(pending.lastHeartbeatTime) : savedAt;
  const attemptRunning = pending.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  if (attemptRunning && movedAt && startedAt && Date.parse(movedAt) > Date.parse(startedAt)) return undefined;
  // A heartbeat timeout is a worker that died mid-batch: the retry waits for a live one.
  const reason = failure.timeoutFailureInfo
    ? 'worker_unavailable'
    : (REASON_OF_FAILURE[failure.applicationFailureInfo?.type ?? ''] ?? 'provider_unavailable');
  const until = attemptRunning ? undefined : isoOf(pending.nextAttemptScheduleTime);
  return waiting(reason, status, { ...(until ? { until } : {}), attempt: pending.attempt ?? 2 });
}
