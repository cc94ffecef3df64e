/**
 * The tables as the query layer sees them. One shape for both dialects: every column is text in
 * SQLite and in PostgreSQL, so the same Kysely queries read and write both without per-dialect
 * mapping (`raw` is JSON text, timestamps are ISO 8601 strings, which sort in time order).
 */

export interface ContactsTable {
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

export interface StoreDatabase {
  contacts: ContactsTable;
}
