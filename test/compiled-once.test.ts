/**
 * Statements compiled once (db/compiled-once.ts): run with each call's values on the SQL Kysely
 * compiled for the first, once per dialect, and refused when their values are not in the order the
 * SQL binds them. No server: SQLite in memory, and PostgreSQL's compiler over Kysely's dummy driver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteDialect, type LogEvent } from 'kysely';
import { compiledOnce } from '../db/compiled-once';
import type { StoreDatabase } from '../db/schema';

/** A Kysely over a fresh in-memory SQLite with a change counter table, and the SQL it ran. */
function sqliteDb(): { db: Kysely<StoreDatabase>; ran: string[]; close: () => Promise<void> } {
  const sqlite = new Sqlite(':memory:');
  sqlite.exec('CREATE TABLE change_counters (tenant_id text NOT NULL, user_id text NOT NULL, seq integer NOT NULL, PRIMARY KEY (tenant_id, user_id))');
  const ran: string[] = [];
  const db = new Kysely<StoreDatabase>({
    dialect: new SqliteDialect({ database: sqlite }),
    log: (event: LogEvent) => {
      ran.push(event.query.sql);
    },
  });
  return { db, ran, close: () => db.destroy() };
}

/** A Kysely that compiles for PostgreSQL and runs nothing (no rows come back), and the SQL it was given. */
function postgresCompiler(): { db: Kysely<StoreDatabase>; ran: string[] } {
  const ran: string[] = [];
  const db = new Kysely<StoreDatabase>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (kysely) => new PostgresIntrospector(kysely),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (event: LogEvent) => {
      ran.push(event.query.sql);
    },
  });
  return { db, ran };
}

/** The change counter's upsert (as db/changes.ts takes a number), counting how often it is built. */
function counter() {
  let builds = 0;
  const take = compiledOnce(
    (db: Kysely<StoreDatabase>, tenant: string, userId: string) => {
      builds++;
      return db
        .insertInto('change_counters')
        .values({ tenant_id: tenant, user_id: userId, seq: 1 })
        .onConflict((oc) => oc.columns(['tenant_id', 'user_id']).doUpdateSet((eb) => ({ seq: eb(eb.ref('change_counters.seq'), '+', 1) })))
        .returning('seq');
    },
    (tenant: string, userId: string) => [tenant, userId, 1, 1],
  );
  return { take, builds: () => builds };
}

describe('compiledOnce', () => {
  it("runs each call's values on the statement built and compiled for the first", async () => {
    const { db, ran, close } = sqliteDb();
    try {
      const { take, builds } = counter();
      const seqs = [];
      for (const [tenant, user] of [['t1', 'a'], ['t1', 'a'], ['t1', 'b'], ['t2', 'a'], ['t1', 'a']] as const) {
        seqs.push((await take(db, tenant, user)).rows[0]?.seq);
      }
      assert.deepEqual(seqs, [1, 2, 1, 1, 3], "each user's own counter, by each call's values");
      assert.equal(builds(), 1, 'built once');
      assert.equal(new Set(ran).size, 1, 'one SQL text for every call');
      // In a transaction, which is a Kysely of its own: the same compiled SQL.
      const inTransaction = await db.transaction().execute((trx) => take(trx, 't1', 'b'));
      assert.equal(inTransaction.rows[0]?.seq, 2);
      assert.equal(builds(), 1, 'a transaction of the same dialect reuses it');
    } finally {
      await close();
    }
  });

  it('compiles once per dialect, so each gets its own SQL', async () => {
    const sqlite = sqliteDb();
    const postgres = postgresCompiler();
    try {
      const { take, builds } = counter();
      await take(sqlite.db, 't1', 'a');
      await take(postgres.db, 't1', 'a');
      await take(postgres.db, 't1', 'b');
      await take(sqlite.db, 't1', 'b');
      assert.equal(builds(), 2, 'once for SQLite, once for PostgreSQL');
      assert.match(sqlite.ran[1] ?? '', /values \(\?, \?, \?\)/, sqlite.ran[1]);
      assert.match(postgres.ran[1] ?? '', /values \(\$1, \$2, \$3\)/, postgres.ran[1]);
    } finally {
      await sqlite.close();
      await postgres.db.destroy();
    }
  });

  it('refuses values that are not in the order the statement binds them, and runs nothing', async () => {
    const { db, ran, close } = sqliteDb();
    try {
      const swapped = compiledOnce(
        (kysely: Kysely<StoreDatabase>, tenant: string, userId: string) => kysely.selectFrom('change_counters').select('seq').where('tenant_id', '=', tenant).where('user_id', '=', userId),
        (tenant: string, userId: string) => [userId, tenant],
      );
      await assert.rejects(swapped(db, 't1', 'a'), /are not the parameters the statement binds, in its order \(\["t1","a"\]\)/);
      assert.deepEqual(ran, [], 'no statement ran with misplaced values');
    } finally {
      await close();
    }
  });
});
