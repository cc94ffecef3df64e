/**
 * The rate governor: every request a source sends to its provider goes through {@link RequestGovernor.run}
 * with the budget keys it counts against (`./budgets.ts`), finest first and the app's last. Before
 * the request: a concurrency lease on each key that has a concurrency, and a slot of each key's rate
 * (configured, learned, or none); after it, a refusal (429, or 503 with `Retry-After`) closes the
 * key the provider named for every worker until the time it said, and the request is sent again
 * once it reopens. The state is shared through the store (`db/rate-budgets.ts`), so the budget is
 * one for the whole deployment, not one per worker.
 *
 * Fair shares: a credential takes its next slot of the app's budget only once its last one has
 * come, so each credential with requests waiting gets one slot per round, however many requests it
 * has in flight; a credential alone still gets the whole budget.
 *
 * Waits happen inside the request, with the batch heartbeating meanwhile; one longer than
 * `maxWaitMs` fails the request as a retryable `ProviderThrottled` whose `nextRetryDelay` is the
 * wait, so the batch gives its worker slot back instead.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { ApplicationFailure } from '@temporalio/common';
import type { BudgetStore, ReserveSpec } from '../../db/types';
import { FAILURE_TYPES } from '../../workflows/contract';
import type { Budget, BudgetKey } from './budgets';
import { failure } from './failures';

/** What an answer says about the budget: the provider refused the request on one of its keys. */
export interface Refusal {
  /** The kind of the key it refused on (`user`, `app`…): that key closes. */
  kind: string;
  status: 429 | 503;
  /** The answer's `Retry-After`, ms; `undefined` when it named none. */
  retryAfterMs: number | undefined;
}

/** One request to a provider, as a source hands it to the governor. */
export interface GovernedRequest<T> {
  /** The keys it counts against, finest first (the credential's), the app's last. */
  keys: readonly BudgetKey[];
  /** Sends it; never called before every key has granted it. */
  send(): Promise<T>;
  /** Whether `answer` is a refusal ({@link Refusal}), or `null`. */
  refusal(answer: T): Refusal | null;
  /** The caller's cancellation: waits end with its reason. */
  signal?: AbortSignal;
}

export interface RequestGovernor {
  /**
   * Sends `request` once its budgets allow, again after a refusal once the key reopens, and
   * resolves to the last answer: a refused one when refusals go on or the key closes for longer
   * than the governor waits (the source turns it into its failure, `Retry-After` included). Rejects
   * with a retryable `ProviderThrottled` when a wait before sending would be that long, and with
   * the signal's reason when it aborts.
   */
  run<T>(request: GovernedRequest<T>): Promise<T>;
}

/** No governor (`PROVIDER_GOVERNOR=off`, and sources opened outside a worker): each request is sent as it comes. */
export const ungoverned: RequestGovernor = { run: (request) => request.send() };

/** What the governor reports, by provider and key kind only (never a key: each would be a new series). */
export interface GovernorObserver {
  /** A request passed a key's budget after `waitedMs` (0 when it did not wait). */
  granted(provider: string, kind: string, waitedMs: number): void;
  /** A request starts (`+1`) or stops (`-1`) waiting on a key. */
  waiting(provider: string, kind: string, delta: 1 | -1): void;
  /** The provider answered 429 on a key. */
  throttled(provider: string, kind: string): void;
}

export interface GovernorOptions {
  state: Pick<BudgetStore, 'reserve' | 'close' | 'closedUntil' | 'acquireSlot' | 'leaveQueue' | 'renewSlot' | 'releaseSlot'>;
  observer?: GovernorObserver;
  /** The longest a request waits before it is sent; beyond, it fails as `ProviderThrottled`. */
  maxWaitMs: number;
  /** How long a concurrency lease lives unless renewed: a crashed worker's comes back this long after its last renewal. */
  leaseTtlMs: number;
  /** How long a 429 without `Retry-After` closes its key. */
  refusalPauseMs: number;
  /** Refusals of one request the governor sends again after; the last is handed back. */
  maxRefusals: number;
  /** After a learned rate is lowered, it climbs back by this share of itself per second of busy use. */
  increaseFraction: number;
  /** Where lost leases and failed releases are reported. */
  warn?: (message: string) => void;
}

/** A lease's renewal comes at a third of its lifetime: two can be late before it expires. */
const RENEWALS_PER_TTL = 3;
/**
 * A poll for a free concurrency slot: from this, doubling, to the max. Slots held by other processes
 * free on their own; the max stays well under the store's `WAITER_STALE_MS`, so a waiter keeps its
 * place in line.
 */
const SLOT_POLL_MS = { min: 10, max: 100 } as const;

function specOf(budget: Budget): ReserveSpec {
  if (budget.rate === null) return { mode: 'none' };
  if (budget.rate === 'learn') return { mode: 'learn' };
  return { mode: 'fixed', intervalMs: budget.rate.perMs / budget.rate.count };
}

/** Resolves after `ms` (rounded up: a timer fires on whole milliseconds), or rejects with `signal`'s reason when it aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.ceil(ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, or the signal's reason once it aborts. */
function until<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/** A queue of `limit` places, first come first served: how many of this process's requests may hold or seek a key's leases. */
class LocalSlots {
  #held = 0;
  readonly #waiting: Array<() => void> = [];
  constructor(readonly limit: number) {}

  async enter(signal?: AbortSignal): Promise<void> {
    if (this.#held < this.limit) {
      this.#held += 1;
      return;
    }
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => (grant = resolve));
    this.#waiting.push(grant);
    try {
      await until(granted, signal);
    } catch (error) {
      const at = this.#waiting.indexOf(grant);
      // Granted as it aborted: the place is ours, and goes straight back.
      if (at >= 0) this.#waiting.splice(at, 1);
      else this.leave();
      throw error;
    }
  }

  leave(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#held -= 1;
  }
}

/** What a granted request holds until its answer is judged. */
interface Grant {
  /** Each key's learning epoch when its slot was reserved, by key id. */
  epochs: Map<string, number>;
  release(): Promise<void>;
}

/** The governor of one worker process, over the store's shared state. */
export function createRequestGovernor(options: GovernorOptions): RequestGovernor {
  const { state, observer, maxWaitMs, leaseTtlMs } = options;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const holderBase = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  let leases = 0;
  const localSlots = new Map<string, LocalSlots>();
  /** Per credential key: resolves once that credential's last slot of the app budget has come. */
  const turns = new Map<string, Promise<void>>();

  function throttled(key: BudgetKey, waitMs: number): ApplicationFailure {
    const seconds = Math.ceil(waitMs / 1000);
    return failure(
      FAILURE_TYPES.providerThrottled,
      `Requests to ${key.provider} on its ${key.kind} budget have to wait ${seconds} s (the provider asked to, or the budget is spent). Retrying after ${seconds} s.`,
      { nextRetryDelay: waitMs },
    );
  }

  /** Waits `ms` on `key`, counted as waiting in the metrics and added to `waited`. */
  async function waitOn(key: BudgetKey, ms: number, waited: Map<string, number>, signal?: AbortSignal): Promise<void> {
    observer?.waiting(key.provider, key.kind, 1);
    const started = performance.now();
    try {
      await sleep(ms, signal);
    } finally {
      observer?.waiting(key.provider, key.kind, -1);
      waited.set(key.id, (waited.get(key.id) ?? 0) + performance.now() - started);
    }
  }

  /** The turn of `credential` at the app's budget: resolves to its release once every earlier request of it has had its slot. */
  async function takeTurn(credential: string, signal?: AbortSignal): Promise<() => void> {
    const previous = turns.get(credential) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    turns.set(credential, mine);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      // Never ahead of the request before: a turn given up early still ends after it.
      void previous.then(() => {
        done();
        if (turns.get(credential) === mine) turns.delete(credential);
      });
    };
    try {
      await until(previous, signal);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /** A lease on one of `key`'s concurrency slots, renewed until released; resolves to its release. */
  async function lease(key: BudgetKey, limit: number, waited: Map<string, number>, signal?: AbortSignal): Promise<() => Promise<void>> {
    let local = localSlots.get(key.id);
    if (local === undefined || local.limit !== limit) localSlots.set(key.id, (local = new LocalSlots(limit)));
    const slots = local;
    observer?.waiting(key.provider, key.kind, 1);
    let slot: number | null = null;
    const holder = `${holderBase}:${(leases += 1)}`;
    const started = performance.now();
    try {
      await slots.enter(signal);
      try {
        for (let delay: number = SLOT_POLL_MS.min; ; delay = Math.min(delay * 2, SLOT_POLL_MS.max)) {
          slot = await state.acquireSlot(key.id, limit, holder, leaseTtlMs);
          if (slot !== null) break;
          // Jitter, so processes polling one key do not keep meeting.
          await sleep(delay / 2 + Math.random() * delay, signal);
        }
      } catch (error) {
        slots.leave();
        await state.leaveQueue(key.id, holder).catch(() => undefined);
        throw error;
      }
    } finally {
      observer?.waiting(key.provider, key.kind, -1);
      waited.set(key.id, (waited.get(key.id) ?? 0) + performance.now() - started);
    }
    const held = slot;
    const renewal = setInterval(() => {
      state.renewSlot(key.id, held, holder, leaseTtlMs).then(
        (kept) => {
          if (!kept) warn(`governor: a ${key.provider} ${key.kind} concurrency lease expired before its request ended (was the process stalled?)`);
        },
        (error: unknown) => warn(`governor: could not renew a ${key.provider} ${key.kind} lease: ${String(error)}`),
      );
    }, leaseTtlMs / RENEWALS_PER_TTL);
    return async () => {
      clearInterval(renewal);
      try {
        await state
          .releaseSlot(key.id, held, holder)
          .catch((error: unknown) => warn(`governor: could not release a ${key.provider} ${key.kind} lease (it expires on its own): ${String(error)}`));
      } finally {
        // Only once the store has the slot back: the next request of this process finds it free
        // instead of polling for it.
        slots.leave();
      }
    };
  }

  /**
   * Every key's lease, then every key's slot in order, sleeping until each; after any sleep, once
   * more that none of the keys closed meanwhile.
   */
  async function acquire(keys: readonly BudgetKey[], signal?: AbortSignal): Promise<Grant> {
    const releases: Array<() => Promise<void>> = [];
    const epochs = new Map<string, number>();
    const release = async () => {
      for (const undo of releases.splice(0).reverse()) await undo();
    };
    const credential = keys.find((key) => key.scope === 'credential');
    const waited = new Map<string, number>();
    try {
      for (const key of keys) {
        if (key.budget.concurrency !== null) releases.push(await lease(key, key.budget.concurrency, waited, signal));
      }
      for (;;) {
        let slept = false;
        /** When the last of this request's slots starts, by the database's clock. */
        let start = 0;
        for (const key of keys) {
          const endTurn = key.scope === 'app' && credential !== undefined ? await takeTurn(credential.id, signal) : undefined;
          try {
            const reservation = await state.reserve(key.id, specOf(key.budget), maxWaitMs);
            epochs.set(key.id, reservation.epoch);
            if (!reservation.granted) throw throttled(key, reservation.waitMs);
            start = Math.max(start, reservation.reservedAt + reservation.waitMs);
            if (reservation.waitMs > 0) {
              slept = true;
              await waitOn(key, reservation.waitMs, waited, signal);
            }
          } finally {
            // The credential's next request may queue for the app's budget once this one's slot has come.
            endTurn?.();
          }
        }
        if (!slept) break;
        // A closure written while this request slept for its slots (one known when they were
        // taken ends before they start): it waits that out too, then takes new slots.
        const closed = await state.closedUntil(keys.map((key) => key.id));
        if (closed.until <= start) break;
        const last = keys[keys.length - 1] as BudgetKey;
        const remaining = closed.until - closed.now;
        if (remaining > maxWaitMs) throw throttled(last, remaining);
        await waitOn(last, remaining, waited, signal);
      }
    } catch (error) {
      await release();
      throw error;
    }
    for (const key of keys) observer?.granted(key.provider, key.kind, waited.get(key.id) ?? 0);
    return { epochs, release };
  }

  /** Closes the key `refusal` names; resolves to how long it stays closed. */
  async function close(keys: readonly BudgetKey[], refusal: Refusal, grant: Grant): Promise<number> {
    const key = keys.find((candidate) => candidate.kind === refusal.kind) ?? (keys[keys.length - 1] as BudgetKey);
    if (refusal.status === 429) observer?.throttled(key.provider, key.kind);
    const forMs = refusal.retryAfterMs ?? options.refusalPauseMs;
    return state.close(key.id, {
      forMs,
      by: refusal.status,
      learn: key.budget.rate === 'learn',
      epoch: grant.epochs.get(key.id) ?? -1,
      increaseFraction: options.increaseFraction,
    });
  }

  return {
    async run(request) {
      for (let refusals = 1; ; refusals += 1) {
        const grant = await acquire(request.keys, request.signal);
        let answer: Awaited<ReturnType<typeof request.send>>;
        let closedMs: number;
        try {
          answer = await request.send();
          const refusal = request.refusal(answer);
          // A 503 that names no time is an outage, not a budget: the source reports it as one.
          if (refusal === null || (refusal.status === 503 && refusal.retryAfterMs === undefined)) return answer;
          // Closed before the lease goes back, so no request of any worker slips in between.
          closedMs = await close(request.keys, refusal, grant);
        } finally {
          await grant.release();
        }
        if (refusals >= options.maxRefusals || closedMs > maxWaitMs) return answer;
      }
    },
  };
}
