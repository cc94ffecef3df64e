/**
 * The page gate: one per worker process, it bounds how many fetched source pages are being saved
 * there at once (the store and CPU work of a page) and decides whose page goes next. A page waits
 * on its provider under the connection gate (`connection-gate.ts`) and takes a page permit only once
 * it is here, so a slow provider never holds one.
 *
 * Why a gate and not more activity slots: a worker has one JavaScript thread. Ten large imports
 * running freely each keep two decoded pages alive and take turns on that thread, so every step of
 * an eleventh, small import (its fetch, its save, its heartbeat) waits behind about ten pages of
 * other people's work, and RSS grows with the number of imports. With the gate, a running batch that
 * has no permit costs a promise, and the thread only ever has a few pages to work on.
 *
 * Who goes next: least attained service. The waiter whose import has saved the fewest pages so far
 * (across batches: `checkpoint.pages`) gets the next permit; ties go first come, first served. A new
 * import's first page therefore overtakes imports that already have hundreds, so a small import
 * never queues behind huge ones, and huge ones share evenly among themselves.
 */

/** A right to one unit of a gate (a page in flight, a connection). Give it back once done, or abandoned. */
export interface PagePermit {
  /** Returns the permit. Idempotent: calling it again (say, in a `finally` after an error) does nothing. */
  release(): void;
}

/** What the gate is doing now, for metrics and tests. */
export interface PageGateState {
  permits: number;
  inFlight: number;
  waiting: number;
}

export interface PageGate {
  /**
   * Waits for a permit for a page of an import that has saved `attained` pages so far. Resolves at
   * once when a permit is free. When `signal` aborts first, the waiter leaves the queue and the
   * promise rejects with the signal's reason; a permit already granted is the caller's to release.
   */
  acquire(attained: number, signal?: AbortSignal): Promise<PagePermit>;
  state(): PageGateState;
}

interface Waiter {
  attained: number;
  /** How many later arrivals went ahead of it. */
  overtaken: number;
  grant: () => void;
}

/**
 * How many later arrivals may go ahead of one waiter before it keeps its place. Least attained
 * service alone could starve an import with many pages while new imports keep arriving (until its
 * batch's 30-minute timeout); this bound keeps its wait finite. Well above the number of imports a
 * worker runs at once, so that in practice the order stays least attained service.
 */
export const MAX_OVERTAKES = 256;

/**
 * A gate handing out `permits` pages at a time (at least 1), least attained service first;
 * `onChange` hears every change of its state (metrics).
 */
export function createPageGate(permits: number, onChange?: (state: PageGateState) => void, maxOvertakes: number = MAX_OVERTAKES): PageGate {
  if (!Number.isInteger(permits) || permits < 1) throw new RangeError(`a page gate needs at least 1 permit (got ${permits})`);
  let inFlight = 0;
  // Kept in order: fewest pages saved first, and among equals the earliest arrival. Few waiters (one
  // per running batch at most twice over), so a sorted array beats a heap on clarity.
  const queue: Waiter[] = [];
  const state = (): PageGateState => ({ permits, inFlight, waiting: queue.length });
  const changed = () => onChange?.(state());

  const permit = (): PagePermit => {
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        // The permit passes straight to the next waiter; only when nobody waits is it returned.
        const next = queue.shift();
        if (next) next.grant();
        else inFlight -= 1;
        changed();
      },
    };
  };

  return {
    state,
    acquire(attained, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      if (inFlight < permits) {
        inFlight += 1;
        changed();
        return Promise.resolve(permit());
      }
      return new Promise<PagePermit>((resolve, reject) => {
        const onAbort = () => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          changed();
          reject(signal?.reason as Error);
        };
        const waiter: Waiter = {
          attained,
          overtaken: 0,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(permit());
          },
        };
        // After every waiter with as few pages or fewer (least attained service, ties in arrival
        // order), and after every waiter that has been overtaken enough already.
        let at = queue.length;
        while (at > 0) {
          const ahead = queue[at - 1] as Waiter;
          if (ahead.attained <= attained || ahead.overtaken >= maxOvertakes) break;
          at -= 1;
        }
        for (let behind = at; behind < queue.length; behind += 1) (queue[behind] as Waiter).overtaken += 1;
        queue.splice(at, 0, waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
        changed();
      });
    },
  };
}

/**
 * The permits one batch holds of a gate (pages, connections): acquired through it, released when
 * done, and all of them released by {@link PermitScope.close} when the batch ends however it ends (a
 * failed save leaves the page fetched ahead holding one). A permit granted after `close` is returned
 * at once, so a late grant to a finished batch leaks nothing.
 */
export interface PermitScope<Claim> {
  acquire(claim: Claim): Promise<PagePermit>;
  close(): void;
}

/** A {@link PermitScope} on `gate`; its waits end with `signal` (the batch's cancellation or end). */
export function permitScope<Claim>(gate: { acquire(claim: Claim, signal?: AbortSignal): Promise<PagePermit> }, signal: AbortSignal): PermitScope<Claim> {
  const held = new Set<PagePermit>();
  let closed = false;
  return {
    async acquire(claim) {
      const granted = await gate.acquire(claim, signal);
      if (closed) {
        granted.release();
        throw signal.reason ?? new Error('the batch ended before its page permit was granted');
      }
      held.add(granted);
      return {
        release() {
          held.delete(granted);
          granted.release();
        },
      };
    },
    close() {
      closed = true;
      for (const granted of held) granted.release();
      held.clear();
    },
  };
}
