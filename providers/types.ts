/**
 * The seam between an import and where its contacts come from. The batch activity knows only this
 * interface; each provider is one module that implements it and one entry in `./index.ts`.
 */
import type { ContactRecord, RejectedRecord, UploadStore } from '../db/types';
import type { ImportOwner } from '../workflows/contract';
import type { PhoneRegion } from './kit/normalize';
import type { GoogleAuthSettings } from './kit/oauth';
import type { PageDecoder } from './google-people/page-decoder';

export type { RejectedRecord, RejectReason } from '../db/types';

export interface PageRequest {
  /** Where to continue: `null` for the first page, else the `nextCursor` of the page before. */
  cursor: string | null;
  /** How many contacts to ask for; a source may return fewer. */
  pageSize: number;
  /** Aborted when the import is cancelled or the batch ends early; rethrow its reason unchanged. */
  signal: AbortSignal;
  /**
   * Only for sources with {@link ContactSource.syncParams}, the same on every page of an import:
   * `{ since }` lists what changed since that sync token (incremental); `{ requestToken: true }`
   * lists everything and hands a new token back on the last page (full). Absent: as before.
   */
  sync?: SyncRequest;
}

/** How an import reads a source that keeps sync tokens (see {@link PageRequest.sync}). */
export type SyncRequest = { since: string } | { requestToken: true };

/**
 * The provider no longer accepts the sync token (Google's `EXPIRED_SYNC_TOKEN`, HTTP 410, CardDAV's
 * 403 `valid-sync-token`). The batch then reads everything instead, and sweeps what is gone.
 */
export class SyncTokenExpiredError extends Error {
  override name = 'SyncTokenExpiredError';
}

export interface SourcePage {
  contacts: ContactRecord[];
  /** Records of this page that could not be read; the page itself was fine. */
  rejected?: RejectedRecord[];
  /** Opaque to everyone but the source; `null` after the last page. Kept in workflow history. */
  nextCursor: string | null;
  /** How many contacts the source holds in all, when it says. */
  total: number | null;
  /** Incremental reads: external ids the provider reports deleted since the token. */
  deleted?: string[];
  /** On the last page of a read with {@link PageRequest.sync}: the token to read changes since next time. */
  syncToken?: string;
}

/**
 * One user's contacts at one provider, a page at a time. Failures are thrown as
 * `ApplicationFailure`s typed with the contract's `FAILURE_TYPES`, classified where they happen:
 * non-retryable for what no retry can fix, `nextRetryDelay` when the provider says when to retry.
 */
export interface ContactSource {
  fetchPage(request: PageRequest): Promise<SourcePage>;
  /**
   * Present when the source keeps sync tokens: a fingerprint of the request parameters its tokens
   * are valid with (a token made with other ones means a full read).
   */
  readonly syncParams?: string;
  /** Releases what the source holds open (a file); called once the batch is done with it. */
  close?(): Promise<void>;
}

/**
 * The worker's configuration that sources read (base URLs and the like; never users' credentials,
 * which come sealed with each import; the Google source's stored refresh tokens: `GoogleAuthSettings`).
 */
export interface SourceSettings extends GoogleAuthSettings {
  /** Base URL of the Google People API, or of a server that speaks its protocol (the demo provider). */
  googlePeopleBaseUrl: string;
  /** Region for phone numbers without a country code (`DEFAULT_PHONE_REGION`; `US` when absent). */
  defaultPhoneRegion?: PhoneRegion;
  /**
   * Let user-supplied URLs (a CardDAV `url`) reach loopback and private-network addresses
   * (`SOURCES_ALLOW_PRIVATE_ADDRESSES`). Off by default: see `destinations.ts`.
   */
  allowPrivateAddresses?: boolean;
  /** Uploaded files, for the `file` source; a worker without a store to read them from cannot import files. */
  uploads?: Pick<UploadStore, 'get' | 'open'>;
  /** Where Google pages are fetched and decoded (`WORKER_DECODE_THREADS`, page-decoder.ts); on the calling thread when absent. */
  pageDecoder?: PageDecoder;
}

/**
 * Builds a source from the opened (clear) credentials the API sealed, the worker's settings, and
 * whose contacts they are (the `file` source checks the upload is that user's).
 */
export type SourceFactory = (credentials: string, settings: SourceSettings, owner: ImportOwner) => ContactSource;
