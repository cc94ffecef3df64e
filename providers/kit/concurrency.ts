/**
 * A bound on how many requests a source has in flight at once, for providers that limit concurrent
 * requests (Microsoft Graph: 4 per mailbox). Calls beyond the bound wait their turn, first come,
 * first served.
 */

export interface ConcurrencyLimit {
  /** The most calls of {@link run} in progress at once. */
  readonly limit: number;
  /**
   * Runs `task` once fewer than {@link limit} others are running. When `signal` aborts while the
   * call still waits, it leaves the queue and rejects with the signal's reason; a task already
   * started is the task's to abort.
   */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** A {@link ConcurrencyLimit} of `limit` (a whole number, 1 or more). */
export function createConcurrencyLimit(limit: number): ConcurrencyLimit {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a concurrency limit needs at least 1 slot (got ${limit})`);
  let running = 0;
  const waiting: Array<() => void> = [];

  /** Resolves once a slot is this caller's; the caller must {@link leave} it. */
  function enter(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (running < limit) {
      running += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = waiting.indexOf(grant);
        if (at >= 0) waiting.splice(at, 1);
        reject(signal?.reason as Error);
      };
      // The slot passes straight from the caller leaving it: `running` does not change.
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  function leave(): void {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }

  return {
    limit,
    async run(task, signal) {
      await enter(signal);
      try {
        return await task();
      } finally {
        leave();
      }
    },
  };
}
