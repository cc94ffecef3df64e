/**
 * Statements every saved page runs (its change number, its owner, its checkpoint), their SQL
 * compiled by Kysely once per dialect and then run with each call's values. Building and compiling
 * a small Kysely query costs more CPU than SQLite takes to run it (bench/README.md, "Levers"), yet
 * its SQL depends only on its shape, never on the values, which Kysely always binds as parameters.
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { StoreDatabase } from './schema';

/**
 * Runs `build`'s statement with SQL compiled on its first call (per dialect) and `values(...args)`
 * as its parameters. `values` lists them in the order the SQL binds them; the first compile checks
 * that order against Kysely's, so a change to `build` that `values` does not follow fails at once
 * instead of binding a value to the wrong column.
 */
export function compiledOnce<A extends unknown[], R>(
  build: (db: Kysely<StoreDatabase>, ...args: A) => Compilable<R>,
  values: (...args: A) => readonly unknown[],
): (db: Kysely<StoreDatabase>, ...args: A) => Promise<QueryResult<R>> {
  // Keyed by the dialect's adapter class: a transaction has its own Kysely, the same SQL.
  const byDialect = new Map<unknown, CompiledQuery<R>>();
  return async (db, ...args) => {
    const parameters = values(...args);
    const dialect = db.getExecutor().adapter.constructor;
    let compiled = byDialect.get(dialect);
    if (compiled === undefined) {
      compiled = build(db, ...args).compile();
      if (compiled.parameters.length !== parameters.length || compiled.parameters.some((value, i) => value !== parameters[i])) {
        throw new Error(
          `compiledOnce: the values (${JSON.stringify(parameters)}) are not the parameters the statement binds, in its order (${JSON.stringify(compiled.parameters)}): make \`values\` follow \`build\``,
        );
      }
      byDialect.set(dialect, compiled);
    }
    return await db.executeQuery<R>({ ...compiled, parameters });
  };
}
