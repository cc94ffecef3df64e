/** Shapes the store works with. The provider client produces them; the API reads them back. */
import type { ImportCheckpoint } from '../workflows/checkpoint';
import type { ApiKeyStore } from './api-keys';
import type { WebhookStore } from './webhooks';
import type { ConnectionStore } from './connections';
import type { ConnectSessionStore } from './connect-sessions';
import type { ConnectSettingsStore } from './connect-settings';
import type { ChangePage, ContactPage, ContactRecord } from './contact-shapes';
import type { SyncStateStore } from './sync-state';
import type { BudgetStore, BudgetWait } from './rate-budgets';

export type { ChangePage, ContactChange, ContactPage, ContactRecord, StoredContact } from './contact-shapes';
export { InvalidCursorError } from './contact-shapes';
export type { SyncState, SyncStateStore } from './sync-state';
export type { BudgetStore, BudgetWait, Reservation, ReserveSpec } from './rate-budgets';

/** Why a record was set aside instead of saved. */
export type RejectReason =
  /** The record could not be read at all (broken vCard, a CSV row with unbalanced quotes, …). */
  | 'unparseable'
  /** Nothing identifies it: no id, uid, name, email or phone to key it on. */
  | 'no_identity'
  /** It parsed, but a field the record cannot do without is invalid (e.g. a People API person without an etag). */
  | 'invalid_record';

/** A record a source could not turn into a contact: quarantined, never retried, never fatal. */
export interface RejectedRecord {
  /** Where it was: its id when it has one (`people/c12`, a card's href), else its position (`record 17`, `line 1234`). */
  position: string;
  reason: RejectReason;
  /** What was wrong, for a person reading the rejects list. */
  message: string;
  /** At most 2 KiB of the record as it came (cut at a character boundary). */
  excerpt: string;
}

export interface UpsertResult {
  /** Rows inserted or rewritten because the etag changed. Unchanged contacts are not counted. */
  written: number;
}

/** Where an import stands after a page, filed under its import key in that page's transaction ({@link ContactStore.savePage}). */
export interface PageSave {
  /** The import (continue-as-new chain): `workflowId/firstRunId`. */
  importKey: string;
  /** The checkpoint the page moves the import to, before its {@link deletions} are counted: the store adds them. */
  checkpoint: ImportCheckpoint;
  /** What the page deletes, in its transaction, so the checkpoint counts exactly what that transaction tombstoned. */
  deletions?: PageDeletions;
}

/** A page's deletions: those its source reported, and on a sweeping listing's last page the sweep. */
export interface PageDeletions {
  /** Contacts the source reported deleted ({@link ContactStore.tombstoneContacts}). */
  externalIds?: readonly string[];
  /** The sweep of a full listing's last page ({@link ContactStore.sweepUnseen}): its mark and the change number it began at. */
  sweep?: { mark: string; upTo: number };
}

/** What {@link ContactStore.savePage} did. */
export interface PageResult extends UpsertResult {
  /** Contacts its deletions tombstoned, counted into the filed checkpoint's `deleted`. */
  deleted: number;
}

/** An import's checkpoint as stored, with how many page transactions wrote it. */
export interface StoredCheckpoint {
  checkpoint: ImportCheckpoint;
  /** Committed page transactions: more than the checkpoint's `pages` means a page was written twice. */
  writes: number;
  updatedAt: string;
}

/** A quarantined record as the API lists it. */
export interface StoredReject extends RejectedRecord {
  createdAt: string;
}

export interface RejectPage {
  items: StoredReject[];
  /** Opaque; pass back as `cursor` for the next page, `null` on the last page. */
  nextCursor: string | null;
}

/**
 * One tenant's contacts. Every query is bound to the tenant it was made for
 * ({@link Store.tenant}), so no query can forget it.
 */
export interface ContactStore {
  readonly tenant: string;
  /** Idempotent: keyed on (tenant, userId, provider, externalId), one transaction per call. */
  upsertContacts(userId: string, provider: string, contacts: readonly ContactRecord[]): Promise<UpsertResult>;
  /**
   * Upserts a page's contacts, tombstones its deletions and files its checkpoint in ONE transaction:
   * after a crash, the stored checkpoint says exactly which pages are saved, and a retried page
   * counts its deletions once. Idempotent like {@link upsertContacts}.
   */
  savePage(userId: string, provider: string, contacts: readonly ContactRecord[], saved: PageSave): Promise<PageResult>;
  /** The import's checkpoint as the last committed page left it, or `null` (none yet, or a row that does not parse). */
  readCheckpoint(importKey: string): Promise<StoredCheckpoint | null>;
  /** Marks these contacts deleted (tombstones, db/changes.ts); resolves to how many were live. Idempotent. */
  tombstoneContacts(userId: string, provider: string, externalIds: readonly string[]): Promise<number>;
  /** Notes that the full listing `mark` saw these contacts, so {@link sweepUnseen} keeps them. */
  markSeen(userId: string, provider: string, externalIds: readonly string[], mark: string): Promise<void>;
  /**
   * Tombstones the live contacts of `provider` that the listing `mark`, begun at change number
   * `upTo`, neither wrote nor saw; resolves to how many. Idempotent.
   */
  sweepUnseen(userId: string, provider: string, mark: string, upTo: number): Promise<number>;
  /** The user's change number now: what a sweeping listing begins at. */
  currentChangeSeq(userId: string): Promise<number>;
  /**
   * Upserts and deletions after the cursor `since` (`'0'`: from the beginning), in commit order;
   * `limit` 1..1000. Throws {@link InvalidCursorError} on a bad cursor.
   */
  listChanges(userId: string, options: { limit: number; since: string }): Promise<ChangePage>;
  /** Keyset pagination in a stable order; `limit` 1..1000. Throws {@link InvalidCursorError} on a bad cursor. */
  listContacts(userId: string, options: { limit: number; cursor?: string | null }): Promise<ContactPage>;
  countContacts(userId: string, provider?: string): Promise<number>;
  /**
   * Files records an import set aside, under `importKey` (one import: its workflow ID and first run).
   * Idempotent: a retried page rewrites its own rejects, keyed on their position.
   */
  recordRejects(importKey: string, userId: string, rejects: readonly RejectedRecord[]): Promise<void>;
  /** An import's rejects in position order, a page at a time; `limit` 1..1000. */
  listRejects(importKey: string, options: { limit: number; cursor?: string | null }): Promise<RejectPage>;
  /**
   * Deletes every contact and reject of the user, and what their imports left (checkpoints, sync
   * tokens, budget registrations) (erasure); resolves to how many contacts went.
   * Their uploads are not its business: erasure also calls {@link UploadStore.deleteUser}.
   */
  deleteUser(userId: string): Promise<number>;
}

/** An uploaded file as the API describes it: never its bytes. */
export interface UploadMeta {
  uploadId: string;
  tenant: string;
  /** The user whose contacts it holds: only their imports may read it. */
  userId: string;
  /** `vcard` or `csv` (the CSV layout is found again when it is read). */
  format: 'vcard' | 'csv';
  bytes: number;
  /** Hex SHA-256 of the bytes, so a web app can tell a file it already sent. */
  sha256: string;
  createdAt: string;
}

/** Random access to a stored upload's bytes (the file readers' `ByteSource`); `close()` when done. */
export interface UploadBytes {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export class UploadTooLargeError extends Error {
  override name = 'UploadTooLargeError';
}

/** An upload that would take its tenant past `UPLOAD_QUOTA_BYTES`: nothing of it is kept. */
export class UploadQuotaExceededError extends Error {
  override name = 'UploadQuotaExceededError';
  constructor(
    /** What the tenant's uploads take now. */
    readonly usedBytes: number,
    readonly quotaBytes: number,
    /** What this upload needed, as far as it was known. */
    readonly neededBytes: number,
  ) {
    super(`the tenant's uploads take ${usedBytes} of ${quotaBytes} bytes; this one needs ${neededBytes} more`);
  }
}

/** An upload past its retention, as expiry lists it; deleted only if it is still as listed. */
export interface ExpiringUpload {
  tenant: string;
  uploadId: string;
  createdAt: string;
  bytes: number;
  /** The import last started on it ({@link UploadStore.reference}), or `null` if none ever was. */
  reference: { workflowId: string; at: string } | null;
}

/** Where a listing of expiring uploads stopped: the last one listed. */
export type ExpiryPosition = Pick<ExpiringUpload, 'createdAt' | 'tenant' | 'uploadId'>;

/**
 * Uploaded files: streamed into storage (files under the SQLite database's folder, or chunks in
 * PostgreSQL), read back by byte range. Every method is bound to a tenant by its first argument.
 */
export interface UploadStore {
  /**
   * Streams `body` into storage, hashing as it goes; rejects with {@link UploadTooLargeError} past
   * `maxBytes` and then keeps nothing. `detect` sees the stored bytes before the upload is recorded:
   * it names the format, or throws to refuse the file (and then nothing is kept either).
   *
   * The tenant's uploads may take `quotaBytes` in all: an upload that would pass it rejects with
   * {@link UploadQuotaExceededError}, before reading the body when the tenant is already full or
   * `expectedBytes` (the declared length) would not fit, and in the transaction that records it
   * otherwise, so two uploads at once cannot both pass.
   */
  save(
    tenant: string,
    userId: string,
    body: AsyncIterable<Uint8Array>,
    options: {
      maxBytes: number;
      quotaBytes: number;
      expectedBytes?: number;
      detect: (bytes: UploadBytes) => Promise<UploadMeta['format']>;
    },
  ): Promise<UploadMeta>;
  /** Bytes the tenant's uploads take now. */
  usedBytes(tenant: string): Promise<number>;
  /**
   * Records that the import `workflowId` is about to read the upload, if it is one of `userId`'s:
   * `false` when the tenant has no such upload of that user. Expiry keeps an upload while the import
   * of its reference runs (and for a grace period after the reference is written, while it starts).
   */
  reference(tenant: string, uploadId: string, importOf: { userId: string; workflowId: string }): Promise<boolean>;
  /** Uploads of every tenant created before `before` (ISO time), oldest first, after `after`, at most `limit`. */
  expiring(before: string, after: ExpiryPosition | null, limit: number): Promise<ExpiringUpload[]>;
  /**
   * Deletes `upload` with its bytes, if its reference is still the one listed (no import was
   * started on it since): `false` when it was kept (or is gone already).
   */
  deleteExpired(upload: ExpiringUpload): Promise<boolean>;
  /** The upload's metadata, or `null` when this tenant has none with that id. */
  get(tenant: string, uploadId: string): Promise<UploadMeta | null>;
  /** Its bytes, for reading in batches; throws when there is no such upload. */
  open(tenant: string, uploadId: string): Promise<UploadBytes>;
  /** Erasure: every upload of the user, bytes included; resolves to how many. */
  deleteUser(tenant: string, userId: string): Promise<number>;
}

/** An import's stored state, as its status reads it (db/import-state.ts). */
export interface StoredImportState {
  /** The checkpoint of its last saved page; `null` before the first (or a row that does not parse). */
  progress: (StoredCheckpoint & { failedSinceSave: boolean }) | null;
  /** The latest closure among its budget keys that still runs. */
  wait: BudgetWait | null;
}

/** What the status of an import reads from the store, and what the worker notes there for it. */
export interface ImportStateStore {
  /** {@link StoredImportState}: one read. */
  read(tenant: string, importKey: string): Promise<StoredImportState>;
  /**
   * Notes that a batch attempt of the import failed (its retry, if any, is Temporal's): its status
   * asks Temporal why until the next page is saved. A no-op before the import's first saved page.
   */
  noteBatchFailure(tenant: string, importKey: string): Promise<void>;
}

/** The one typed store both SQLite and PostgreSQL implement through the same queries. */
export interface Store {
  /** Users' connections to providers, with their secrets (refresh tokens, CardDAV accounts) sealed. */
  readonly connections: ConnectionStore;
  /** Connect sessions: single use, short lived. */
  readonly connectSessions: ConnectSessionStore;
  /** Each tenant's allowed redirect origins for connect sessions. */
  readonly connectSettings: ConnectSettingsStore;
  readonly kind: 'sqlite' | 'postgres';
  /** API keys, hashed, in the same database. */
  readonly apiKeys: ApiKeyStore;
  /** The contacts of one tenant. */
  tenant(tenant: string): ContactStore;
  /** Uploaded files of every tenant (each method takes the tenant). */
  readonly uploads: UploadStore;
  /** Sync tokens for incremental imports (each method takes the tenant). */
  readonly syncState: SyncStateStore;
  /** Each tenant's webhook URL and sealed signing secret. */
  readonly webhooks: WebhookStore;
  /** The rate governor's shared budgets: every worker's grants, leases and closures, and which imports use which keys. */
  readonly budgets: BudgetStore;
  /** What an import's status reads in one statement, and the batch failures noted for it. */
  readonly importStates: ImportStateStore;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
