/**
 * The rate governor's shared state (`providers/kit/governor.ts`): one row per budget key, updated
 * by single atomic statements, so every worker of a deployment spends the same budget.
 *
 * - **Rate**: a reservation queue, GCRA-style. `tat` is when the key's next request may start; a
 *   grant takes the later of `tat`, the closure and now as its slot and moves `tat` one interval
 *   on, in one `INSERT … ON CONFLICT … DO UPDATE … RETURNING`. Every caller gets a slot of its own,
 *   first come first served across processes, and sleeps until it: no caller polls, and no two share
 *   a slot. A slot further away than the caller will wait is not taken.
 * - **Closure**: a `Retry-After` sets `closed_until`; grants start after it.
 * - **Learning**: with no rate configured, nothing is held back until the first 429; that sets the
 *   interval to twice the last second's spacing (half the rate that was refused); each later 429 of
 *   a request granted since the last decrease (`learn_epoch`) doubles it again; each grant while the
 *   key is busy raises the rate by `increase / rate`, so it climbs by `increase` requests/s every
 *   second.
 * - **Concurrency**: `limit` slot rows per key; taking one is an `UPDATE` of a free (expired) slot,
 *   held for a short TTL that its holder renews while the request runs. A crashed worker's slot
 *   frees itself when its TTL passes. Callers that found none free queue by the time they first
 *   asked (`rate_slot_waiters`); one that has waited past a short grace goes before later callers,
 *   so a worker that releases and asks again at once cannot starve another.
 *
 * Times are the database's (`now`), so workers on machines whose clocks differ still agree.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { oneSqliteWriterAtATime } from './changes';
import type { StoreDatabase } from './schema';

/** How a key's slots are spaced. */
export type ReserveSpec =
  /** A configured rate: `intervalMs` between request starts. */
  | { mode: 'fixed'; intervalMs: number }
  /** The interval learned from the provider's 429s; none until the first. */
  | { mode: 'learn' }
  /** No rate: only a closure holds requests back. */
  | { mode: 'none' };

/** What {@link BudgetStore.reserve} came to. */
export interface Reservation {
  /** Whether a slot was taken: `false` when the next one is further away than the caller would wait. */
  granted: boolean;
  /** From now until the slot starts (granted), or until the next free slot (not granted); 0 or more. */
  waitMs: number;
  /** The database's time of the reservation, ms. */
  reservedAt: number;
  /** The key's learning epoch when reserved: a 429 of this request lowers a learned rate only if no decrease came since. */
  epoch: number;
}

/** Why a key is closed, for an import's status. */
export interface BudgetWait {
  /** ISO time the key reopens. */
  until: string;
  /** `throttled`: a 429 closed it; `unavailable`: a 503 with `Retry-After`. */
  cause: 'throttled' | 'unavailable';
}

/** The rate governor's state: every worker and the API share it through the store. */
export interface BudgetStore {
  /** Takes the next slot of `key` if it starts within `maxWaitMs`. */
  reserve(key: string, spec: ReserveSpec, maxWaitMs: number): Promise<Reservation>;
  /**
   * Closes `key` for `forMs` from now (a `Retry-After`), by a 429 or a 503. With `learn`, a 429
   * also lowers the key's learned rate, unless it was lowered since the request was granted (in
   * `epoch`). Resolves to how long the key stays closed, ms.
   */
  close(key: string, closure: { forMs: number; by: 429 | 503; learn: boolean; epoch: number; increaseFraction: number }): Promise<number>;
  /** The most distant closure among `keys` (0 when none was ever closed) and the database's time now, both ms. */
  closedUntil(keys: readonly string[]): Promise<{ until: number; now: number }>;
  /**
   * Takes a free slot of `key`'s `limit` for `holder`, for `ttlMs`, unless a caller still polling
   * has waited longer and past a short grace; `null` when none is free or it is another's turn:
   * `holder` then waits in line, and must poll again within {@link WAITER_STALE_MS} to keep its place.
   */
  acquireSlot(key: string, limit: number, holder: string, ttlMs: number): Promise<number | null>;
  /** `holder` stops waiting for a slot of `key` (its request was cancelled). */
  leaveQueue(key: string, holder: string): Promise<void>;
  /** Extends `holder`'s slot; `false` when it no longer holds it (it expired and was taken). */
  renewSlot(key: string, slot: number, holder: string, ttlMs: number): Promise<boolean>;
  releaseSlot(key: string, slot: number, holder: string): Promise<void>;
  /** Files the keys an import's requests count against (idempotent): its status reads them. */
  registerImport(tenant: string, userId: string, importKey: string, keys: readonly string[]): Promise<void>;
  /** The latest closure among the import's keys that still runs, or `null`. One read. */
  waitOf(tenant: string, importKey: string): Promise<BudgetWait | null>;
  /** Erasure: the user's import registrations. */
  deleteUser(tenant: string, userId: string): Promise<void>;
}

/** A slot waiter that has not polled for this long is gone: it no longer holds the line. */
export const WAITER_STALE_MS = 1_000;
/**
 * A slot waiter that has waited this long goes before every later caller. Until then, whoever
 * asks when a slot is free takes it: slots do not sit idle for a waiter's next poll.
 */
const WAITER_PRIORITY_MS = 250;

/** The learned interval never grows past this: a key refused again and again still gets a request every 10 s. */
const MAX_LEARNED_INTERVAL_MS = 10_000;

/** SQL for the database's clock in ms, and `greatest`/`least`, whose names differ between dialects. */
function dialect(kind: 'sqlite' | 'postgres') {
  const now: RawBuilder<number> =
    kind === 'postgres' ? sql`(extract(epoch from statement_timestamp()) * 1000)::double precision` : sql`((julianday('now') - 2440587.5) * 86400000.0)`;
  const fn = (name: string) => (...args: RawBuilder<unknown>[]) => sql<number>`${sql.raw(name)}(${sql.join(args)})`;
  return { now, greatest: fn(kind === 'postgres' ? 'greatest' : 'max'), least: fn(kind === 'postgres' ? 'least' : 'min') };
}

/** A row of {@link latestClosure}: `closed_until` in ms of the database's clock. */
export interface ClosureRow {
  closed_until: number | null;
  closed_by: string | null;
}

/**
 * The statement for the latest closure among an import's keys that still runs: at most one
 * {@link ClosureRow}. A subquery of the status's one read too (db/import-state.ts).
 */
export function latestClosure(kind: 'sqlite' | 'postgres', tenant: string, importKey: string): RawBuilder<ClosureRow> {
  return sql<ClosureRow>`SELECT k.closed_until, k.closed_by FROM import_budget_keys i JOIN rate_keys k ON k.key = i.budget_key
    WHERE i.tenant_id = ${tenant} AND i.import_key = ${importKey} AND k.closed_until > ${dialect(kind).now}
    ORDER BY k.closed_until DESC LIMIT 1`;
}

/** The {@link BudgetWait} a {@link ClosureRow} says, `null` for none. */
export function budgetWaitOf(row: ClosureRow | undefined): BudgetWait | null {
  if (!row || row.closed_until === null) return null;
  return { until: new Date(Number(row.closed_until)).toISOString(), cause: row.closed_by === '503' ? 'unavailable' : 'throttled' };
}

/** The {@link BudgetStore} over the `rate_keys`, `rate_slots` and `import_budget_keys` tables. */
export function createBudgetStore(db: Kysely<StoreDatabase>, kind: 'sqlite' | 'postgres'): BudgetStore {
  const { now, greatest, least } = dialect(kind);
  /** Keys whose slot rows exist up to this limit, in this process. */
  const slotsMade = new Map<string, number>();
  /** `key\nholder` of this process's callers waiting in line: only they have a waiter row to delete. */
  const queued = new Set<string>();
  const write = <T>(run: () => Promise<T>): Promise<T> => oneSqliteWriterAtATime(db, run);

  return {
    async reserve(key, spec, maxWaitMs) {
      // Unique across every worker of every machine: the row says whose grant it holds.
      const grantId = randomUUID();
      const interval =
        spec.mode === 'fixed' ? sql`${spec.intervalMs}` : spec.mode === 'learn' ? sql`coalesce(rate_keys.learned_interval, 0)` : sql`0`;
      const start = greatest(sql`rate_keys.tat`, sql`rate_keys.closed_until`, now);
      const granted = sql`(${start} - ${now} <= ${maxWaitMs})`;
      const when = (then: RawBuilder<unknown>, otherwise: RawBuilder<unknown>) => sql`CASE WHEN ${granted} THEN ${then} ELSE ${otherwise} END`;
      const newWindow = sql`(${now} - rate_keys.win_at >= 1000)`;
      // A busy key (its last slot ended within one interval, or is still ahead) earns a rise.
      const rise =
        spec.mode === 'learn'
          ? sql`CASE WHEN ${granted} AND rate_keys.learned_interval IS NOT NULL AND rate_keys.tat > ${now} - rate_keys.learned_interval
              THEN 1000.0 / (1000.0 / rate_keys.learned_interval + rate_keys.increase * rate_keys.learned_interval / 1000.0)
              ELSE rate_keys.learned_interval END`
          : sql`rate_keys.learned_interval`;
      const firstInterval = spec.mode === 'fixed' ? spec.intervalMs : 0;
      const { rows } = await write(() =>
        sql<{ grant_id: string; granted_at: number; tat: number; closed_until: number; learn_epoch: number; now_ms: number }>`
          INSERT INTO rate_keys (key, tat, closed_until, closed_by, win_at, win_count, prev_count, grant_id, granted_at, seen_at)
          VALUES (${key}, ${now} + ${firstInterval}, 0, NULL, ${now}, 1, 0, ${grantId}, ${now}, ${now})
          ON CONFLICT (key) DO UPDATE SET
            tat = ${when(sql`${start} + ${interval}`, sql`rate_keys.tat`)},
            grant_id = ${when(sql`${grantId}`, sql`rate_keys.grant_id`)},
            granted_at = ${when(start, sql`rate_keys.granted_at`)},
            learned_interval = ${rise},
            prev_count = ${when(sql`CASE WHEN ${newWindow} THEN (CASE WHEN ${now} - rate_keys.win_at < 2000 THEN rate_keys.win_count ELSE 0 END) ELSE rate_keys.prev_count END`, sql`rate_keys.prev_count`)},
            win_count = ${when(sql`CASE WHEN ${newWindow} THEN 1 ELSE rate_keys.win_count + 1 END`, sql`rate_keys.win_count`)},
            win_at = ${when(sql`CASE WHEN ${newWindow} THEN ${now} ELSE rate_keys.win_at END`, sql`rate_keys.win_at`)},
            seen_at = ${now}
          RETURNING grant_id, granted_at, tat, closed_until, learn_epoch, ${now} AS now_ms`.execute(db),
      );
      const row = rows[0];
      if (!row) throw new Error(`the rate budget ${key} was not written`);
      const at = Number(row.now_ms);
      const epoch = Number(row.learn_epoch);
      if (row.grant_id === grantId) return { granted: true, waitMs: Math.max(0, Number(row.granted_at) - at), reservedAt: at, epoch };
      return { granted: false, waitMs: Math.max(0, Math.max(Number(row.tat), Number(row.closed_until)) - at), reservedAt: at, epoch };
    },

    async close(key, { forMs, by, learn, epoch, increaseFraction }) {
      const decrease = sql`(${learn && by === 429 ? 1 : 0} = 1 AND rate_keys.learn_epoch = ${epoch})`;
      // Requests granted in the last second, the current window's and the share of the one before
      // still inside it: the rate the provider just refused.
      const lastSecond = sql`(rate_keys.win_count + rate_keys.prev_count * ${greatest(sql`0`, sql`1 - (${now} - rate_keys.win_at) / 1000.0`)})`;
      const lowered = least(
        sql`CASE WHEN rate_keys.learned_interval IS NULL THEN 2000.0 / ${greatest(lastSecond, sql`1`)} ELSE rate_keys.learned_interval * 2 END`,
        sql`${MAX_LEARNED_INTERVAL_MS}`,
      );
      const { rows } = await write(() =>
        sql<{ remaining: number }>`
          INSERT INTO rate_keys (key, tat, closed_until, closed_by, win_at, win_count, prev_count, grant_id, granted_at, seen_at)
          VALUES (${key}, ${now}, ${now} + ${forMs}, ${String(by)}, ${now}, 0, 0, '', ${now}, ${now})
          ON CONFLICT (key) DO UPDATE SET
            closed_until = ${greatest(sql`rate_keys.closed_until`, sql`${now} + ${forMs}`)},
            closed_by = ${String(by)},
            learned_interval = CASE WHEN ${decrease} THEN ${lowered} ELSE rate_keys.learned_interval END,
            increase = CASE WHEN ${decrease} THEN (1000.0 / ${lowered}) * ${increaseFraction} ELSE rate_keys.increase END,
            learn_epoch = CASE WHEN ${decrease} THEN rate_keys.learn_epoch + 1 ELSE rate_keys.learn_epoch END
          RETURNING closed_until - ${now} AS remaining`.execute(db),
      );
      return Math.max(0, Number(rows[0]?.remaining ?? forMs));
    },

    async closedUntil(keys) {
      const { rows } = await sql<{ until: number | null; now_ms: number }>`
        SELECT max(closed_until) AS until, ${now} AS now_ms FROM rate_keys WHERE key IN (${sql.join(keys.length > 0 ? [...keys] : [''])})`.execute(db);
      return { until: Number(rows[0]?.until ?? 0), now: Number(rows[0]?.now_ms ?? 0) };
    },

    async acquireSlot(key, limit, holder, ttlMs) {
      if ((slotsMade.get(key) ?? 0) < limit) {
        const values = Array.from({ length: limit }, (_, slot) => ({ key, slot, holder: '', expires_at: 0 }));
        await write(() => db.insertInto('rate_slots').values(values).onConflict((oc) => oc.columns(['key', 'slot']).doNothing()).execute());
        slotsMade.set(key, limit);
      }
      // A free slot, taken only if still free when written (under contention in PostgreSQL a loser
      // updates nothing: the row changed under it, so no two share a slot), and only if no one still
      // polling has waited past WAITER_PRIORITY_MS and longer than this caller. Picked at random, so
      // callers at the same moment aim at different slots rather than all at the first.
      const free = sql`key = ${key} AND slot < ${limit} AND expires_at <= ${now}`;
      const mySince = sql`coalesce((SELECT since FROM rate_slot_waiters WHERE key = ${key} AND waiter = ${holder}), ${now} + 1)`;
      const { rows } = await write(() =>
        sql<{ slot: number }>`
          UPDATE rate_slots SET holder = ${holder}, expires_at = ${now} + ${ttlMs}
          WHERE ${free} AND slot = (SELECT slot FROM rate_slots WHERE ${free} ORDER BY random() LIMIT 1)
            AND NOT EXISTS (SELECT 1 FROM rate_slot_waiters
              WHERE key = ${key} AND waiter <> ${holder} AND seen_at > ${now} - ${WAITER_STALE_MS}
                AND since < ${now} - ${WAITER_PRIORITY_MS} AND since < ${mySince})
          RETURNING slot`.execute(db),
      );
      const slot = rows[0] === undefined ? null : Number(rows[0].slot);
      const place = `${key}\n${holder}`;
      if (slot !== null) {
        if (queued.delete(place)) await write(() => db.deleteFrom('rate_slot_waiters').where('key', '=', key).where('waiter', '=', holder).execute());
        return slot;
      }
      queued.add(place);
      await write(() =>
        sql`
          INSERT INTO rate_slot_waiters (key, waiter, since, seen_at) VALUES (${key}, ${holder}, ${now}, ${now})
          ON CONFLICT (key, waiter) DO UPDATE SET seen_at = ${now}`.execute(db),
      );
      return null;
    },

    async leaveQueue(key, holder) {
      if (!queued.delete(`${key}\n${holder}`)) return;
      await write(() => db.deleteFrom('rate_slot_waiters').where('key', '=', key).where('waiter', '=', holder).execute());
    },

    async renewSlot(key, slot, holder, ttlMs) {
      const { rows } = await write(() =>
        sql<{ slot: number }>`
          UPDATE rate_slots SET expires_at = ${now} + ${ttlMs}
          WHERE key = ${key} AND slot = ${slot} AND holder = ${holder}
          RETURNING slot`.execute(db),
      );
      return rows.length > 0;
    },

    async releaseSlot(key, slot, holder) {
      await write(() =>
        db.updateTable('rate_slots').set({ holder: '', expires_at: 0 }).where('key', '=', key).where('slot', '=', slot).where('holder', '=', holder).execute(),
      );
    },

    async registerImport(tenant, userId, importKey, keys) {
      if (keys.length === 0) return;
      const values = keys.map((budgetKey) => ({ tenant_id: tenant, import_key: importKey, user_id: userId, budget_key: budgetKey }));
      await write(() =>
        db.insertInto('import_budget_keys').values(values).onConflict((oc) => oc.columns(['tenant_id', 'import_key', 'budget_key']).doNothing()).execute(),
      );
    },

    async waitOf(tenant, importKey) {
      const { rows } = await sql<ClosureRow>`${latestClosure(kind, tenant, importKey)}`.execute(db);
      return budgetWaitOf(rows[0]);
    },

    deleteUser: (tenant, userId) => deleteUserBudgetKeys(db, tenant, userId),
  };
}

/** Erasure: the user's import registrations (the keys themselves name no one in clear). */
export async function deleteUserBudgetKeys(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('import_budget_keys').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}
