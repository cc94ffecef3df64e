/**
 * The tables as the query layer sees them. One shape for both dialects: every column is text in
 * SQLite and in PostgreSQL, so the same Kysely queries read and write both without per-dialect
 * mapping (`raw` is JSON text, timestamps are ISO 8601 strings, which sort in time order).
 */

export interface ContactsTable {
  /** The web app the row belongs to (the API key's tenant); part of every key. */
  tenant_id: string;
  user_id: string;
  provider: string;
  external_id: string;
  etag: string;
  display_name: string | null;
  email: string | null;
  phone: string | null;
  organization: string | null;
  /** `JSON.stringify` of the provider's record. */
  raw: string;
  created_at: string;
  updated_at: string;
}

export interface ApiKeysTable {
  /** `key_…`: how operators name a key to list or revoke it. Not secret. */
  id: string;
  /** `tenant` keys call `/v1`; `operator` keys call the codec server. */
  scope: 'tenant' | 'operator';
  /** The tenant a `tenant` key acts for; `null` for operator keys. */
  tenant_id: string | null;
  name: string;
  /** SHA-256 (hex) of the whole key. Keys are 256 random bits, so a fast hash is enough. */
  secret_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface StoreDatabase {
  contacts: ContactsTable;
  api_keys: ApiKeysTable;
}
