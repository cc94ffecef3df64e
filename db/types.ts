/** Shapes the store works with. The provider client produces them; the API reads them back. */
import type { ApiKeyStore } from './api-keys';

/** One contact as we keep it: a few columns the web app shows, plus the provider's raw record. */
export interface ContactRecord {
  /** The provider's stable id (`resourceName` for the People API, e.g. `people/c123`). */
  externalId: string;
  /** The provider's version tag; a row is rewritten only when it changes. */
  etag: string;
  displayName: string | null;
  email: string | null;
  phone: string | null;
  organization: string | null;
  /** The provider's record as it came, JSON-serialisable. */
  raw: unknown;
}

/** A contact as the API lists it: the record, whose provider it came from, and when we saved it. */
export interface StoredContact extends ContactRecord {
  provider: string;
  createdAt: string;
  updatedAt: string;
}

export interface ContactPage {
  items: StoredContact[];
  /** Opaque; pass back as `cursor` for the next page, `null` on the last page. */
  nextCursor: string | null;
}

export interface UpsertResult {
  /** Rows inserted or rewritten because the etag changed. Unchanged contacts are not counted. */
  written: number;
}

/** The one typed store interface both SQLite and PostgreSQL implement through the same queries. */
export interface ContactStore {
  readonly kind: 'sqlite' | 'postgres';
  /** API keys, hashed, in the same database. */
  readonly apiKeys: ApiKeyStore;
  /** Idempotent: keyed on (userId, provider, externalId), one transaction per call. */
  upsertContacts(userId: string, provider: string, contacts: readonly ContactRecord[]): Promise<UpsertResult>;
  /** Keyset pagination in a stable order; `limit` 1..1000. Throws {@link InvalidCursorError} on a bad cursor. */
  listContacts(userId: string, options: { limit: number; cursor?: string | null }): Promise<ContactPage>;
  countContacts(userId: string, provider?: string): Promise<number>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}
