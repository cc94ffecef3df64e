/**
 * Contacts as the store takes and gives them: a source's record, a contact as stored, a page of
 * them, the change feed's entries, and the error a cursor the store did not issue gets. A leaf:
 * it imports nothing, so the store's modules (`types.ts`, `changes.ts`, `stored-contact.ts`) all
 * stand on it without importing each other in a circle.
 */

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
  /** `phone` in E.164 when it is a valid number (`providers/kit/normalize.ts`); absent or `null` otherwise. */
  phoneE164?: string | null;
  /** The provider's record as it came, JSON-serialisable. */
  raw: unknown;
  /**
   * `raw` already serialised as JSON, when the source did it (a decode thread, see
   * `providers/google-people/page-decoder.ts`): the store writes it as it is and does not read `raw`.
   */
  rawJson?: string;
}

/** A contact as the API lists it: the record, whose provider it came from, and when we saved it. */
export interface StoredContact extends ContactRecord {
  provider: string;
  phoneE164: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ContactPage {
  items: StoredContact[];
  /** Opaque; pass back as `cursor` for the next page, `null` on the last page. */
  nextCursor: string | null;
}

/** One entry of the change feed: a contact as it is now, or the ids of one that went. */
export type ContactChange =
  | ({ change: 'upsert' } & StoredContact)
  | { change: 'delete'; provider: string; externalId: string; deletedAt: string };

export interface ChangePage {
  /** Changes in commit order (oldest first). */
  items: ContactChange[];
  /** Where to resume: pass it back as `changedSince`. Always present, also when nothing changed. */
  cursor: string;
  /** More changes are already waiting after `cursor`. */
  hasMore: boolean;
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}
