/** The contacts table of the store under test, opened directly: counts for progress and deletes for clean-up. */
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { AppConfig } from '../config';

export interface StoreAdmin {
  count(userId: string): Promise<number>;
  /** Deletes the rows of every user whose id starts with `prefix`; returns how many went. */
  deleteUsers(prefix: string): Promise<number>;
  close(): Promise<void>;
}

export function openStoreAdmin(database: AppConfig['database']): StoreAdmin {
  if (database.kind === 'sqlite') {
    let db: Sqlite.Database | undefined;
    // The file exists only once the worker or API has migrated it.
    const open = () => (db ??= new Sqlite(database.file, { timeout: 30_000 }));
    return {
      count: async (userId) =>
        Number((open().prepare('SELECT count(*) AS n FROM contacts WHERE user_id = ?').get(userId) as { n: number }).n),
      deleteUsers: async (prefix) =>
        open().prepare("DELETE FROM contacts WHERE user_id >= ? AND user_id < ? || x'7f'").run(prefix, prefix).changes,
      close: async () => {
        db?.close();
      },
    };
  }
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  return {
    count: async (userId) => {
      const result = await pool.query<{ n: string }>('SELECT count(*) AS n FROM contacts WHERE user_id = $1', [userId]);
      return Number(result.rows[0]?.n ?? 0);
    },
    deleteUsers: async (prefix) => {
      const result = await pool.query('DELETE FROM contacts WHERE starts_with(user_id, $1)', [prefix]);
      return result.rowCount ?? 0;
    },
    close: () => pool.end(),
  };
}
