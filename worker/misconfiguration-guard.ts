/**
 * A worker that lacks part of its configuration (the key an import's credentials were sealed with)
 * must not keep taking tasks it cannot do: each one it takes waits for a retry that could have gone
 * to a worker that can. After a few such failures it stops polling, and its tasks go elsewhere.
 */

/** Failures of this kind before a worker stops polling: a few, so one odd import cannot stop it. */
export const MISCONFIGURED_FAILURES_BEFORE_STOP = 3;

export interface MisconfigurationGuardOptions {
  /** Stops the worker: shuts it down gracefully (it is called once). */
  stop: (reason: string) => void;
  /** Failures before {@link MisconfigurationGuardOptions.stop}; {@link MISCONFIGURED_FAILURES_BEFORE_STOP} by default. */
  limit?: number;
}

export interface MisconfigurationGuard {
  /** For `ActivityDeps.onMisconfigured`: counts the failure, and stops the worker at the limit. */
  report(problem: string): void;
  /** Failures reported so far. */
  readonly count: number;
  /** Whether the guard has stopped the worker. */
  readonly stopped: boolean;
}

export function createMisconfigurationGuard({
  stop,
  limit = MISCONFIGURED_FAILURES_BEFORE_STOP,
}: MisconfigurationGuardOptions): MisconfigurationGuard {
  let count = 0;
  let stopped = false;
  return {
    report(problem) {
      count += 1;
      if (stopped || count < limit) return;
      stopped = true;
      stop(
        `${count} import batches failed because this worker is misconfigured (last: ${problem}). ` +
          'It stops polling so that workers configured correctly take its tasks; fix its configuration and start it again.',
      );
    },
    get count() {
      return count;
    },
    get stopped() {
      return stopped;
    },
  };
}
