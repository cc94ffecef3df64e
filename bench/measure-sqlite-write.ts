/**
 * The SQLite write path alone: CPU seconds per 100,000 contacts to save pages through
 * the store, for each variant, against Kysely's multi-row statement on SQLite's default 4 KiB pages
 * (`kysely`).
 *
 *   npx tsx bench/measure-sqlite-write.ts [--contacts 50000] [--rounds 3] [--only service,kysely] [--decode]
 *   npx tsx bench/measure-sqlite-write.ts --postgres postgres://…/contacts_perf_bench   (the same on PostgreSQL)
 *
 * The pages are built once, before anything is timed: the demo provider's people (its own
 * generator), parsed and mapped the way the People client maps them, 1,000 to a page. Each run then
 * opens a fresh SQLite file in a temporary folder with the service's pragmas (plus the variant's),
 * migrates it, and saves every page with `savePage` (contacts and checkpoint in one transaction),
 * as an import does. The timed part ends with a TRUNCATE checkpoint, so a variant that defers WAL
 * work to later pays for it here too. Variants run interleaved, the order turning every round, so
 * a burst of load on the shared machine falls on all of them; the figures are medians over the
 * rounds, as ratios to `kysely`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { personJson } from '../demo-provider/people';
import { createStore } from '../db/contact-store';
import { SQLITE_PRAGMAS } from '../db/index';
import { migrationProvider } from '../db/migrations';
import type { StoreDatabase } from '../db/schema';
import { withStatementCache } from '../db/sqlite-statements';
import type { ContactRecord, Store } from '../db/types';
import { advance, EMPTY_CHECKPOINT } from '../workflows/checkpoint';

const PAGE_SIZE = 1000;
const FIELDS = new Set(['names', 'emailAddresses', 'phoneNumbers', 'organizations', 'metadata']);

interface Variant {
  /** Write through Kysely's multi-row statement (the store's portable path) instead of the store's default. */
  kysely?: boolean;
  /** Measure PostgreSQL (`--postgres URL`) instead of SQLite. */
  postgres?: boolean;
  /** The file's page size, in place of the service's (db/index.ts); 4096 is SQLite's default. */
  pageSize?: number;
  /** Pragmas on top of the service's. */
  pragmas?: readonly string[];
  /** Rebuild `contacts` WITHOUT ROWID after migrating (what a migration would do). */
  withoutRowid?: boolean;
}

/**
 * `kysely` is the baseline every ratio divides by: Kysely's multi-row statement on 4 KiB pages.
 * `service` is the store as it runs: a prepared statement per row on 16 KiB pages.
 */
const VARIANTS: Record<string, Variant> = {
  kysely: { kysely: true, pageSize: 4096 },
  'prepared/4k': { pageSize: 4096 },
  'kysely/16k': { kysely: true },
  service: {},
  'service+cache64m': { pragmas: ['cache_size = -64000'] },
  'service+mmap256m': { pragmas: ['mmap_size = 268435456'] },
  'service+tempmem': { pragmas: ['temp_store = MEMORY'] },
  'service+ckpt10k': { pragmas: ['wal_autocheckpoint = 10000'] },
  'prepared/4k+norowid': { pageSize: 4096, withoutRowid: true },
};

/** With `--postgres URL`: Kysely's multi-row statement against the store's column arrays and `unnest`. */
const POSTGRES_VARIANTS: Record<string, Variant> = {
  kysely: { postgres: true, kysely: true },
  unnest: { postgres: true },
};

interface Person {
  resourceName: string;
  etag: string;
  names?: Array<{ displayName?: string }>;
  emailAddresses?: Array<{ value?: string; metadata?: { primary?: boolean } }>;
  phoneNumbers?: Array<{ value?: string; canonicalForm?: string }>;
  organizations?: Array<{ name?: string }>;
}

/** A person's JSON as the People client makes it a record: the parsed person is `raw`. */
function record(json: string): ContactRecord {
  const person = JSON.parse(json) as Person;
  const email = person.emailAddresses?.find((entry) => entry.metadata?.primary) ?? person.emailAddresses?.[0];
  return {
    externalId: person.resourceName,
    etag: person.etag,
    displayName: person.names?.[0]?.displayName ?? null,
    email: email?.value ?? null,
    phone: person.phoneNumbers?.[0]?.value ?? null,
    organization: person.organizations?.[0]?.name ?? null,
    phoneE164: person.phoneNumbers?.[0]?.canonicalForm ?? null,
    raw: person,
  };
}

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? undefined : process.argv[at + 1];
}

/** `--decode`: keep the pages as text and parse each in the timed loop. */
const DECODE = process.argv.includes('--decode');

/** `contacts` rebuilt WITHOUT ROWID, same columns, constraint and index, in one transaction. */
function rebuildWithoutRowid(sqlite: Sqlite.Database): void {
  const { sql: ddl } = sqlite.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'contacts'`).get() as { sql: string };
  const indexes = sqlite.prepare(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND sql IS NOT NULL`).all() as Array<{ sql: string }>;
  sqlite.transaction(() => {
    sqlite.exec(`${ddl.replace(/^CREATE TABLE "contacts"/, 'CREATE TABLE "contacts_rebuilt"')} WITHOUT ROWID`);
    sqlite.exec('INSERT INTO contacts_rebuilt SELECT * FROM contacts; DROP TABLE contacts; ALTER TABLE contacts_rebuilt RENAME TO contacts');
    for (const index of indexes) sqlite.exec(index.sql);
  })();
}

/** Saves every page as an import does, in order, each with its checkpoint; this process's CPU, wall and GC seconds. */
async function timedImport(store: Store, pages: readonly ContactRecord[][], finish: () => Promise<unknown>): Promise<Figures> {
  const contacts = store.tenant('bench');
  let saved = 0;
  let checkpoint = EMPTY_CHECKPOINT;
  gcMs = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const [n, prepared] of pages.entries()) {
    // With --decode the page is parsed here, as the worker parses each page it fetches: its garbage
    // makes the collector's share of the write path as it is in the worker, not in an idle heap.
    const page = DECODE ? (prepared as unknown as string[]).map(record) : prepared;
    saved += page.length;
    const nextCursor = n === pages.length - 1 ? null : `page-${n + 1}`;
    checkpoint = advance(checkpoint, { saved: page.length, rejected: 0, nextCursor, total: null, deleted: 0 });
    await contacts.savePage('user', 'google', page, { importKey: 'bench/run', checkpoint });
  }
  await finish();
  const used = process.cpuUsage(cpu);
  const wall = (performance.now() - started) / 1000;
  // GC entries reach the observer on a later turn of the event loop, and better-sqlite3 never yields one.
  await new Promise((resolve) => setImmediate(resolve));
  const count = await contacts.countContacts('user');
  if (count !== saved) throw new Error(`expected ${saved} rows, found ${count}`);
  return { cpu: (used.user + used.system) / 1e6, wall, gc: gcMs / 1000 };
}

/** One PostgreSQL run: the tables emptied of the bench's rows before and after. */
async function runPostgres(variant: Variant, pages: readonly ContactRecord[][], url: string): Promise<Figures> {
  const db = new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
  const clean = async () => {
    const owners = db.selectFrom('owners').select('owner_id').where('tenant_id', '=', 'bench');
    await db.deleteFrom('contacts').where('owner_id', 'in', owners).execute();
    for (const table of ['owners', 'change_counters', 'import_checkpoints'] as const) {
      await db.deleteFrom(table).where('tenant_id', '=', 'bench').execute();
    }
  };
  try {
    const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
    if (error !== undefined) throw error;
    await clean();
    return await timedImport(createStore(db, 'postgres', variant.kysely ? { writePath: 'multi-row' } : {}), pages, () => Promise.resolve());
  } finally {
    await clean();
    await db.destroy();
  }
}

/** One run: a fresh file, every page saved; CPU and wall seconds of the saving alone. */
async function run(variant: Variant, pages: readonly ContactRecord[][], folder: string): Promise<Figures> {
  const postgresUrl = argument('postgres');
  if (variant.postgres && postgresUrl) return runPostgres(variant, pages, postgresUrl);
  const file = path.join(folder, `run-${Date.now()}-${Math.random().toString(36).slice(2)}.db`);
  const sqlite = new Sqlite(file);
  const pageSize = (pragma: string) => (variant.pageSize && pragma.startsWith('page_size') ? `page_size = ${variant.pageSize}` : pragma);
  for (const pragma of [...SQLITE_PRAGMAS.map(pageSize), ...(variant.pragmas ?? [])]) sqlite.pragma(pragma);
  const db = new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  try {
    const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
    if (error !== undefined) throw error;
    if (variant.withoutRowid) rebuildWithoutRowid(sqlite);
    const store = createStore(db, 'sqlite', variant.kysely ? {} : { sqlite });
    return await timedImport(store, pages, () => sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db));
  } finally {
    await db.destroy();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  }
}

interface Figures {
  cpu: number;
  wall: number;
  /** Seconds of garbage collection pauses on the main thread. */
  gc: number;
}

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function main(): Promise<void> {
  const total = Number(argument('contacts') ?? 50_000);
  const rounds = Number(argument('rounds') ?? 3);
  const variants = argument('postgres') ? POSTGRES_VARIANTS : VARIANTS;
  const names = (argument('only')?.split(',') ?? Object.keys(variants)).filter((name) => name in variants);
  if (!names.includes('kysely')) names.unshift('kysely');
  const pages: ContactRecord[][] = [];
  for (let start = 0; start < total; start += PAGE_SIZE) {
    const texts = Array.from({ length: Math.min(PAGE_SIZE, total - start) }, (_, i) => personJson(start + i, FIELDS));
    pages.push(DECODE ? (texts as unknown as ContactRecord[]) : texts.map(record));
  }
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-write-'));
  const per100k = 100_000 / total;
  const cpu = new Map<string, number[]>(names.map((name) => [name, []]));
  const wall = new Map<string, number[]>(names.map((name) => [name, []]));
  const gc = new Map<string, number[]>(names.map((name) => [name, []]));
  try {
    // One unmeasured run first: module loading and JIT warm-up would otherwise fall on round 1's first variant.
    await run((variants.service ?? variants.unnest) as Variant, pages.slice(0, 5), folder);
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length] as string);
      for (const name of order) {
        const figures = await run(variants[name] as Variant, pages, folder);
        cpu.get(name)?.push(figures.cpu * per100k);
        wall.get(name)?.push(figures.wall * per100k);
        gc.get(name)?.push(figures.gc * per100k);
      }
      console.error(`round ${round + 1}/${rounds} done`);
    }
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
  const baseCpu = median(cpu.get('kysely') ?? []);
  const baseWall = median(wall.get('kysely') ?? []);
  console.log(`${total} contacts, pages of ${PAGE_SIZE}, ${rounds} rounds; medians per 100,000 contacts`);
  console.log('variant'.padEnd(20), 'CPU s'.padStart(7), 'ratio'.padStart(6), 'wall s'.padStart(7), 'ratio'.padStart(6), 'GC s'.padStart(6), '  CPU s each round');
  for (const name of names) {
    const c = median(cpu.get(name) ?? []);
    const w = median(wall.get(name) ?? []);
    const g = median(gc.get(name) ?? []);
    const each = (cpu.get(name) ?? []).map((value) => value.toFixed(2)).join(' ');
    console.log(
      name.padEnd(20),
      c.toFixed(2).padStart(7),
      (c / baseCpu).toFixed(2).padStart(6),
      w.toFixed(2).padStart(7),
      (w / baseWall).toFixed(2).padStart(6),
      g.toFixed(2).padStart(6),
      ` ${each}`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
