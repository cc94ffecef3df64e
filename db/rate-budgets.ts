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
 *   a request granted since the last decrease doubles it again; each grant while the key is busy
 *   raises the rate by `increase / rate`, so it climbs by `increase` requests/s every second.
 * - **Concurrency**: `limit` slot rows per key; taking one is an `UPDATE` of a free (expired) slot,
 *   held for a short TTL that its holder renews while the request runs. A crashed worker's slot
 *   frees itself when its TTL passes.
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
  /** The database's time of the reservation: a 429 of this request lowers a learned rate only if no decrease came since. */
  reservedAt: number;
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
   * also lowers the key's learned rate, unless it was lowered after `reservedAt`. Resolves to how
   * long the key stays closed, ms.
   */
  close(key: string, closure: { forMs: number; by: 429 | 503; learn: boolean; reservedAt: number; increaseFraction: number }): Promise<number>;
  /** How long the most distant closure of `keys` still runs, ms (0 when none is closed). */
  closedFor(keys: readonly string[]): Promise<number>;
  /** Takes a free slot of `key`'s `limit` for `holder`, for `ttlMs`; `null` when all are held. */
  acquireSlot(key: string, limit: number, holder: string, ttlMs: number): Promise<number | null>;
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

/** The learned interval never grows past this: a key refused again and again still gets a request every 10 s. */
const MAX_LEARNED_INTERVAL_MS = 10_000;

/** SQL for the database's clock in ms, and `greatest`/`least`, whose names differ between dialects. */
function dialect(kind: 'sqlite' | 'postgres') {
  const now: RawBuilder<number> =
    kind === 'postgres' ? sql`(extract(epoch from statement_timestamp()) * 1000)::double precision` : sql`((julianday('now') - 2440587.5) * 86400000.0)`;
  const fn = (name: string) => (...args: RawBuilder<unknown>[]) => sql<number>`${sql.raw(name)}(${sql.join(args)})`;
  return { now, greatest: fn(kind === 'postgres' ? 'greatest' : 'max'), least: fn(kind === 'postgres' ? 'least' : 'min') };
}

/** The {@link BudgetStore} over the `rate_keys`, `rate_slots` and `import_budget_keys` tables. */
export function createBudgetStore(db: Kysely<StoreDatabase>, kind: 'sqlite' | 'postgres'): BudgetStore {
  const { now, greatest, least } = dialect(kind);
  /** Keys whose slot rows exist up to this limit, in this process. */
  const slotsMade = new Map<string, number>();
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
        sql<{ grant_id: string; granted_at: number; tat: number; closed_until: number; now_ms: number }>`
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
          RETURNING grant_id, granted_at, tat, closed_until, ${now} AS now_ms`.execute(db),
      );
      const row = rows[0];
      if (!row) throw new Error(`the rate budget ${key} was not written`);
      const at = Number(row.now_ms);
      if (row.grant_id === grantId) return { granted: true, waitMs: Math.max(0, Number(row.granted_at) - at), reservedAt: at };
      return { granted: false, waitMs: Math.max(0, Math.max(Number(row.tat), Number(row.closed_until)) - at), reservedAt: at };
    },

    async close(key, { forMs, by, learn, reservedAt, increaseFraction }) {
      const decrease = sql`(${learn && by === 429 ? 1 : 0} = 1 AND (rate_keys.decreased_at IS NULL OR rate_keys.decreased_at < ${reservedAt}))`;
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
            decreased_at = CASE WHEN ${decrease} THEN ${now} ELSE rate_keys.decreased_at END
          RETURNING closed_until - ${now} AS remaining`.execute(db),
      );
      return Math.max(0, Number(rows[0]?.remaining ?? forMs));
    },

    async closedFor(keys) {
      if (keys.length === 0) return 0;
      const { rows } = await sql<{ remaining: number | null }>`
        SELECT max(closed_until) - ${now} AS remaining FROM rate_keys WHERE key IN (${sql.join([...keys])})`.execute(db);
      return Math.max(0, Number(rows[0]?.remaining ?? 0));
    },

    async acquireSlot(key, limit, holder, ttlMs) {
      if ((slotsMade.get(key) ?? 0) < limit) {
        const values = Array.from({ length: limit }, (_, slot) => ({ key, slot, holder: '', expires_at: 0 }));
        await write(() => db.insertInto('rate_slots').values(values).onConflict((oc) => oc.columns(['key', 'slot']).doNothing()).execute());
        slotsMade.set(key, limit);
      }
      // The first free slot, taken only if still free when written: under contention in PostgreSQL a
      // loser updates nothing (the row changed under it) and tries again, never sharing a slot.
      const free = sql`key = ${key} AND slot < ${limit} AND expires_at <= ${now}`;
      const { rows } = await write(() =>
        sql<{ slot: number }>`
          UPDATE rate_slots SET holder = ${holder}, expires_at = ${now} + ${ttlMs}
          WHERE ${free} AND slot = (SELECT min(slot) FROM rate_slots WHERE ${free})
          RETURNING slot`.execute(db),
      );
      return rows[0] === undefined ? null : Number(rows[0].slot);
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
      const { rows } = await sql<{ closed_until: number; closed_by: string | null }>`
        SELECT k.closed_until, k.closed_by FROM import_budget_keys i JOIN rate_keys k ON k.key = i.budget_key
        WHERE i.tenant_id = ${tenant} AND i.import_key = ${importKey} AND k.closed_until > ${now}
        ORDER BY k.closed_until DESC LIMIT 1`.execute(db);
      const row = rows[0];
      if (!row) return null;
      return { until: new Date(Number(row.closed_until)).toISOString(), cause: row.closed_by === '503' ? 'unavailable' : 'throttled' };
    },

    deleteUser: (tenant, userId) => deleteUserBudgetKeys(db, tenant, userId),
  };
}

/** Erasure: the user's import registrations (the keys themselves name no one in clear). */
export async function deleteUserBudgetKeys(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('import_budget_keys').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}
