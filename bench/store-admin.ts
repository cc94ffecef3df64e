/** The contacts table of the store under test, opened directly: counts for progress and deletes for clean-up. */
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { AppConfig } from '../config';

export interface StoreAdmin {
  count(userId: string): Promise<number>;
  /** Deletes the rows of every user whose id starts with `prefix`; returns how many went. */
  deleteUsers(prefix: string): Promise<number>;
  /** Deletes the rejects and uploads (with their chunks) of every user whose id starts with `prefix`. */
  deleteRejectsAndUploads(prefix: string): Promise<void>;
  close(): Promise<void>;
}

/** The owners (db/owners.ts) of the user bound to `?`: a contacts row names its owner, not its user. */
const OWNERS_OF_USER = 'SELECT owner_id FROM owners WHERE user_id = ?';

export function openStoreAdmin(database: AppConfig['database']): StoreAdmin {
  if (database.kind === 'sqlite') {
    let db: Sqlite.Database | undefined;
    // The file exists only once the worker or API has migrated it.
    const open = () => (db ??= new Sqlite(database.file, { timeout: 30_000 }));
    return {
      count: async (userId) =>
        Number((open().prepare(`SELECT count(*) AS n FROM contacts WHERE owner_id IN (${OWNERS_OF_USER})`).get(userId) as { n: number }).n),
      deleteUsers: async (prefix) => {
        const users = "user_id >= ? AND user_id < ? || x'7f'";
        const { changes } = open().prepare(`DELETE FROM contacts WHERE owner_id IN (SELECT owner_id FROM owners WHERE ${users})`).run(prefix, prefix);
        open().prepare(`DELETE FROM owners WHERE ${users}`).run(prefix, prefix);
        return changes;
      },
      deleteRejectsAndUploads: async (prefix) => {
        const db = open();
        const users = "user_id >= ? AND user_id < ? || x'7f'";
        db.prepare(`DELETE FROM rejects WHERE ${users}`).run(prefix, prefix);
        db.prepare(`DELETE FROM upload_chunks WHERE upload_id IN (SELECT upload_id FROM uploads WHERE ${users})`).run(prefix, prefix);
        // On SQLite the bytes are files under DATA_DIR/uploads, which the benchmark removes at the end.
        db.prepare(`DELETE FROM uploads WHERE ${users}`).run(prefix, prefix);
      },
      close: async () => {
        db?.close();
      },
    };
  }
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  return {
    count: async (userId) => {
      const result = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM contacts WHERE owner_id IN (${OWNERS_OF_USER.replace('?', '$1')})`, [userId]);
      return Number(result.rows[0]?.n ?? 0);
    },
    deleteUsers: async (prefix) => {
      const result = await pool.query('DELETE FROM contacts WHERE owner_id IN (SELECT owner_id FROM owners WHERE starts_with(user_id, $1))', [prefix]);
      await pool.query('DELETE FROM owners WHERE starts_with(user_id, $1)', [prefix]);
      return result.rowCount ?? 0;
    },
    deleteRejectsAndUploads: async (prefix) => {
      await pool.query('DELETE FROM rejects WHERE starts_with(user_id, $1)', [prefix]);
      await pool.query(
        'DELETE FROM upload_chunks c USING uploads u WHERE c.tenant_id = u.tenant_id AND c.upload_id = u.upload_id AND starts_with(u.user_id, $1)',
        [prefix],
      );
      await pool.query('DELETE FROM uploads WHERE starts_with(user_id, $1)', [prefix]);
    },
    close: () => pool.end(),
  };
}
