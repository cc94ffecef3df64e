/**
 * The contact queries, written once against Kysely and run unchanged on SQLite and PostgreSQL.
 * Only {@link openStore} (db/index.ts) knows which dialect is underneath. The one exception is the
 * hot path, writing a page of contacts: db/contact-upsert.ts runs it the cheapest way each allows.
 */
import type { Kysely } from 'kysely';
import { createApiKeyStore } from './api-keys';
import { createWebhookStore } from './webhooks';
import { createConnectionStore } from './connections';
import { createConnectSessionStore } from './connect-sessions';
import { createConnectSettingsStore } from './connect-settings';
import {
  currentChangeSeq,
  deleteUserChanges,
  listChanges,
  markSeen,
  nextChangeSeq,
  sweepUnseen,
  tombstoneContacts,
  writeTransaction,
} from './changes';
import { createContactWriter, createPageWriter, type ContactWriter, type PageWriter, type SqliteHandle, type WritePath } from './contact-upsert';
import { deleteUserCheckpoints, readCheckpoint } from './checkpoints';
import { deleteUserRejects, listRejects, recordRejects } from './rejects';
import { createBudgetStore, deleteUserBudgetKeys } from './rate-budgets';
import { createImportStateStore } from './import-state';
import type { StoreDatabase } from './schema';
import { createSyncStateStore } from './sync-state';
import { compareText, deleteUserOwners, ownerIdOf, ownerIdsOf, ownersOf } from './owners';
import { STORED_CONTACT_COLUMNS, storedContact, type StoredContactRow } from './stored-contact';
import { createUploadStore, type UploadStoreOptions } from './uploads';
import {
  InvalidCursorError,
  type ContactPage,
  type ContactRecord,
  type ContactStore,
  type PageSave,
  type Store,
  type UpsertResult,
} from './types';

const MAX_PAGE_SIZE = 1000;

interface CursorKey {
  provider: string;
  externalId: string;
}

/** How {@link createStore} may reach the database beyond Kysely. */
export interface StoreOptions extends UploadStoreOptions {
  /**
   * The better-sqlite3 handle under `db`'s SQLite dialect: pages of contacts are then written with
   * one prepared statement per row on it (db/contact-upsert.ts). Without it, one statement a page
   * through Kysely (`unnest` arrays on PostgreSQL, a multi-row VALUES list on SQLite).
   */
  sqlite?: SqliteHandle;
  /** How pages are written: the fastest the store allows unless set (the benchmark sets it to compare them). */
  writePath?: WritePath;
}

/**
 * Builds the {@link Store} over an open, migrated Kysely instance; `close()` destroys it.
 * `options.filesDir` is where SQLite keeps uploaded files ({@link createUploadStore}).
 */
export function createStore(db: Kysely<StoreDatabase>, kind: Store['kind'], options: StoreOptions = {}): Store {
  const path = options.writePath ?? (options.sqlite ? 'prepared' : kind === 'postgres' ? 'unnest' : 'multi-row');
  const writeContacts = createContactWriter(path, options.sqlite);
  const writePage = createPageWriter(path, writeContacts);
  return {
    kind,
    apiKeys: createApiKeyStore(db),
    webhooks: createWebhookStore(db),
    connections: createConnectionStore(db),
    connectSessions: createConnectSessionStore(db),
    connectSettings: createConnectSettingsStore(db),
    uploads: createUploadStore(db, kind, options),
    syncState: createSyncStateStore(db),
    budgets: createBudgetStore(db, kind),
    importStates: createImportStateStore(db, kind),
    tenant: (tenant) => tenantContacts(db, writeContacts, writePage, tenant),

    async ping(): Promise<void> {
      await db.selectNoFrom((eb) => eb.lit(1).as('ok')).execute();
    },

    async close(): Promise<void> {
      await db.destroy();
    },
  };
}

/** The contact queries of one tenant. */
function tenantContacts(db: Kysely<StoreDatabase>, writeContacts: ContactWriter, writePage: PageWriter, tenant: string): ContactStore {
  return {
    tenant,

    async upsertContacts(userId: string, provider: string, contacts: readonly ContactRecord[]): Promise<UpsertResult> {
      if (contacts.length === 0) return { written: 0 };
      // A transaction even for one statement: it takes the user's next change number (db/changes.ts).
      return writeTransaction(db, async (trx) => ({ written: await writeContacts(trx, tenant, userId, provider, contacts) }));
    },

    savePage: (userId: string, provider: string, contacts: readonly ContactRecord[], saved: PageSave) =>
      writePage(db, tenant, userId, provider, contacts, saved),

    readCheckpoint: (importKey) => readCheckpoint(db, tenant, importKey),

    async listContacts(userId: string, options: { limit: number; cursor?: string | null }): Promise<ContactPage> {
      const { limit, cursor } = options;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
        throw new RangeError(`listContacts limit must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${limit})`);
      }
      const after = cursor ? decodeCursor(cursor) : null;
      // Each owner's contacts are a range of the key (owner_id, external_id), read in provider order
      // and past the cursor: every page is an index seek per owner, however deep into the list it is.
      const rows: Array<{ provider: string; row: StoredContactRow }> = [];
      for (const owner of await ownersOf(db, tenant, userId)) {
        if (after && compareText(owner.provider, after.provider) < 0) continue;
        let query = db
          .selectFrom('contacts')
          .select(STORED_CONTACT_COLUMNS)
          .where('owner_id', '=', owner.ownerId)
          // Tombstones are for the change feed (db/changes.ts), not the listing.
          .where('deleted_at', 'is', null);
        if (after && owner.provider === after.provider) query = query.where('external_id', '>', after.externalId);
        // One row more than asked tells whether another page follows.
        const found = await query.orderBy('external_id').limit(limit + 1 - rows.length).execute();
        for (const row of found) rows.push({ provider: owner.provider, row });
        if (rows.length > limit) break;
      }
      const pageRows = rows.length > limit ? rows.slice(0, limit) : rows;
      const last = pageRows.at(-1);
      return {
        items: pageRows.map(({ provider, row }) => storedContact(provider, row)),
        nextCursor:
          rows.length > limit && last ? encodeCursor({ provider: last.provider, externalId: last.row.external_id }) : null,
      };
    },

    async countContacts(userId: string, provider?: string): Promise<number> {
      const { count } = await db
        .selectFrom('contacts')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('owner_id', 'in', provider === undefined ? ownerIdsOf(db, tenant, userId) : ownerIdOf(db, tenant, userId, provider))
        .where('deleted_at', 'is', null)
        .executeTakeFirstOrThrow();
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
      await createSyncStateStore(db).deleteUser(tenant, userId);
      await deleteUserCheckpoints(db, tenant, userId);
      await deleteUserBudgetKeys(db, tenant, userId);
      return writeTransaction(db, async (trx) => {
        // The user's change counter first, as every page writer takes it first: a page being saved
        // commits before these deletes or waits for them, so none files contacts under an owner
        // deleted here. The counter goes last, so the user's next write starts it over.
        await nextChangeSeq(trx, tenant, userId);
        const result = await trx.deleteFrom('contacts').where('owner_id', 'in', ownerIdsOf(trx, tenant, userId)).executeTakeFirst();
        await deleteUserOwners(trx, tenant, userId);
        await deleteUserChanges(trx, tenant, userId);
        return Number(result.numDeletedRows);
      });
    },
  };
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
