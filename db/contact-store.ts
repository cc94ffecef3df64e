/**
 * The contact queries, written once against Kysely and run unchanged on SQLite and PostgreSQL.
 * Only {@link openStore} (db/index.ts) knows which dialect is underneath.
 */
import type { CompiledQuery, Kysely } from 'kysely';
import { createApiKeyStore } from './api-keys';
import { createWebhookStore } from './webhooks';
import { createCredentialStore } from './credentials';
import {
  currentChangeSeq,
  deleteUserChanges,
  listChanges,
  markSeen,
  nextChangeSeq,
  oneSqliteWriterAtATime,
  sweepUnseen,
  tombstoneContacts,
  writeTransaction,
} from './changes';
import { deleteUserCheckpoints, readCheckpoint, writeCheckpoint } from './checkpoints';
import { deleteUserRejects, listRejects, recordRejects } from './rejects';
import type { ContactsTable, StoreDatabase } from './schema';
import { createSyncStateStore } from './sync-state';
import { storedContact } from './stored-contact';
import { createUploadStore, type UploadStoreOptions } from './uploads';
import {
  InvalidCursorError,
  type ContactPage,
  type ContactRecord,
  type ContactStore,
  type PageCheckpoint,
  type Store,
  type UpsertResult,
} from './types';

/** The columns of a contacts row, in the order the multi-row VALUES list binds them. */
const ROW_COLUMNS: ReadonlyArray<keyof ContactsTable> = [
  'tenant_id',
  'user_id',
  'provider',
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
];

// SQLite binds at most 32766 parameters per statement, PostgreSQL 65535: size chunks for the
// smaller so one statement shape works on both (2978 rows, so a 1000-contact page is one statement).
const ROWS_PER_STATEMENT = Math.floor(32766 / ROW_COLUMNS.length);
const MAX_PAGE_SIZE = 1000;
// Distinct upsert sizes kept compiled: the full page size, the short last page, a few stragglers.
const STATEMENT_CACHE_SIZE = 8;

/** What a listing reads: a row's columns but its owner's (the query already names them). */
const LISTED_COLUMNS = ROW_COLUMNS.filter((column) => column !== 'tenant_id' && column !== 'user_id');

interface CursorKey {
  provider: string;
  externalId: string;
}

/**
 * Builds the {@link Store} over an open, migrated Kysely instance; `close()` destroys it.
 * `options.filesDir` is where SQLite keeps uploaded files ({@link createUploadStore}).
 */
export function createStore(db: Kysely<StoreDatabase>, kind: Store['kind'], options: UploadStoreOptions = {}): Store {
  const statements = new StatementCache();
  return {
    kind,
    apiKeys: createApiKeyStore(db),
    webhooks: createWebhookStore(db),
    credentials: createCredentialStore(db),
    uploads: createUploadStore(db, kind, options),
    syncState: createSyncStateStore(db),
    tenant: (tenant) => tenantContacts(db, statements, tenant),

    async ping(): Promise<void> {
      await db.selectNoFrom((eb) => eb.lit(1).as('ok')).execute();
    },

    async close(): Promise<void> {
      await db.destroy();
    },
  };
}

/** The contact queries of one tenant. */
function tenantContacts(db: Kysely<StoreDatabase>, statements: StatementCache, tenant: string): ContactStore {
  return {
    tenant,

    async upsertContacts(userId: string, provider: string, contacts: readonly ContactRecord[]): Promise<UpsertResult> {
      if (contacts.length === 0) return { written: 0 };
      const rows = contactRows(tenant, userId, provider, contacts);
      // A transaction even for one statement: it takes the user's next change number (db/changes.ts).
      return writeTransaction(db, async (trx) => ({ written: await upsertChunks(trx, statements, rows) }));
    },

    async savePage(userId: string, provider: string, contacts: readonly ContactRecord[], checkpoint: PageCheckpoint): Promise<UpsertResult> {
      const rows = contactRows(tenant, userId, provider, contacts);
      // One SQLite writer per process (db/changes.ts), or a second store on the file deadlocks it.
      return oneSqliteWriterAtATime(db, () =>
        db.transaction().execute(async (trx) => {
          const written = await upsertChunks(trx, statements, rows);
          await writeCheckpoint(trx, tenant, userId, checkpoint);
          return { written };
        }),
      );
    },

    readCheckpoint: (importKey) => readCheckpoint(db, tenant, importKey),

    async listContacts(userId: string, options: { limit: number; cursor?: string | null }): Promise<ContactPage> {
      const { limit, cursor } = options;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
        throw new RangeError(`listContacts limit must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${limit})`);
      }
      const after = cursor ? decodeCursor(cursor) : null;
      let query = db
        .selectFrom('contacts')
        .select(LISTED_COLUMNS)
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        // Tombstones are for the change feed (db/changes.ts), not the listing.
        .where('deleted_at', 'is', null);
      if (after) {
        // A row-value comparison is a range on the primary key (tenant_id, user_id, provider, external_id):
        // every page is an index seek, however deep into the list it is.
        query = query.where(({ eb, refTuple, tuple }) =>
          eb(refTuple('provider', 'external_id'), '>', tuple(after.provider, after.externalId)),
        );
      }
      // One row more than asked tells whether another page follows.
      const rows = await query.orderBy('provider').orderBy('external_id').limit(limit + 1).execute();
      const pageRows = rows.length > limit ? rows.slice(0, limit) : rows;
      const last = pageRows.at(-1);
      return {
        items: pageRows.map(storedContact),
        nextCursor:
          rows.length > limit && last ? encodeCursor({ provider: last.provider, externalId: last.external_id }) : null,
      };
    },

    async countContacts(userId: string, provider?: string): Promise<number> {
      let query = db
        .selectFrom('contacts')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        .where('deleted_at', 'is', null);
      if (provider !== undefined) query = query.where('provider', '=', provider);
      const { count } = await query.executeTakeFirstOrThrow();
      // PostgreSQL returns count(*) as a bigint string, SQLite as a number.
      return Number(count);
    },

    recordRejects: (importKey, userId, rejects) => recordRejects(db, tenant, importKey, userId, rejects),

    listRejects: (importKey, options) => listRejects(db, tenant, importKey, options),

    tombstoneContacts: (userId, provider, externalIds) => tombstoneContacts(db, tenant, userId, provider, externalIds),

    markSeen: (userId, provider, externalIds, mark) => markSeen(db, tenant, userId, provider, externalIds, mark),

    sweepUnseen: (userId, provider, mark, upTo) => sweepUnseen(db, tenant, userId, provider, mark, upTo),

    currentChangeSeq: (userId) => currentChangeSeq(db, tenant, userId),

    listChanges: (userId, options) => listChanges(db, tenant, userId, options),

    async deleteUser(userId: string): Promise<number> {
      await deleteUserRejects(db, tenant, userId);
      // Also the sync tokens: an incremental import after erasure would bring back only the changes.
      await deleteUserChanges(db, tenant, userId);
      await createSyncStateStore(db).deleteUser(tenant, userId);
      await deleteUserCheckpoints(db, tenant, userId);
      const result = await db
        .deleteFrom('contacts')
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

/** Inserts new rows and rewrites existing ones whose etag changed. */
function upsertQuery(db: Kysely<StoreDatabase>, rows: ContactsTable[]) {
  return db
    .insertInto('contacts')
    .values(rows)
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'user_id', 'provider', 'external_id'])
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
        // An unchanged etag means an unchanged contact: skip the write, keep updated_at and its
        // change number, and leave the row out of the count (SQLite's changes() and PostgreSQL's
        // rowCount agree). A tombstone that comes back is written whatever its etag.
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

/**
 * The rows of `contacts`, one per externalId (the last one wins): PostgreSQL refuses to update one
 * row twice in a statement ("ON CONFLICT DO UPDATE command cannot affect row a second time").
 */
function contactRows(tenant: string, userId: string, provider: string, contacts: readonly ContactRecord[]): ContactsTable[] {
  const now = new Date().toISOString();
  const byExternalId = new Map<string, ContactsTable>();
  for (const contact of contacts) {
    byExternalId.set(contact.externalId, {
      tenant_id: tenant,
      user_id: userId,
      provider,
      external_id: contact.externalId,
      etag: contact.etag,
      display_name: contact.displayName,
      email: contact.email,
      phone: contact.phone,
      organization: contact.organization,
      phone_e164: contact.phoneE164 ?? null,
      raw: JSON.stringify(contact.raw ?? null),
      created_at: now,
      updated_at: now,
      deleted_at: null,
      // Stamped by upsertChunks, inside the write's transaction.
      change_seq: 0,
    });
  }
  return [...byExternalId.values()];
}

/** {@link upsertRows} in statements of at most ROWS_PER_STATEMENT rows, inside the caller's transaction. */
async function upsertChunks(trx: Kysely<StoreDatabase>, statements: StatementCache, rows: ContactsTable[]): Promise<number> {
  const first = rows[0];
  if (first === undefined) return 0;
  // The rows of one call are one user's; their change number orders them in the change feed.
  const seq = await nextChangeSeq(trx, first.tenant_id, first.user_id);
  for (const row of rows) row.change_seq = seq;
  let written = 0;
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    written += await upsertRows(trx, statements, rows.slice(start, start + ROWS_PER_STATEMENT));
  }
  return written;
}

/** The values of `rows` in the order the multi-row VALUES list binds them: row by row, columns as in the table. */
function rowParameters(rows: ContactsTable[]): unknown[] {
  const parameters = new Array<unknown>(rows.length * ROW_COLUMNS.length);
  let i = 0;
  for (const row of rows) for (const column of ROW_COLUMNS) parameters[i++] = row[column];
  return parameters;
}

/**
 * Compiled upsert statements by row count. Kysely takes about 10 ms to compile an 11,000-value
 * insert, as long as SQLite takes to run it, yet the SQL depends only on the row count: imports
 * send full pages, so a few entries serve almost every call.
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

function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify([key.provider, key.externalId])).toString('base64url');
}

function decodeCursor(cursor: string): CursorKey {
  // Buffer skips characters outside the alphabet, so check it first rather than decode garbage.
  if (/^[A-Za-z0-9_-]+$/.test(cursor)) {
    try {
      const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      // PostgreSQL text cannot hold NUL: a key with one is not ours, and must not reach the query.
      const valid = (part: unknown): part is string => typeof part === 'string' && !part.includes('\u0000');
      if (Array.isArray(key) && key.length === 2 && valid(key[0]) && valid(key[1])) {
        return { provider: key[0], externalId: key[1] };
      }
    } catch {
      // Not JSON: reported below like any other malformed cursor.
    }
  }
  throw new InvalidCursorError('cursor is not one this API returned: pass back nextCursor unchanged, or omit it to start over');
}
