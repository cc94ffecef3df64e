/** The faults the demo provider can inject (both APIs), and their checks. */

export type DemoFaultKind = '429' | '500' | '503' | 'drop';

export interface DemoFaults {
  /** Successive requests get these responses before normal service resumes, consumed in order, e.g. ['429','500','drop','429'] */
  script?: DemoFaultKind[];
  /** Every Nth request (counting all requests, see `stats.requests`) fails with this kind, e.g. { every: 5, kind: '500' } */
  every?: { every: number; kind: DemoFaultKind };
  /** Retry-After seconds sent with 429/503 (default 1). */
  retryAfterSeconds?: number;
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
  return { ...faults, script: faults.script ? [...faults.script] : undefined };
}
