/**
 * API keys, kept hashed in the project's store. A key is shown once, when it is created; the store
 * keeps its SHA-256, so a leaked database does not leak working keys. Keys are 256 random bits, so
 * a fast hash is enough (no salt or slow hash is needed against guessing).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ApiKeysTable, StoreDatabase } from './schema';

export type ApiKeyScope = ApiKeysTable['scope'];

/** A key as operators see it: never the secret. */
export interface ApiKeyRecord {
  id: string;
  scope: ApiKeyScope;
  tenant: string | null;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface ApiKeyStore {
  /** A new key for `tenant` (or an operator key when `scope` is `operator`); the secret is only in the answer. */
  create(options: { scope: 'tenant'; tenant: string; name: string } | { scope: 'operator'; name: string }): Promise<{
    key: string;
    record: ApiKeyRecord;
  }>;
  list(): Promise<ApiKeyRecord[]>;
  /** Revokes the key with this id; `false` when there is none. Revoking twice keeps the first time. */
  revoke(id: string): Promise<boolean>;
  /** The active key that `key` is, or `null` (unknown, revoked, or not a key at all). */
  verify(key: string): Promise<ApiKeyRecord | null>;
  /** Active keys of `scope`: with none, the API may run in its loopback-only open mode. */
  countActive(scope: ApiKeyScope): Promise<number>;
}

/** Recognisable prefixes: secret scanners and people can tell what a leaked string is. */
export const KEY_PREFIX: Record<ApiKeyScope, string> = { tenant: 'cik_', operator: 'cio_' };
const KEY_SHAPE = /^ci[ko]_[A-Za-z0-9_-]{43}$/;
/** `last_used_at` is a hint for operators, not an audit log: write it at most this often per key. */
const LAST_USED_RESOLUTION_MS = 60_000;

const hash = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

function toRecord(row: ApiKeysTable): ApiKeyRecord {
  return {
    id: row.id,
    scope: row.scope,
    tenant: row.tenant_id,
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function createApiKeyStore(db: Kysely<StoreDatabase>): ApiKeyStore {
  const lastWritten = new Map<string, number>();
  return {
    async create(options) {
      const key = KEY_PREFIX[options.scope] + randomBytes(32).toString('base64url');
      const row: ApiKeysTable = {
        id: `key_${randomBytes(6).toString('hex')}`,
        scope: options.scope,
        tenant_id: options.scope === 'tenant' ? options.tenant : null,
        name: options.name,
        secret_hash: hash(key),
        created_at: new Date().toISOString(),
        last_used_at: null,
        revoked_at: null,
      };
      await db.insertInto('api_keys').values(row).execute();
      return { key, record: toRecord(row) };
    },

    async list() {
      const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toRecord);
    },

    async revoke(id) {
      const found = await db.selectFrom('api_keys').select('id').where('id', '=', id).executeTakeFirst();
      if (!found) return false;
      await db
        .updateTable('api_keys')
        .set({ revoked_at: new Date().toISOString() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      return true;
    },

    async verify(key) {
      if (!KEY_SHAPE.test(key)) return null;
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('secret_hash', '=', hash(key))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (!row) return null;
      const now = Date.now();
      if (now - (lastWritten.get(row.id) ?? 0) >= LAST_USED_RESOLUTION_MS) {
        lastWritten.set(row.id, now);
        const at = new Date(now).toISOString();
        await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', row.id).execute();
        row.last_used_at = at;
      }
      return toRecord(row);
    },

    async countActive(scope) {
      const { count } = await db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('scope', '=', scope)
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(count);
    },
  };
}
