/**
 * Opens the contact store: SQLite (the embedded default) or PostgreSQL, migrated to the latest
 * schema, behind the one {@link Store} interface. A database a pre-release version made is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { createStore } from './contact-store';
import { migrationProvider, unknownMigrations } from './migrations';
import type { StoreDatabase } from './schema';
import { withStatementCache } from './sqlite-statements';
import type { Store } from './types';

export type { ContactStore, Store } from './types';
export { InvalidCursorError } from './types';

/** Where the store lives; the same union as `AppConfig['database']`. */
export type StoreLocation = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

// The API and the worker open the same SQLite file and write to it at the same time; SQLite has
// one writer at a time, so a writer waits this long for the other's transaction instead of failing
// with SQLITE_BUSY. A page upsert holds the lock for milliseconds, so this is only ever a ceiling.
const SQLITE_BUSY_TIMEOUT_MS = 10_000;
/**
 * The pragmas of every SQLite connection we open, in order:
 * - 16 KiB pages, before WAL (a database in WAL mode keeps the page size it was created with, so
 *   this only shapes new files; an existing one keeps its 4 KiB). A contact row is about 1 KiB of
 *   raw JSON: with 4 KiB pages a page holds three or four, and every commit writes, checksums and
 *   later checkpoints about four times as many WAL frames (bench/measure-sqlite-write.ts measures
 *   both page sizes; bench/README.md has the figures).
 * - WAL lets the API read while the worker writes; NORMAL sync is durable across process crashes
 *   (only an OS crash can lose the last commits) and much faster than FULL in WAL.
 */
export const SQLITE_PRAGMAS = [
  'page_size = 16384',
  'journal_mode = WAL',
  'synchronous = NORMAL',
  `busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`,
] as const;
// Per process: the API and the worker each get a pool, well below PostgreSQL's default 100.
const POSTGRES_POOL_MAX = 10;

/**
 * Opens the store and brings its schema up to date. Safe when several processes open the same
 * database at once: PostgreSQL migrations run under Kysely's advisory lock, SQLite ones under the
 * database's write lock. Throws, changing nothing, for a database a pre-release version made.
 */
export async function openStore(database: StoreLocation): Promise<Store> {
  let db: Kysely<StoreDatabase>;
  let sqliteHandle: Sqlite.Database | undefined;
  if (database.kind === 'sqlite') {
    fs.mkdirSync(path.dirname(path.resolve(database.file)), { recursive: true });
    const sqlite = new Sqlite(database.file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
    try {
      for (const pragma of SQLITE_PRAGMAS) sqlite.pragma(pragma);
    } catch (error) {
      sqlite.close();
      throw error;
    }
    db = new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    sqliteHandle = sqlite;
    // Kysely takes no migration lock on SQLite (it assumes one process). Holding SQLite's own write
    // lock on the very connection the migrator uses makes a second process wait (busy timeout),
    // then find the migrations already recorded. That wait blocks the thread, so stores opened at
    // once in one process must take turns first, or the waiter would block the lock holder too.
    await inProcessTurn(sqliteMigrationTurns, path.resolve(database.file), () =>
      migrate(db, database, {
        lock: () => sqlite.exec('BEGIN IMMEDIATE'),
        commit: () => sqlite.exec('COMMIT'),
        rollback: () => {
          if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
        },
      }),
    );
  } else {
    const pool = new pg.Pool({ connectionString: database.url, max: POSTGRES_POOL_MAX });
    // An idle client whose connection drops emits 'error' on the pool; unhandled, that would crash
    // the process. The next query checks out a fresh client, so logging is enough.
    pool.on('error', (error) => console.error('PostgreSQL idle client error:', error.message));
    // A client checked out for a transaction emits 'error' on itself, not on the pool, when its
    // server goes away (a PostgreSQL restart); unhandled, that killed the worker. Its query fails
    // on its own (the batch retries), so a listener that logs is all it needs.
    pool.on('connect', (client) => {
      client.on('error', (error) => console.error('PostgreSQL connection error:', error.message));
    });
    db = new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool }) });
    // Kysely's PostgreSQL migrator holds a session advisory lock while it migrates.
    await migrate(db, database, null);
  }
  // Uploaded files live beside the SQLite database (`DATA_DIR/uploads`); PostgreSQL keeps them in tables.
  return createStore(
    db,
    database.kind,
    // The raw handle lets pages be written with a statement per row on Kysely's own connection.
    database.kind === 'sqlite' ? { filesDir: path.join(path.dirname(path.resolve(database.file)), 'uploads'), sqlite: sqliteHandle } : {},
  );
}

/** The last migration started in this process, per SQLite file. */
const sqliteMigrationTurns = new Map<string, Promise<void>>();

/** Runs `task` once every task queued before it under the same key has settled, failed or not. */
function inProcessTurn(turns: Map<string, Promise<void>>, key: string, task: () => Promise<void>): Promise<void> {
  const result = (turns.get(key) ?? Promise.resolve()).then(task);
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  turns.set(key, settled);
  void settled.then(() => {
    if (turns.get(key) === settled) turns.delete(key);
  });
  return result;
}

interface SqliteMigrationLock {
  lock(): void;
  commit(): void;
  rollback(): void;
}

async function migrate(
  db: Kysely<StoreDatabase>,
  database: StoreLocation,
  sqliteLock: SqliteMigrationLock | null,
): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  try {
    sqliteLock?.lock();
    const unknown = await unknownMigrations(db);
    if (unknown.length > 0) throw preReleaseDatabase(database, unknown);
    const { error } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`could not migrate the ${database.kind} contacts database: ${reason}`, { cause: error });
    }
    sqliteLock?.commit();
  } catch (error) {
    sqliteLock?.rollback();
    await db.destroy();
    throw error;
  }
}

/**
 * Why a database made by a pre-release version is not opened. Its schema is not this version's and
 * no migration here upgrades it: the store opens only databases its own migrations made.
 */
function preReleaseDatabase(database: StoreLocation, migrations: string[]): Error {
  const found = `it records the migrations ${migrations.join(', ')}, which are not this version's`;
  if (database.kind === 'sqlite') {
    return new Error(
      `The SQLite contacts database ${database.file} was made by a pre-release version of this service (${found}). ` +
        `Delete it, with its -wal and -shm files and the uploads folder beside it, and start again; nothing in it was changed.`,
    );
  }
  return new Error(
    `The PostgreSQL contacts database of DATABASE_URL was made by a pre-release version of this service (${found}). ` +
      `Drop that database (or its tables) and start again; nothing in it was changed.`,
  );
}
