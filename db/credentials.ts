/**
 * Users' provider credentials that outlive one request: a Google refresh token, and the last access
 * token a refresh gave. One row per (tenant, user, provider). The store only ever sees them sealed
 * (`encryption/token-seal.ts`, by the API and the workers): a copy of the database leaks no token, and
 * none of it ever enters workflow history, which carries only a note that the token is stored here.
 */
import type { Kysely } from 'kysely';
import type { StoreDatabase } from './schema';

/** Sealed values, as the API and the workers exchange them through the store. */
export interface StoredCredentials {
  sealedRefreshToken: string | null;
  sealedAccessToken: string | null;
  /** ISO time `sealedAccessToken` expires; `null` when unknown. */
  accessExpiresAt: string | null;
  updatedAt: string;
}

export interface CredentialKey {
  tenant: string;
  userId: string;
  provider: string;
}

export interface CredentialStore {
  get(key: CredentialKey): Promise<StoredCredentials | null>;
  /**
   * New credentials from the user (a new import, or re-auth): replaces the row, forgetting any
   * access token an earlier refresh left, which belonged to the old refresh token.
   */
  replace(key: CredentialKey, sealedRefreshToken: string): Promise<void>;
  /**
   * What a refresh gave: the new access token and, when the server rotated it, a new refresh token.
   * Idempotent; a refresh of a row erased meanwhile writes nothing.
   */
  saveRefreshed(key: CredentialKey, refreshed: { sealedAccessToken: string; accessExpiresAt: string | null; sealedRefreshToken?: string }): Promise<void>;
  /** Erasure: every credential of the user; resolves to how many rows went. */
  deleteUser(tenant: string, userId: string): Promise<number>;
}

export function createCredentialStore(db: Kysely<StoreDatabase>): CredentialStore {
  const where = (key: CredentialKey) =>
    db
      .selectFrom('credentials')
      .where('tenant_id', '=', key.tenant)
      .where('user_id', '=', key.userId)
      .where('provider', '=', key.provider);
  return {
    async get(key) {
      const row = await where(key).selectAll().executeTakeFirst();
      if (!row) return null;
      return {
        sealedRefreshToken: row.sealed_refresh_token,
        sealedAccessToken: row.sealed_access_token,
        accessExpiresAt: row.access_expires_at,
        updatedAt: row.updated_at,
      };
    },

    async replace(key, sealedRefreshToken) {
      const now = new Date().toISOString();
      await db
        .insertInto('credentials')
        .values({
          tenant_id: key.tenant,
          user_id: key.userId,
          provider: key.provider,
          sealed_refresh_token: sealedRefreshToken,
          sealed_access_token: null,
          access_expires_at: null,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'user_id', 'provider']).doUpdateSet({
            sealed_refresh_token: sealedRefreshToken,
            sealed_access_token: null,
            access_expires_at: null,
            updated_at: now,
          }),
        )
        .execute();
    },

    async saveRefreshed(key, refreshed) {
      await db
        .updateTable('credentials')
        .set({
          sealed_access_token: refreshed.sealedAccessToken,
          access_expires_at: refreshed.accessExpiresAt,
          ...(refreshed.sealedRefreshToken ? { sealed_refresh_token: refreshed.sealedRefreshToken } : {}),
          updated_at: new Date().toISOString(),
        })
        .where('tenant_id', '=', key.tenant)
        .where('user_id', '=', key.userId)
        .where('provider', '=', key.provider)
        .execute();
    },

    async deleteUser(tenant, userId) {
      const result = await db
        .deleteFrom('credentials')
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
