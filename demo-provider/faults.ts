/** The faults the demo provider can inject (both APIs), their checks, and its app-wide quota. */
import { parseBudget, type RateLimit } from '../providers/kit/budgets';

/** `429` names a user's (or mailbox's) limit, as the APIs' most common 429 does; `quota` the app's. */
export type DemoFaultKind = '429' | 'quota' | '500' | '503' | 'drop';

export interface DemoFaults {
  /** Successive requests get these responses before normal service resumes, consumed in order, e.g. ['429','500','drop','429'] */
  script?: DemoFaultKind[];
  /** Every Nth request (counting all requests, see `stats.requests`) fails with this kind, e.g. { every: 5, kind: '500' } */
  every?: { every: number; kind: DemoFaultKind };
  /** Retry-After seconds sent with 429/503 (default 1). */
  retryAfterSeconds?: number;
  /**
   * An app-wide quota on contact requests, in the budget syntax's rate (`20/s`, `600/min`): a token
   * bucket holding one second's worth. Beyond it, a 429 naming the app's quota, with `Retry-After`
   * the whole seconds until the next request would pass (at least 1).
   */
  appQuota?: string;
  /** Delay every page by this many ms (slow pages). */
  slowMs?: number;
  /** Tokens that are revoked: 401 UNAUTHENTICATED. */
  revokedTokens?: string[];
  /**
   * Hold every request for a page starting at this offset or later until the faults are changed
   * again (`configure({ faults })`). Lets tests stop an import at an exact page without timing.
   */
  holdFromOffset?: number;
  /**
   * People (by 0-based index) served malformed, as a provider bug would send them (People API:
   * without their `etag`; Graph: `emailAddresses` not a list): the client must set each aside and
   * import the rest of its page.
   */
  malformedPeople?: number[];
}

/** `faults` checked, and copied so that consuming the script leaves the caller's array alone. */
export function validateFaults(faults: DemoFaults): DemoFaults {
  const every = faults.every;
  if (every && (!Number.isInteger(every.every) || every.every < 1)) {
    throw new RangeError(`faults.every.every must be a positive integer (got ${every.every})`);
  }
  if (faults.slowMs !== undefined && (!Number.isFinite(faults.slowMs) || faults.slowMs < 0)) {
    throw new RangeError(`faults.slowMs must be a number of milliseconds, 0 or more (got ${faults.slowMs})`);
  }
  if (faults.holdFromOffset !== undefined && (!Number.isInteger(faults.holdFromOffset) || faults.holdFromOffset < 0)) {
    throw new RangeError(`faults.holdFromOffset must be a whole number, 0 or more (got ${faults.holdFromOffset})`);
  }
  if (faults.retryAfterSeconds !== undefined && (!Number.isInteger(faults.retryAfterSeconds) || faults.retryAfterSeconds < 0)) {
    throw new RangeError(`faults.retryAfterSeconds must be a whole number of seconds, 0 or more (got ${faults.retryAfterSeconds})`);
  }
  if (faults.malformedPeople?.some((i) => !Number.isInteger(i) || i < 0)) {
    throw new RangeError('faults.malformedPeople must list whole numbers, 0 or more (indices of people)');
  }
  if (faults.appQuota !== undefined) quotaRate(faults.appQuota);
  return { ...faults, script: faults.script ? [...faults.script] : undefined };
}

/** `appQuota` as a rate; throws a RangeError for anything but a rate. */
export function quotaRate(quota: string): RateLimit {
  let rate: ReturnType<typeof parseBudget>['rate'];
  try {
    rate = parseBudget('faults.appQuota', quota).rate;
  } catch (error) {
    throw new RangeError(error instanceof Error ? error.message : String(error));
  }
  if (rate === null || rate === 'learn') throw new RangeError(`faults.appQuota must be a rate such as 20/s (got "${quota}")`);
  return rate;
}

/** What the quota says of one request: it passes, or the whole seconds until one would. */
export type QuotaAnswer = { passed: true } | { passed: false; retryAfterSeconds: number };

/** A token bucket of one second's worth of `rate`, full at first. */
export function quotaBucket(rate: RateLimit): { take(): QuotaAnswer } {
  const perMs = rate.count / rate.perMs;
  const capacity = Math.max(1, Math.floor(perMs * 1000));
  let tokens = capacity;
  let at = Date.now();
  return {
    take() {
      const now = Date.now();
      tokens = Math.min(capacity, tokens + (now - at) * perMs);
      at = now;
      if (tokens >= 1) {
        tokens -= 1;
        return { passed: true };
      }
      return { passed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)) };
    },
  };
}
