/**
 * The two databases the store runs on, as test suites meet them: SQLite in a temporary folder,
 * always; PostgreSQL at `TEST_DATABASE_URL`, when it is set.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';
import type { StoreLocation } from '../../db/index';

/** A temporary folder for the calling suite's SQLite files, removed after the suite. */
export function sqliteDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-store-'));
  void after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const databaseUrl = process.env.TEST_DATABASE_URL;

/** The options of a PostgreSQL suite: skipped, saying how to run it, when `TEST_DATABASE_URL` is not set. */
export const POSTGRES_SUITE = databaseUrl
  ? {}
  : {
      skip: 'set TEST_DATABASE_URL=postgres://user:password@127.0.0.1:5432/dbname (a database the tests may create tables in) to run it',
    };

/**
 * Inside a PostgreSQL suite: checks the database answers before the suite, and deletes the rows of
 * the suite's users after it. Every user id of the suite starts with `prefix`, so the clean-up
 * removes exactly those rows.
 */
export function postgresStore(): { location: StoreLocation; prefix: string } {
  const prefix = `test-${randomUUID()}-`;
  const location: StoreLocation = { kind: 'postgres', url: databaseUrl ?? '' };

  void before(async () => {
    // Fail with a clear message rather than a stack of timeouts when the server is not there.
    const client = new pg.Client({ connectionString: location.url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('select 1');
    } catch (error) {
      throw new Error(`TEST_DATABASE_URL is set but the database does not answer: ${String(error)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  void after(async () => {
    const client = new pg.Client({ connectionString: location.url });
    await client.connect();
    try {
      await client.query("delete from contacts where owner_id in (select owner_id from owners where user_id like $1 || '%')", [prefix]);
      await client.query("delete from owners where user_id like $1 || '%'", [prefix]);
    } finally {
      await client.end();
    }
  });

  return { location, prefix };
}
