/**
 * Plain SQL on a test store's database, past the store's own interface: to see what it kept, or to
 * make a row older than a test can wait for. `?` placeholders in both dialects.
 */
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { StoreCase } from './harness';

/** Runs `sql` with `params` on `storeCase`'s database; resolves to the rows it returns. */
export async function storeSql<T = Record<string, unknown>>(storeCase: Pick<StoreCase, 'name' | 'env'>, sql: string, params: unknown[] = []): Promise<T[]> {
  if (storeCase.name === 'sqlite') {
    const db = new Sqlite(path.join(storeCase.env.DATA_DIR ?? '', 'contacts.db'));
    try {
      const statement = db.prepare(sql);
      return statement.reader ? (statement.all(...params) as T[]) : (statement.run(...params), []);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: storeCase.env.DATABASE_URL });
  await client.connect();
  try {
    let n = 0;
    const { rows } = await client.query(sql.replace(/\?/g, () => `$${++n}`), params);
    return rows as T[];
  } finally {
    await client.end();
  }
}
