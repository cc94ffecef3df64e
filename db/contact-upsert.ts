/**
 * Writing a page of contacts: the one job of the import's hot path.
 *
 * Three ways to run the same upsert; the store picks the cheapest its database allows
 * (bench/measure-sqlite-write.ts measures them, bench/README.md has the figures):
 * - **`prepared`, SQLite with the raw better-sqlite3 handle**: one prepared single-row statement,
 *   run once per contact inside the caller's transaction. SQLite is in-process, so a statement
 *   costs a function call, not a round trip; a 15,000-parameter VALUES list saves nothing and costs
 *   a row object per contact, a parameter array per page, and Kysely's work on both.
 * - **`unnest`, PostgreSQL**: one statement per page binding a text array per column, where each
 *   statement is a round trip and 15,000 parameters cost the driver and the server per value.
 * - **`multi-row`**: one VALUES list per page through Kysely, on either database: the portable
 *   path, and what the other two are checked and measured against.
 *
 * All write exactly the same rows: one per externalId (the last one wins), stamped with the page's
 * change number, rewritten only when the etag changed or the row was a tombstone.
 *
 * An import's page goes with its deletions and its checkpoint ({@link PageWriter}): in one
 * transaction of the deletions, the writer and the checkpoint's upsert, or, on PostgreSQL for a page
 * that deletes nothing, in one statement that takes the change number, writes the contacts and files
 * the checkpoint, so a page is one round trip instead of five (BEGIN, the number, the contacts, the
 * checkpoint, COMMIT).
 */
import { sql, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type SqliteDatabase from 'better-sqlite3';
import { nextChangeSeq, oneSqliteWriterAtATime, sweepIn, takeChangeSeq, tombstoneIn } from './changes';
import { fileCheckpoint, writeCheckpoint } from './checkpoints';
import { fileOwner, ownerIdOf } from './owners';
import type { ContactsTable, StoreDatabase } from './schema';
import { countDeletions } from '../workflows/checkpoint';
import type { ContactRecord, PageDeletions, PageResult, PageSave } from './types';

/** The better-sqlite3 connection Kysely's SQLite dialect runs on (db/index.ts). */
export type SqliteHandle = SqliteDatabase.Database;

/** Writes a page of one user's contacts in the caller's transaction; resolves to rows inserted or rewritten. */
export type ContactWriter = (
  trx: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  contacts: readonly ContactRecord[],
) => Promise<number>;

/** The columns of a contacts row, in the order both upserts bind them. */
export const ROW_COLUMNS = [
  'owner_id',
  'external_id',
  'etag',
  'display_name',
  'email',
  'phone',
  'organization',
  'phone_e164',
  'raw',
  'created_at',
  'updated_at',
  'deleted_at',
  'change_seq',
] as const satisfies ReadonlyArray<keyof ContactsTable>;

// SQLite binds at most 32766 parameters per statement, PostgreSQL 65535: size chunks for the
// smaller so one statement shape works on both (2520 rows, so a 1000-contact page is one statement).
const ROWS_PER_STATEMENT = Math.floor(32766 / ROW_COLUMNS.length);
// Distinct upsert sizes kept compiled: the full page size, the short last page, a few stragglers.
const STATEMENT_CACHE_SIZE = 8;

// An unchanged etag means an unchanged contact: skip the write, keep updated_at and its change
// number, and leave the row out of the count (SQLite's changes() and PostgreSQL's rowCount agree).
// A tombstone that comes back is written whatever its etag. created_at is never rewritten.
const ON_CONFLICT = `ON CONFLICT (owner_id, external_id) DO UPDATE SET etag = excluded.etag,
  display_name = excluded.display_name, email = excluded.email, phone = excluded.phone,
  organization = excluded.organization, phone_e164 = excluded.phone_e164, raw = excluded.raw,
  updated_at = excluded.updated_at, deleted_at = excluded.deleted_at, change_seq = excluded.change_seq
  WHERE contacts.etag <> excluded.etag OR contacts.deleted_at IS NOT NULL`;
const SQLITE_UPSERT = `INSERT INTO contacts (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')}) ${ON_CONFLICT}`;

/**
 * How a page reaches the table: `prepared` (SQLite, a statement per row on the raw handle),
 * `unnest` (PostgreSQL, one statement binding a column array each), `multi-row` (either, through
 * Kysely: one VALUES list of 13 parameters a row).
 */
export type WritePath = 'prepared' | 'unnest' | 'multi-row';

/** The writer that takes `path`; `prepared` needs `sqlite`, the handle under the store's Kysely dialect. */
export function createContactWriter(path: WritePath, sqlite?: SqliteHandle): ContactWriter {
  if (path === 'prepared') {
    if (sqlite === undefined) throw new Error('the prepared write path needs the SQLite handle: pass `sqlite` to createStore');
    return preparedWriter(sqlite);
  }
  return path === 'unnest' ? unnestWriter() : multiRowWriter();
}

/**
 * Saves a page of one user's contacts, its deletions, and the checkpoint `saved` it moves the import
 * to (with those deletions counted), all or nothing.
 */
export type PageWriter = (
  db: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  contacts: readonly ContactRecord[],
  saved: PageSave,
) => Promise<PageResult>;

/**
 * How `path` saves a page with its checkpoint: one statement with `unnest` when the page deletes
 * nothing, else `writer`, the deletions and the checkpoint in a transaction.
 */
export function createPageWriter(path: WritePath, writer: ContactWriter): PageWriter {
  const inTransaction = transactionPageWriter(writer);
  if (path !== 'unnest') return inTransaction;
  const oneStatement = unnestPageWriter();
  return (db, tenant, userId, provider, contacts, saved) =>
    (hasDeletions(saved.deletions) ? inTransaction : oneStatement)(db, tenant, userId, provider, contacts, saved);
}

function hasDeletions(deletions: PageDeletions | undefined): boolean {
  return (deletions?.externalIds?.length ?? 0) > 0 || deletions?.sweep !== undefined;
}

/**
 * The page in one transaction: the reported deletions first (a contact the page also lists comes
 * back), then the contacts, then the sweep (which leaves what the page wrote: it has a newer change
 * number), and last the checkpoint with what they tombstoned counted in.
 */
function transactionPageWriter(writer: ContactWriter): PageWriter {
  return (db, tenant, userId, provider, contacts, saved) =>
    // One SQLite writer per process (db/changes.ts), or a second store on the file deadlocks it.
    oneSqliteWriterAtATime(db, () =>
      db.transaction().execute(async (trx) => {
        const { externalIds = [], sweep } = saved.deletions ?? {};
        let deleted = await tombstoneIn(trx, tenant, userId, provider, externalIds);
        const written = await writer(trx, tenant, userId, provider, contacts);
        if (sweep) deleted += await sweepIn(trx, tenant, userId, provider, sweep.mark, sweep.upTo);
        await writeCheckpoint(trx, tenant, userId, { ...saved, checkpoint: countDeletions(saved.checkpoint, deleted) });
        return { written, deleted };
      }),
    );
}

function multiRowWriter(): ContactWriter {
  const statements = new StatementCache();
  return async (trx, tenant, userId, provider, contacts) => {
    if (contacts.length === 0) return 0;
    // The rows of one call are one user's; their change number orders them in the change feed.
    // Taken before the owner is read: a SQLite transaction that starts with a read and writes later
    // fails at once (SQLITE_BUSY, no busy wait) if another process wrote in between, while one that
    // starts with a write waits its turn. In PostgreSQL the counter row's lock is the page's first.
    const seq = await nextChangeSeq(trx, tenant, userId);
    const ownerId = await fileOwner(trx, tenant, userId, provider);
    const rows = contactRows(ownerId, seq, contacts);
    let written = 0;
    for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
      written += await upsertRows(trx, statements, rows.slice(start, start + ROWS_PER_STATEMENT));
    }
    return written;
  };
}

function preparedWriter(sqlite: SqliteHandle): ContactWriter {
  // Prepared on first use (the store is opened before anything writes), then kept for good.
  let upsert: SqliteDatabase.Statement<unknown[]> | undefined;
  return async (trx, tenant, userId, provider, contacts) => {
    const latest = lastOfEach(contacts);
    if (latest.length === 0) return 0;
    // The change number first (a write), then the owner: see multiRowWriter.
    const seq = await nextChangeSeq(trx, tenant, userId);
    const ownerId = await fileOwner(trx, tenant, userId, provider);
    upsert ??= sqlite.prepare(SQLITE_UPSERT);
    const now = new Date().toISOString();
    // The values bound straight from the record: no row object, no page-wide parameter array (those
    // cost more CPU: bench/README.md). One array refilled per contact, as better-sqlite3 copies
    // values into SQLite when it binds them. The caller's transaction holds Kysely's one connection,
    // and these statements run on that same connection, in that transaction.
    const values: unknown[] = [ownerId, '', '', null, null, null, null, null, '', now, now, null, seq];
    let written = 0;
    for (const contact of latest) {
      values[1] = contact.externalId;
      values[2] = contact.etag;
      values[3] = contact.displayName ?? null;
      values[4] = contact.email ?? null;
      values[5] = contact.phone ?? null;
      values[6] = contact.organization ?? null;
      values[7] = contact.phoneE164 ?? null;
      values[8] = contact.rawJson ?? JSON.stringify(contact.raw ?? null);
      written += upsert.run(values).changes;
    }
    return written;
  };
}

/**
 * PostgreSQL: the page as eight column arrays, unnested into rows by the server. A dozen parameters
 * whatever the page size instead of 13,000, so neither pg nor the server handles a parameter per
 * value, and the statement text is the same for every page.
 */
function unnestWriter(): ContactWriter {
  return async (trx, tenant, userId, provider, contacts) => {
    const latest = lastOfEach(contacts);
    if (latest.length === 0) return 0;
    // The change number first (a write), then the owner: see multiRowWriter.
    const seq = await nextChangeSeq(trx, tenant, userId);
    const ownerId = await fileOwner(trx, tenant, userId, provider);
    const result = await unnestInsert(sql`${ownerId}::integer`, latest, sql`${seq}::integer`).execute(trx);
    return Number(result.numAffectedRows ?? 0n);
  };
}

/**
 * PostgreSQL, a page that deletes nothing with its checkpoint in one statement: the change number,
 * the owner, the contacts and the checkpoint are parts of one `WITH`, in the order the transaction
 * of {@link transactionPageWriter} takes them, so they commit together as it would. The contacts
 * read the number from its part, so the counter row is taken (and locked until commit) before any
 * contact is written. PostgreSQL does not promise the order in which the parts run: should two
 * writers of one user ever lock in opposite orders, it fails one as a deadlock and its batch
 * retries. A page with no contacts takes no number, as the writers do not.
 */
function unnestPageWriter(): PageWriter {
  return async (db, tenant, userId, provider, contacts, saved) => {
    const latest = lastOfEach(contacts);
    if (latest.length === 0) {
      await fileCheckpoint(db, tenant, userId, saved).execute();
      return { written: 0, deleted: 0 };
    }
    const contactsPart = unnestInsert(sql`(SELECT owner_id FROM owner)`, latest, sql`(SELECT seq FROM seq)`);
    const owner = fileOwnerParts(db, tenant, userId, provider);
    const { written } = await db
      .with('seq', () => takeChangeSeq(db, tenant, userId))
      .with('owner_filed', () => owner.filed)
      .with('owner', () => owner.owner)
      .with('checkpoint', () => fileCheckpoint(db, tenant, userId, saved).returning('import_key'))
      // Kysely parenthesises the builders it made, not raw SQL.
      .with('written', () => sql<{ one: number }>`(${contactsPart} RETURNING 1 AS one)`)
      .selectFrom('written')
      .select((eb) => eb.fn.countAll<string>().as('written'))
      .executeTakeFirstOrThrow();
    return { written: Number(written), deleted: 0 };
  };
}

/**
 * PostgreSQL, the owner's number as two parts of one statement (`owner_filed`, then `owner`): filed
 * when it has none (no row when it has one, so the identity is not spent on every page), else read.
 * A first write that races another for the same owner reads no row and fails on the NOT NULL key,
 * to be retried, as the batch is.
 */
function fileOwnerParts(db: Kysely<StoreDatabase>, tenant: string, userId: string, provider: string) {
  const existing = ownerIdOf(db, tenant, userId, provider);
  return {
    filed: sql<{ owner_id: number }>`(INSERT INTO owners (tenant_id, user_id, provider)
      SELECT ${tenant}, ${userId}, ${provider} WHERE NOT EXISTS (${existing})
      ON CONFLICT DO NOTHING RETURNING owner_id)`,
    owner: sql<{ owner_id: number }>`(SELECT owner_id FROM owner_filed UNION ALL ${existing})`,
  };
}

/** The `INSERT … SELECT … FROM unnest(…)` of `latest` (one per externalId) for the owner `ownerId`, stamped with the change number `seq`. */
function unnestInsert(ownerId: RawBuilder<unknown>, latest: readonly ContactRecord[], seq: RawBuilder<unknown>): RawBuilder<unknown> {
  const count = latest.length;
  const ids = new Array<string>(count);
  const etags = new Array<string>(count);
  const names = new Array<string | null>(count);
  const emails = new Array<string | null>(count);
  const phones = new Array<string | null>(count);
  const organizations = new Array<string | null>(count);
  const e164s = new Array<string | null>(count);
  const raws = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const contact = latest[i] as ContactRecord;
    ids[i] = contact.externalId;
    etags[i] = contact.etag;
    names[i] = contact.displayName ?? null;
    emails[i] = contact.email ?? null;
    phones[i] = contact.phone ?? null;
    organizations[i] = contact.organization ?? null;
    e164s[i] = contact.phoneE164 ?? null;
    raws[i] = contact.rawJson ?? JSON.stringify(contact.raw ?? null);
  }
  // JSON text (JSON.stringify's, here or in a decode thread) holds no control character or lone
  // surrogate: its array is always a literal (textArray), without the check.
  const rawLiteral = `{${JSON.stringify(raws).slice(1, -1)}}`;
  const now = new Date().toISOString();
  // Every unnest argument is typed: the server must not guess an array's element type.
  return sql`INSERT INTO contacts (${sql.raw(ROW_COLUMNS.join(', '))})
    SELECT ${ownerId}, u.external_id, u.etag, u.display_name, u.email, u.phone, u.organization,
      u.phone_e164, u.raw, ${now}, ${now}, NULL, ${seq}
    FROM unnest(${textArray(ids)}::text[], ${textArray(etags)}::text[], ${textArray(names)}::text[], ${textArray(emails)}::text[],
      ${textArray(phones)}::text[], ${textArray(organizations)}::text[], ${textArray(e164s)}::text[], ${rawLiteral}::text[])
      AS u(external_id, etag, display_name, email, phone, organization, phone_e164, raw)
    ${sql.raw(ON_CONFLICT)}`;
}

/** An escape JSON writes that a PostgreSQL array literal reads otherwise: a control character's or a lone surrogate's. */
const UNLIKE_ARRAY_LITERAL = /(?:^|[^\\])(?:\\\\)*\\[bfnrtu]/;

/**
 * `values` as a PostgreSQL text-array literal written by JSON.stringify, or, when a value needs an
 * escape the two write differently, the values themselves for pg to escape. pg escapes each
 * element with two regular-expression passes, which for a page costs more than the insert; JSON
 * escapes a quote and a backslash exactly as an array literal does, writes `null` as the literal's
 * NULL, and runs natively. Only the brackets differ.
 */
function textArray(values: ReadonlyArray<string | null>): string | ReadonlyArray<string | null> {
  const json = JSON.stringify(values);
  return UNLIKE_ARRAY_LITERAL.test(json) ? values : `{${json.slice(1, -1)}}`;
}

/**
 * `contacts` with one entry per externalId, the last one: the multi-row statement must not name a
 * row twice (PostgreSQL refuses, "ON CONFLICT DO UPDATE command cannot affect row a second time"),
 * and the single-row path would count a repeated contact as written twice.
 */
function lastOfEach(contacts: readonly ContactRecord[]): readonly ContactRecord[] {
  const byExternalId = new Map<string, ContactRecord>();
  for (const contact of contacts) byExternalId.set(contact.externalId, contact);
  // Pages almost never repeat an id: then the page itself is the answer, in its order.
  return byExternalId.size === contacts.length ? contacts : [...byExternalId.values()];
}

/** The rows of `contacts` for the multi-row statement, of the owner `ownerId`, stamped with the change number `seq`. */
function contactRows(ownerId: number, seq: number, contacts: readonly ContactRecord[]): ContactsTable[] {
  const now = new Date().toISOString();
  return lastOfEach(contacts).map((contact) => ({
    owner_id: ownerId,
    external_id: contact.externalId,
    etag: contact.etag,
    display_name: contact.displayName,
    email: contact.email,
    phone: contact.phone,
    organization: contact.organization,
    phone_e164: contact.phoneE164 ?? null,
    raw: contact.rawJson ?? JSON.stringify(contact.raw ?? null),
    created_at: now,
    updated_at: now,
    deleted_at: null,
    change_seq: seq,
  }));
}

/** Inserts new rows and rewrites existing ones whose etag changed (the rule of {@link SQLITE_UPSERT}). */
function upsertQuery(db: Kysely<StoreDatabase>, rows: ContactsTable[]) {
  return db
    .insertInto('contacts')
    .values(rows)
    .onConflict((oc) =>
      oc
        .columns(['owner_id', 'external_id'])
        .doUpdateSet((eb) => ({
          etag: eb.ref('excluded.etag'),
          display_name: eb.ref('excluded.display_name'),
          email: eb.ref('excluded.email'),
          phone: eb.ref('excluded.phone'),
          organization: eb.ref('excluded.organization'),
          phone_e164: eb.ref('excluded.phone_e164'),
          raw: eb.ref('excluded.raw'),
          updated_at: eb.ref('excluded.updated_at'),
          deleted_at: eb.ref('excluded.deleted_at'),
          change_seq: eb.ref('excluded.change_seq'),
        }))
        .where((eb) => eb.or([eb('contacts.etag', '<>', eb.ref('excluded.etag')), eb('contacts.deleted_at', 'is not', null)])),
    );
}

/** Runs {@link upsertQuery} for `rows`; returns how many rows it inserted or rewrote. */
async function upsertRows(db: Kysely<StoreDatabase>, statements: StatementCache, rows: ContactsTable[]): Promise<number> {
  const parameters = rowParameters(rows);
  let compiled = statements.get(rows.length);
  if (compiled === undefined) {
    compiled = upsertQuery(db, rows).compile();
    // The cached SQL is only reusable if its placeholders follow rowParameters' order.
    if (
      compiled.parameters.length !== parameters.length ||
      compiled.parameters.some((value, i) => value !== parameters[i])
    ) {
      throw new Error('upsert statement binds its values in an unexpected order; rowParameters must match upsertQuery');
    }
    statements.set(rows.length, compiled);
  }
  const result = await db.executeQuery({ ...compiled, parameters });
  return Number(result.numAffectedRows ?? 0n);
}

/** The values of `rows` in the order the multi-row VALUES list binds them: row by row, columns as in the table. */
function rowParameters(rows: ContactsTable[]): unknown[] {
  const parameters = new Array<unknown>(rows.length * ROW_COLUMNS.length);
  let i = 0;
  for (const row of rows) for (const column of ROW_COLUMNS) parameters[i++] = row[column];
  return parameters;
}

/**
 * Compiled upsert statements by row count. Compiling a page's insert costs Kysely about as long as
 * SQLite takes to run it (measured in bench/README.md), yet the SQL depends only on the row count:
 * imports send full pages, so a few entries serve almost every call.
 */
class StatementCache {
  readonly #byRowCount = new Map<number, CompiledQuery>();

  get(rowCount: number): CompiledQuery | undefined {
    return this.#byRowCount.get(rowCount);
  }

  set(rowCount: number, compiled: CompiledQuery): void {
    if (this.#byRowCount.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.#byRowCount.keys().next();
      if (!oldest.done) this.#byRowCount.delete(oldest.value);
    }
    this.#byRowCount.set(rowCount, compiled);
  }
}
