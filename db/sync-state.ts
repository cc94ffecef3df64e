/**
 * Sync tokens: where the last import of a user's contacts at a provider left off, so the next one
 * can ask only for what changed since (Google People `syncToken`, CardDAV `sync-collection`).
 *
 * One row per (tenant, user, provider). A token is only good with the request it was made with,
 * so each is kept with a fingerprint of that request (`params`: fields asked for, the address
 * book); a later import whose request differs reads everything instead. Not credentials: a token
 * is useless without the user's own access. Erasure deletes them with the contacts.
 */
import type { Kysely } from 'kysely';
import type { StoreDatabase } from './schema';

/** A stored sync token and the request it is valid with. */
export interface SyncState {
  token: string;
  /** A fingerprint of the request parameters the token was issued for (the source decides what). */
  params: string;
  updatedAt: string;
}

/** Sync tokens of every tenant (each method takes the tenant). */
export interface SyncStateStore {
  /** The stored token of this user and provider, or `null`. */
  get(tenant: string, userId: string, provider: string): Promise<SyncState | null>;
  /** Replaces the stored token. Idempotent: saving the same token again changes nothing that matters. */
  save(tenant: string, userId: string, provider: string, state: { token: string; params: string }): Promise<void>;
  /** Forgets the token (an import that could not use it and had no new one to leave). */
  forget(tenant: string, userId: string, provider: string): Promise<void>;
  /** Erasure: every token of the user. */
  deleteUser(tenant: string, userId: string): Promise<void>;
}

/** The {@link SyncStateStore} over the `sync_state` table. */
export function createSyncStateStore(db: Kysely<StoreDatabase>): SyncStateStore {
  return {
    async get(tenant, userId, provider) {
      const row = await db
        .selectFrom('sync_state')
        .select(['token', 'params', 'updated_at'])
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        .where('provider', '=', provider)
        .executeTakeFirst();
      return row ? { token: row.token, params: row.params, updatedAt: row.updated_at } : null;
    },

    async save(tenant, userId, provider, { token, params }) {
      const updated_at = new Date().toISOString();
      await db
        .insertInto('sync_state')
        .values({ tenant_id: tenant, user_id: userId, provider, token, params, updated_at })
        .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'provider']).doUpdateSet({ token, params, updated_at }))
        .execute();
    },

    async forget(tenant, userId, provider) {
      await db
        .deleteFrom('sync_state')
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        .where('provider', '=', provider)
        .execute();
    },

    async deleteUser(tenant, userId) {
      await db.deleteFrom('sync_state').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
    },
  };
}
