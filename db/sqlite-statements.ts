/**
 * Prepared statements kept across queries on SQLite. Kysely's SQLite driver calls `prepare(sql)`
 * for every query it runs, and preparing a large statement (the multi-row upsert of a full page)
 * costs a noticeable part of running it (measured in bench/README.md). The SQL of a query depends
 * only on its shape (the multi-row upsert's on its row count, db/contact-upsert.ts), so a few
 * statements serve almost every call.
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Distinct SQL texts kept prepared; the least recently used goes first. */
const KEPT_STATEMENTS = 64;

/**
 * `sqlite` as Kysely's driver sees it, with `prepare` answered from a cache. Safe because the driver
 * runs one query at a time on its one connection (a streamed query holds it until it ends).
 */
export function withStatementCache(sqlite: SqliteDatabase, size: number = KEPT_STATEMENTS): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (statements.size >= size) {
          const oldest = statements.keys().next();
          if (!oldest.done) statements.delete(oldest.value);
        }
      } else {
        // Re-inserted: a Map keeps insertion order, so the front is the least recently used.
        statements.delete(sql);
      }
      statements.set(sql, statement);
      return statement;
    },
  };
}
