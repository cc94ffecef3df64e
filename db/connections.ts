/**
 * Connections: a user's account at a provider that outlives one request, and the one home of the
 * user's secret there. One row per (tenant, user, provider), named to the web app by its connection
 * id (`con_…`): the secret (a Google refresh token, or a CardDAV account as JSON), the access token
 * the last refresh gave, the scopes granted, and the status (`connected`, `needs_reauth` once the
 * provider refused the secret for good, `revoked` once the web app disconnected it).
 *
 * A connect session stores one; so does an import given a raw refresh token. The store only ever
 * sees secrets sealed (`encryption/token-seal.ts`, by the API and the workers): a copy of the
 * database leaks none, and none enters workflow history, which carries only a note that it is kept.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { writeTransaction } from './changes';
import type { ConnectionsTable, StoreDatabase } from './schema';

/** Whose secret, at which provider: one connection each. */
export interface ConnectionKey {
  tenant: string;
  userId: string;
  provider: string;
}

export const CONNECTION_STATUSES = ['connected', 'needs_reauth', 'revoked'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** `con_` and 22 base64url characters (128 random bits): what the API names a connection by. */
export const CONNECTION_ID_PATTERN = /^con_[A-Za-z0-9_-]{22}$/;

/** A fresh connection id. */
export function newConnectionId(): string {
  return `con_${randomBytes(16).toString('base64url')}`;
}

/** A connection as the API shows it: never its secret. */
export interface Connection extends ConnectionKey {
  connectionId: string;
  status: ConnectionStatus;
  /** What the user granted, as the provider said it (empty when it did not). */
  scopes: string[];
  createdAt: string;
  updatedAt: string;
}

/** A connection with its sealed secrets, as the API and the workers exchange them through the store. */
export interface KeptConnection extends Connection {
  /** `null` once revoked. */
  sealedSecret: string | null;
  sealedAccessToken: string | null;
  /** ISO time `sealedAccessToken` expires; `null` when unknown. */
  accessExpiresAt: string | null;
  /** Counts the secrets the user gave: a refusal of an older one leaves a newer one alone. */
  generation: number;
}

/** A new secret from the user: a connect session's tokens, a CardDAV account, a raw refresh token. */
export interface NewSecret {
  sealedSecret: string;
  scopes: readonly string[];
  /** The access token that came with it (a code exchange), so the first import need not refresh. */
  sealedAccessToken?: string | null;
  accessExpiresAt?: string | null;
}

export interface ConnectionStore {
  get(key: ConnectionKey): Promise<KeptConnection | null>;
  /** The tenant's connection with this id, or `null` (another tenant's is as unknown as none). */
  byId(tenant: string, connectionId: string): Promise<KeptConnection | null>;
  /** The user's connections, by provider. */
  listUser(tenant: string, userId: string): Promise<Connection[]>;
  /**
   * Keeps a new secret as the user's connection to `key.provider`: connected, with the access token
   * that came with it or none. An existing connection keeps its id (a reconnect repairs it), unless
   * it was revoked: then it is a new connection. Resolves to it and to the status it had before.
   */
  keep(key: ConnectionKey, secret: NewSecret): Promise<{ connection: Connection; previous: ConnectionStatus | null }>;
  /**
   * What a refresh gave: the new access token and, when the server rotated it, a new refresh token.
   * Idempotent; a refresh of a connection revoked or erased meanwhile writes nothing.
   */
  saveRefreshed(key: ConnectionKey, refreshed: { sealedAccessToken: string; accessExpiresAt: string | null; sealedRefreshToken?: string }): Promise<void>;
  /**
   * The provider refused the secret of `generation` for good: the connection waits for its user to
   * reconnect. Resolves to whether this call changed it (it was connected with that secret).
   */
  markNeedsReauth(key: ConnectionKey, generation: number): Promise<boolean>;
  /** Disconnected: status `revoked`, every secret forgotten. Resolves to the connection, or `null` when unknown. */
  revoke(tenant: string, connectionId: string): Promise<Connection | null>;
  /** Erasure: every connection of the user; resolves to how many rows went. */
  deleteUser(tenant: string, userId: string): Promise<number>;
}

function toKept(row: ConnectionsTable): KeptConnection {
  return {
    tenant: row.tenant_id,
    userId: row.user_id,
    provider: row.provider,
    connectionId: row.connection_id,
    status: row.status,
    scopes: row.scopes === '' ? [] : row.scopes.split(' '),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    sealedSecret: row.sealed_secret,
    sealedAccessToken: row.sealed_access_token,
    accessExpiresAt: row.access_expires_at,
    generation: row.generation,
  };
}

/** The connection without its secrets. */
export function withoutSecrets({ sealedSecret: _s, sealedAccessToken: _a, accessExpiresAt: _e, generation: _g, ...connection }: KeptConnection): Connection {
  return connection;
}

export function createConnectionStore(db: Kysely<StoreDatabase>): ConnectionStore {
  const whereKey = (key: ConnectionKey) =>
    db.selectFrom('connections').selectAll().where('tenant_id', '=', key.tenant).where('user_id', '=', key.userId).where('provider', '=', key.provider);
  const get = async (key: ConnectionKey) => {
    const row = await whereKey(key).executeTakeFirst();
    return row ? toKept(row) : null;
  };
  const byId = async (tenant: string, connectionId: string) => {
    const row = await db.selectFrom('connections').selectAll().where('tenant_id', '=', tenant).where('connection_id', '=', connectionId).executeTakeFirst();
    return row ? toKept(row) : null;
  };

  return {
    get,
    byId,

    async listUser(tenant, userId) {
      const rows = await db.selectFrom('connections').selectAll().where('tenant_id', '=', tenant).where('user_id', '=', userId).orderBy('provider').execute();
      return rows.map((row) => withoutSecrets(toKept(row)));
    },

    async keep(key, secret) {
      const now = new Date().toISOString();
      const fields = {
        status: 'connected' as const,
        scopes: secret.scopes.join(' '),
        sealed_secret: secret.sealedSecret,
        sealed_access_token: secret.sealedAccessToken ?? null,
        access_expires_at: secret.accessExpiresAt ?? null,
        updated_at: now,
      };
      // One upsert, so two sessions finishing at once leave one whole row and one id; a revoked
      // connection is not brought back: its row becomes a new connection.
      return writeTransaction(db, async (trx) => {
        const where = (query: ReturnType<typeof trx.selectFrom<'connections'>>) =>
          query.where('tenant_id', '=', key.tenant).where('user_id', '=', key.userId).where('provider', '=', key.provider);
        const before = await where(trx.selectFrom('connections')).select('status').executeTakeFirst();
        const fresh = newConnectionId();
        await trx
          .insertInto('connections')
          .values({ tenant_id: key.tenant, user_id: key.userId, provider: key.provider, connection_id: fresh, created_at: now, generation: 1, ...fields })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'user_id', 'provider']).doUpdateSet((eb) => {
              const revoked = () => eb.case().when('connections.status', '=', 'revoked');
              return {
                ...fields,
                connection_id: revoked().then(fresh).else(eb.ref('connections.connection_id')).end(),
                created_at: revoked().then(now).else(eb.ref('connections.created_at')).end(),
                generation: eb('connections.generation', '+', 1),
              };
            }),
          )
          .execute();
        const row = await where(trx.selectFrom('connections')).selectAll().executeTakeFirstOrThrow();
        return { connection: withoutSecrets(toKept(row)), previous: before?.status ?? null };
      });
    },

    async saveRefreshed(key, refreshed) {
      await db
        .updateTable('connections')
        .set({
          sealed_access_token: refreshed.sealedAccessToken,
          access_expires_at: refreshed.accessExpiresAt,
          ...(refreshed.sealedRefreshToken ? { sealed_secret: refreshed.sealedRefreshToken } : {}),
          updated_at: new Date().toISOString(),
        })
        .where('tenant_id', '=', key.tenant)
        .where('user_id', '=', key.userId)
        .where('provider', '=', key.provider)
        .where('status', '!=', 'revoked')
        .execute();
    },

    async markNeedsReauth(key, generation) {
      const result = await db
        .updateTable('connections')
        .set({ status: 'needs_reauth', sealed_access_token: null, access_expires_at: null, updated_at: new Date().toISOString() })
        .where('tenant_id', '=', key.tenant)
        .where('user_id', '=', key.userId)
        .where('provider', '=', key.provider)
        .where('status', '=', 'connected')
        .where('generation', '=', generation)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async revoke(tenant, connectionId) {
      await db
        .updateTable('connections')
        .set({ status: 'revoked', sealed_secret: null, sealed_access_token: null, access_expires_at: null, updated_at: new Date().toISOString() })
        .where('tenant_id', '=', tenant)
        .where('connection_id', '=', connectionId)
        .where('status', '!=', 'revoked')
        .execute();
      const row = await byId(tenant, connectionId);
      return row ? withoutSecrets(row) : null;
    },

    async deleteUser(tenant, userId) {
      const result = await db.deleteFrom('connections').where('tenant_id', '=', tenant).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
