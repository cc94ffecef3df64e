/**
 * The connection gate: one per worker process, it bounds how many requests the process waits on at
 * once (a page being fetched from its provider, a webhook being delivered) and shares them out
 * fairly, by tenant first and then by import.
 *
 * Why apart from the page gate (`page-gate.ts`): waiting on a network costs a socket and a promise,
 * not the worker's thread, and a slow server can make that wait last minutes. Were the wait to hold
 * a permit for store and CPU work, a tenant whose sources dribble would hold every such permit and
 * every other tenant's pages would wait behind it. So a page holds a connection while it is fetched
 * and a page permit only once it is here, to be saved.
 *
 * Who goes next, when a connection frees: the waiter whose tenant holds the fewest connections now,
 * then (inside that tenant) whose import holds the fewest, then whoever came first. A tenant with 40
 * stuck imports therefore gets the same share as a tenant with one. And no tenant holds more than
 * `perTenant` at once, so a tenant whose connections all stall still leaves the rest to the others,
 * however long its stalls last.
 */
import type { PagePermit } from './page-gate';

/** Whose wait: a tenant, and what inside it (an import's key, a webhook delivery). */
export interface ConnectionClaim {
  tenant: string;
  key: string;
}

/** What the gate is doing now, for metrics and tests. */
export interface ConnectionGateState {
  connections: number;
  perTenant: number;
  inUse: number;
  waiting: number;
}

export interface ConnectionGate {
  /**
   * Waits for a connection for `claim`. Resolves at once when one is free and the tenant is under
   * its bound. When `signal` aborts first, the waiter leaves the queue and the promise rejects with
   * the signal's reason; a connection already granted is the caller's to release.
   */
  acquire(claim: ConnectionClaim, signal?: AbortSignal): Promise<PagePermit>;
  state(): ConnectionGateState;
  /** Connections `tenant` holds now. */
  heldBy(tenant: string): number;
}

interface Waiter {
  claim: ConnectionClaim;
  /** Arrival order: ties go first come, first served. */
  seq: number;
  grant: () => void;
}

/** How big a {@link createConnectionGate} gate is. */
export interface ConnectionLimits {
  /** Connections in all (`WORKER_CONNECTIONS`), at least 1. */
  connections: number;
  /** The most one tenant holds at once (`WORKER_CONNECTIONS_PER_TENANT`), from 1 to `connections`. */
  perTenant: number;
}

const claimKey = ({ tenant, key }: ConnectionClaim) => JSON.stringify([tenant, key]);

/** Connections the waiter's tenant holds, connections its claim holds, its arrival: lower goes first. */
type Rank = [number, number, number];
const compareRanks = (a: Rank, b: Rank) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** A gate of `connections`, at most `perTenant` per tenant; `onChange` hears every change of its state (metrics). */
export function createConnectionGate({ connections, perTenant }: ConnectionLimits, onChange?: (state: ConnectionGateState) => void): ConnectionGate {
  if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`a connection gate needs at least 1 connection (got ${connections})`);
  if (!Number.isInteger(perTenant) || perTenant < 1 || perTenant > connections) {
    throw new RangeError(`a tenant's connections must be from 1 to ${connections} (got ${perTenant})`);
  }
  let inUse = 0;
  let arrivals = 0;
  const byTenant = new Map<string, number>();
  const byClaim = new Map<string, number>();
  // Few waiters (a batch's page or two, a delivery): a scan per grant is clearer than an index.
  const queue: Waiter[] = [];
  const state = (): ConnectionGateState => ({ connections, perTenant, inUse, waiting: queue.length });
  const count = (map: Map<string, number>, key: string, by: number) => {
    const next = (map.get(key) ?? 0) + by;
    if (next === 0) map.delete(key);
    else map.set(key, next);
  };

  const take = (claim: ConnectionClaim): PagePermit => {
    inUse += 1;
    count(byTenant, claim.tenant, 1);
    count(byClaim, claimKey(claim), 1);
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        inUse -= 1;
        count(byTenant, claim.tenant, -1);
        count(byClaim, claimKey(claim), -1);
        dispatch();
        onChange?.(state());
      },
    };
  };

  /** The waiter to serve next (its index; -1 for none): fewest held by its tenant, then by its claim, then the earliest. */
  const next = (): number => {
    let best = -1;
    let bestRank: Rank | undefined;
    for (const [at, waiter] of queue.entries()) {
      const tenantHolds = byTenant.get(waiter.claim.tenant) ?? 0;
      if (tenantHolds >= perTenant) continue;
      const rank: Rank = [tenantHolds, byClaim.get(claimKey(waiter.claim)) ?? 0, waiter.seq];
      if (bestRank === undefined || compareRanks(rank, bestRank) < 0) {
        best = at;
        bestRank = rank;
      }
    }
    return best;
  };

  /** Grants while a connection is free and someone may have it. */
  function dispatch(): void {
    while (inUse < connections) {
      const at = next();
      if (at < 0) return;
      const [waiter] = queue.splice(at, 1) as [Waiter];
      waiter.grant();
    }
  }

  return {
    state,
    heldBy: (tenant) => byTenant.get(tenant) ?? 0,
    acquire(claim, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      return new Promise<PagePermit>((resolve, reject) => {
        const onAbort = () => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          onChange?.(state());
          reject(signal?.reason as Error);
        };
        const waiter: Waiter = {
          claim,
          seq: arrivals++,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(take(claim));
          },
        };
        queue.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
        dispatch();
        onChange?.(state());
      });
    },
  };
}
