/**
 * The tables as the query layer sees them. One shape for both dialects: every column is text in
 * SQLite and in PostgreSQL, so the same Kysely queries read and write both without per-dialect
 * mapping (`raw` is JSON text, timestamps are ISO 8601 strings, which sort in time order). The
 * exceptions are integers both drivers read back as numbers (counters, the contacts' owner).
 */
import type { Generated } from 'kysely';

/**
 * One row per (tenant, user, provider) that has contacts: the integer the contacts key starts with
 * (db/owners.ts). Generated on insert: SQLite's rowid, PostgreSQL's identity.
 */
export interface OwnersTable {
  owner_id: Generated<number>;
  /** The web app the contacts belong to (the API key's tenant). */
  tenant_id: string;
  user_id: string;
  provider: string;
}

export interface ContactsTable {
  /** Whose contact, of which provider: an {@link OwnersTable} row. The key is (owner_id, external_id). */
  owner_id: number;
  external_id: string;
  etag: string;
  display_name: string | null;
  email: string | null;
  phone: string | null;
  organization: string | null;
  /** `phone` in E.164 (`+15551234567`) when it is a valid number, else `null`. */
  phone_e164: string | null;
  /** `JSON.stringify` of the provider's record. */
  raw: string;
  created_at: string;
  updated_at: string;
  /** Set when the contact was deleted at its provider: a tombstone, hidden from the listing (db/changes.ts). */
  deleted_at: string | null;
  /** The user's change number of the last write that changed this row: the change feed's order (default 0). */
  change_seq?: number;
  /** The last full listing (import) that saw this row, written only by imports that sweep (never by upserts). */
  sync_mark?: string | null;
}

/** One counter per user: each write transaction takes the next number (db/changes.ts). */
export interface ChangeCountersTable {
  tenant_id: string;
  user_id: string;
  seq: number;
}

/** The last sync token per (tenant, user, provider), with the request it is valid for (db/sync-state.ts). */
export interface SyncStateTable {
  tenant_id: string;
  user_id: string;
  provider: string;
  token: string;
  params: string;
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

export interface UploadsTable {
  tenant_id: string;
  /** `upl_…`, random. */
  upload_id: string;
  /** The user whose contacts the file holds: only their imports may read it. */
  user_id: string;
  /** `vcard` or `csv`, as detected at upload (a CSV's layout is found again when it is read). */
  format: string;
  /** Decimal text, like every number here that could pass 2^31 in principle. */
  bytes: string;
  sha256: string;
  /** `database` (rows in `upload_chunks`) or `file:<tenant>/<upload_id>`, under the uploads folder (`DATA_DIR/uploads`). */
  storage: string;
  created_at: string;
  /**
   * The workflow ID of the last import started on this upload (`import-contacts/…/file/<user>`),
   * written before it starts: while that import runs, the upload does not expire (db/upload-expiry.ts).
   */
  import_workflow_id: string | null;
  /** When that reference was written; expiry deletes the upload only if it is still this one. */
  referenced_at: string | null;
}

/** Bytes of uploads each tenant keeps: what `UPLOAD_QUOTA_BYTES` is checked against (db/upload-usage.ts). */
export interface UploadUsageTable {
  tenant_id: string;
  /** A 64-bit integer: PostgreSQL's driver reads it back as a string, SQLite as a number. */
  bytes: number | string;
}

export interface UploadChunksTable {
  tenant_id: string;
  upload_id: string;
  seq: number;
  /** Where this chunk starts in the file (decimal text). */
  byte_offset: string;
  /** The chunk's bytes, base64. */
  data: string;
}

export interface RejectsTable {
  tenant_id: string;
  /** The import (continue-as-new chain): its workflow ID and first run id, `workflowId/firstRunId`. */
  import_key: string;
  user_id: string;
  /** The record's id when it has one, else where it was in the source (`record 17`). */
  position: string;
  /** `unparseable`, `no_identity`, `invalid_record`. */
  reason: string;
  message: string;
  /** At most 2 KiB of the record as it came. */
  excerpt: string;
  created_at: string;
}

/** A user's account at a provider and its sealed secret (db/connections.ts). Never in clear. */
export interface ConnectionsTable {
  tenant_id: string;
  user_id: string;
  provider: string;
  /** `con_…`: the web app's name for it; unique per tenant. */
  connection_id: string;
  /** `connected`, `needs_reauth` or `revoked`. */
  status: 'connected' | 'needs_reauth' | 'revoked';
  /** The granted scopes, space-separated; empty when the provider did not say. */
  scopes: string;
  /** The refresh token, or the provider's own secret (a CardDAV account as JSON), sealed; `null` once revoked. */
  sealed_secret: string | null;
  /** The last access token a refresh (or the code exchange) gave, so the next batch need not refresh again. */
  sealed_access_token: string | null;
  /** ISO time that access token expires. */
  access_expires_at: string | null;
  /** Counts the secrets the user gave, so a refusal of an older one leaves a newer one alone. */
  generation: number;
  created_at: string;
  updated_at: string;
}

/** One connect session (db/connect-sessions.ts): single use, short lived. */
export interface ConnectSessionsTable {
  /** `cs_…`, random; the connect URL carries it signed. */
  session_id: string;
  tenant_id: string;
  user_id: string;
  provider: string;
  /** Where the browser goes at the end: on one of the tenant's allowed origins. */
  redirect_url: string;
  /** 1: start an import once the connection exists. */
  start_import: number;
  created_at: string;
  expires_at: string;
  /** When the connect URL was followed (it is followed once). */
  opened_at: string | null;
  /** SHA-256 of the `state` (and form token) the session handed out when it was opened. */
  state_hash: string | null;
  /** The PKCE verifier, sealed with the token key. */
  sealed_verifier: string | null;
  /** Form submissions so far (account forms). */
  attempts: number;
  /** When the callback (or the form) took the session: it is taken once. */
  finished_at: string | null;
  /** `connected`, `denied`, or the error code it ended with. */
  outcome: string | null;
  connection_id: string | null;
}

/** A tenant's connect settings (db/connect-settings.ts). */
export interface ConnectSettingsTable {
  tenant_id: string;
  /** JSON array of origins (`https://app.example.com`) a session's `redirectUrl` may be on. */
  redirect_origins: string;
  updated_at: string;
}

/** A tenant's webhook settings (db/webhooks.ts). */
export interface WebhooksTable {
  tenant_id: string;
  /** The default URL of the tenant's import events; `null`: only imports that name one notify. */
  url: string | null;
  /** The HMAC signing secret, sealed with the token key: never in clear. */
  sealed_secret: string;
  created_at: string;
  updated_at: string;
}

export interface StoreDatabase {
  webhooks: WebhooksTable;
  connections: ConnectionsTable;
  connect_sessions: ConnectSessionsTable;
  connect_settings: ConnectSettingsTable;
  owners: OwnersTable;
  contacts: ContactsTable;
  api_keys: ApiKeysTable;
  uploads: UploadsTable;
  upload_chunks: UploadChunksTable;
  upload_usage: UploadUsageTable;
  rejects: RejectsTable;
  change_counters: ChangeCountersTable;
  sync_state: SyncStateTable;
  import_checkpoints: ImportCheckpointsTable;
  rate_keys: RateKeysTable;
  rate_slots: RateSlotsTable;
  rate_slot_waiters: RateSlotWaitersTable;
  import_budget_keys: ImportBudgetKeysTable;
}

/** One import's checkpoint, written in each page's transaction (db/checkpoints.ts). */
export interface ImportCheckpointsTable {
  tenant_id: string;
  /** `workflowId/firstRunId`, as rejects are filed. */
  import_key: string;
  /** Whose import: erasure deletes the user's checkpoints with their contacts. */
  user_id: string;
  /** JSON of the `ImportCheckpoint` (workflows/checkpoint.ts), read back with that schema. */
  checkpoint: string;
  /** Page transactions that committed: above the checkpoint's `pages` means a page was written twice. */
  writes: number;
  updated_at: string;
  /** `writes` when a batch attempt of the import last failed (db/import-state.ts); page writes leave it as it is. */
  failed_writes: number | null;
}

/**
 * One row per budget key (a user's token, an app, a CardDAV host…), shared by every worker: its
 * rate, its closure and what it learned (db/rate-budgets.ts). Times are milliseconds since the
 * epoch by the database's clock, so every worker agrees on them; `double precision` in both dialects.
 */
export interface RateKeysTable {
  /** `google-people:app:<digest>` (providers/kit/budgets.ts): no user, account or host in clear. */
  key: string;
  /** When the next request may start: each grant moves it one interval on. */
  tat: number;
  /** No request starts before this: a provider's `Retry-After`. */
  closed_until: number;
  /** What closed it: `429` (throttled) or `503` (unavailable). */
  closed_by: string | null;
  /** The learned interval between requests, ms; `null` until the provider first refuses one. */
  learned_interval: number | null;
  /** How many times the learned rate was lowered: a refusal of a request granted before the last time does not lower it again. */
  learn_epoch: number;
  /** How much the learned rate rises per second of busy use, requests/s. */
  increase: number | null;
  /** Grants in the current one-second window and the one before: the rate the first 429 halves. */
  win_at: number;
  win_count: number;
  prev_count: number;
  /** The last grant: its id (so its taker knows it was granted) and the slot it was given. */
  grant_id: string;
  granted_at: number;
  seen_at: number;
}

/** The concurrency slots of a key: a slot is held while `expires_at` is ahead, renewed while its request runs. */
export interface RateSlotsTable {
  key: string;
  slot: number;
  /** Who holds it (`host:pid:n`); `''` when free. */
  holder: string;
  expires_at: number;
}

/**
 * Who is waiting for a key's concurrency slot, since when: a free slot goes to the longest waiter
 * still polling, so a worker that releases and asks again at once cannot starve another's.
 */
export interface RateSlotWaitersTable {
  key: string;
  waiter: string;
  since: number;
  /** Its last poll: a waiter that stopped polling (aborted, crashed) no longer holds others back. */
  seen_at: number;
}

/** The budget keys an import's requests count against, written by each batch: how the status learns a key is closed. */
export interface ImportBudgetKeysTable {
  tenant_id: string;
  /** `workflowId/firstRunId`, as checkpoints are filed. */
  import_key: string;
  /** Whose import: erasure deletes these with the user's checkpoints. */
  user_id: string;
  budget_key: string;
}
