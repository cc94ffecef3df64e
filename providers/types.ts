/**
 * The seam between an import and where its contacts come from. Everything specific to a provider
 * sits behind {@link ProviderDefinition}, one folder per provider, listed once in `./index.ts`; the
 * API, the batch activity and the configuration know only this shape.
 */
import type { z } from 'zod';
import type { ConnectionKey } from '../db/connections';
import type { ContactRecord, RejectedRecord, UploadStore } from '../db/types';
import type { ImportOwner } from '../workflows/contract';
import type { BudgetDeclaration } from './kit/budgets';
import type { RequestGovernor } from './kit/governor';
import type { OutboundLimits } from './kit/http';
import type { PhoneRegion } from './kit/normalize';
import type { OAuthClient, OAuthProvider } from './kit/oauth-client';

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
   * lists everything and hands a new token back on the last page (full). Absent: everything, and
   * no token.
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
  /**
   * The budget keys its requests count against (`kit/budgets.ts` ids), for a source that sends
   * requests: the batch files them under the import, so its status can say when one is closed.
   */
  readonly budgetKeys?: readonly string[];
}

/**
 * API side: where a provider keeps what must never enter workflow history (a refresh token), for
 * the one tenant, user and provider the API bound it to: the user's connection (`db/connections.ts`).
 * It seals what it keeps.
 */
export interface CredentialVault {
  /** Keeps `token` as the connection's secret, replacing any kept before and the access token that one gave. */
  keepRefreshToken(token: string): Promise<void>;
}

/** A connection's kept secret and the access token its last refresh gave, opened. */
export interface KeptTokens {
  /** An OAuth refresh token, or whatever else the provider keeps (a CardDAV account, as JSON). */
  secret: string;
  /** `expiresAt` in epoch ms, `null` when the provider did not say. */
  accessToken: { token: string; expiresAt: number | null } | null;
  /** Names this secret among those the user gave over time: what {@link TokenVault.refused} marks. */
  generation: number;
}

/**
 * Worker side: the secrets the API kept ({@link CredentialVault}, or a connect session), by tenant,
 * user and provider. The worker opens and seals them with its key; one that does not open fails
 * retryably as `WorkerMisconfigured`.
 */
export interface TokenVault {
  /** What is kept for `key`; `null` when nothing usable is (none, revoked, or waiting for the user to reconnect). */
  load(key: ConnectionKey): Promise<KeptTokens | null>;
  /** What a refresh gave: the access token, and the refresh token when the provider rotated it. */
  saveRefreshed(key: ConnectionKey, refreshed: { accessToken: string; expiresAt: number | null; refreshToken: string | null }): Promise<void>;
  /**
   * The provider refused the secret of `generation` for good (`invalid_grant`, a 401 to a kept
   * password): its connection needs the user to reconnect. A newer secret is left alone.
   */
  refused(key: ConnectionKey, generation: number): Promise<void>;
}

/** What the worker gives every source it opens, besides the provider's own settings. */
export interface SourceContext {
  /** Whose contacts: tokens and uploads are looked up under this tenant and user only. */
  owner: ImportOwner;
  /** Region for phone numbers without a country code (`DEFAULT_PHONE_REGION`). */
  defaultPhoneRegion: PhoneRegion;
  /**
   * Whether user-supplied URLs (a CardDAV `url`) may reach loopback and private-network addresses
   * (`SOURCES_ALLOW_PRIVATE_ADDRESSES`; `kit/destinations.ts`).
   */
  allowPrivateAddresses: boolean;
  /** What every request of the source is held to (`PROVIDER_*`; `kit/http.ts`). */
  outboundLimits: OutboundLimits;
  /** Uploaded files; a worker without a store to read them from cannot import files. */
  uploads?: Pick<UploadStore, 'get' | 'open'>;
  /** The kept refresh and access tokens; a worker without them cannot refresh. */
  tokens?: TokenVault;
  /**
   * Where every request to the provider asks for its budgets (`kit/governor.ts`), shared by the
   * deployment's workers; `ungoverned` outside a worker or with `PROVIDER_GOVERNOR=off`.
   */
  governor: RequestGovernor;
}

/** What POST /v1/imports accepts as `source` for one provider: a zod object with a literal `provider`. */
export type RequestSchema<Id extends string = string> = z.ZodType<{ provider: Id }> & z.core.$ZodTypeDiscriminable;

/** What a provider can do beyond a one-off import. */
export interface ProviderCapabilities {
  /** `PUT /v1/users/{userId}/sync` takes it. */
  schedule: boolean;
  /** An import in `needs_reauth` takes new credentials for it (`POST /v1/imports/{id}/credentials`). */
  reauth: boolean;
  /** It keeps sync tokens: `mode: incremental` is allowed. */
  incremental: boolean;
  /**
   * When a full read sweeps (tombstones what it did not see): `always`, or `when-full-requested`
   * only (`mode: full`), where an `auto` import adds to what earlier imports saved (a file).
   */
  fullReadSweeps: 'always' | 'when-full-requested';
}

/** One input of the progress page's form: its value becomes the request's field `name`. */
export interface FormField {
  name: string;
  label: string;
  type?: 'text' | 'url' | 'password';
  value?: string;
  placeholder?: string;
}

/** The provider's OAuth endpoints and the service's client there, from its settings. */
export interface OAuthEndpoints {
  /** Its name in messages and its variables' prefix (`GOOGLE`). */
  provider: OAuthProvider;
  /** The service's client (`{PREFIX}_CLIENT_ID`, `{PREFIX}_CLIENT_SECRET`) and the token endpoint. */
  client: OAuthClient;
  /** Where the user's browser is sent to consent (`{PREFIX}_AUTH_URL`). */
  authorizationUrl: string;
  /** RFC 7009 token revocation (`{PREFIX}_REVOKE_URL`); `null`: the provider offers none for a refresh token. */
  revocationUrl: string | null;
}

/** A provider connected with the OAuth authorization-code flow (PKCE, `state`) in the user's browser. */
export interface OAuthConnect<Settings = unknown, Credentials = unknown> {
  kind: 'oauth';
  /** How buttons and pages name the account: `Google`. */
  name: string;
  /** What the consent asks for. */
  scopes: readonly string[];
  /** Extra parameters of the authorization request (Google: `access_type=offline`, `prompt=consent`). */
  authorizeParams?: Readonly<Record<string, string>>;
  endpoints(settings: Settings): OAuthEndpoints;
  /** The credentials an import by connection seals: "the refresh token is kept". */
  storedCredentials: Credentials;
}

/** A server the account form offers by name; `url: null`: the user gives the address (Nextcloud). */
export interface KnownServer {
  id: string;
  label: string;
  url: string | null;
}

/** A provider connected with a small form the service renders (an app password for a server). */
export interface AccountFormConnect<Credentials = unknown> {
  kind: 'account-form';
  name: string;
  /** The servers offered in a list before the address field. */
  knownServers: readonly KnownServer[];
  /** The form's inputs besides the server: each value arrives under its `name`. */
  fields: readonly FormField[];
  /**
   * Checks what the user typed (the server's address resolved from {@link knownServers}) before
   * anything is stored, and answers the secret to keep, or throws an `ApplicationFailure` whose
   * message may be shown to the user (it never quotes the password).
   */
  verify(account: Record<string, string> & { url: string }, options: { allowPrivateAddresses: boolean; signal: AbortSignal }): Promise<string>;
  /** The credentials an import by connection seals: "the account is kept". */
  storedCredentials: Credentials;
}

/** How a user connects an account of this provider through a connect session (`api/connect/`). */
export type ProviderConnect<Settings = unknown, Credentials = unknown> = OAuthConnect<Settings, Credentials> | AccountFormConnect<Credentials>;

/**
 * Everything specific to one provider, behind one shape: a folder exports one, and the registry
 * (`./index.ts`) lists it.
 */
export interface ProviderDefinition<Id extends string = string, Request extends RequestSchema<Id> = RequestSchema<Id>, Credentials = unknown, Settings = unknown> {
  /** In requests, workflow ids, import ids and metrics: `google-people`. */
  readonly id: Id;
  /** How the progress page names it when it says what the provider did: `Google`. */
  readonly label: string;
  /** What POST /v1/imports (and, with the capabilities, the schedule and re-auth routes) accept as `source`. */
  readonly request: Request;
  readonly capabilities: ProviderCapabilities;
  /** How the progress page's form asks for a source; without it the form does not offer the provider. */
  readonly form?: { option: string; fields: readonly FormField[] };
  /** The credentials the API seals as JSON and the worker opens and parses with this schema. */
  readonly credentials: z.ZodType<Credentials>;
  /**
   * API side: the upload (`POST /v1/uploads`) an import of `request` reads, if it reads one. The API
   * checks it is the user's and records that this import reads it before it starts, so an unknown
   * upload is a 422 at once and an upload in use does not expire.
   */
  uploadOf?(request: z.output<Request>): string;
  /** API side: the credentials to seal for `request`; long-lived secrets go to the vault, never into history. */
  toCredentials(request: z.output<Request>, vault: CredentialVault): Promise<Credentials>;
  /**
   * The keys its requests count against and the variables that set their budgets, defaults and their
   * sources included (`kit/budgets.ts`); its `readSettings` reads them. None: nothing is budgeted.
   */
  readonly budgets?: readonly BudgetDeclaration[];
  /** Its environment variables, read once at worker start by `readProviderSettings` (`./index.ts`); throws `ConfigError` for bad values. */
  readSettings(env: NodeJS.ProcessEnv): Settings;
  /**
   * Worker side: the source that reads the contacts these (opened, parsed) credentials reach; a
   * promise when opening reads what is kept (the account of an import by connection).
   */
  openSource(credentials: Credentials, settings: Settings, context: SourceContext): ContactSource | Promise<ContactSource>;
  /** What the worker's start line says of `settings` (`2 decode thread(s)`); a provider without it says nothing. */
  describeSettings?(settings: Settings): string;
  /** Releases what the provider keeps for `settings` across sources (decode threads); at worker shutdown. */
  close?(settings: Settings): Promise<void>;
  /** How a user connects an account (connect sessions); without it the provider takes raw credentials only. */
  readonly connect?: ProviderConnect<Settings, Credentials>;
}
