/**
 * OAuth 2.0 access tokens for a source, whatever its provider: the one the import began with, or
 * one obtained with the user's refresh token (the refresh-token grant at the provider's token
 * endpoint, with the service's OAuth client from the configuration: `{PREFIX}_CLIENT_ID`,
 * `{PREFIX}_CLIENT_SECRET`, `{PREFIX}_TOKEN_URL`). A token near its expiry is refreshed before it
 * is used, and a request answered 401 is refreshed and sent once more.
 *
 * The refresh token is kept sealed in the store (the {@link TokenVault}); so is the access token a
 * refresh gives, which the next batch (or a retry) reuses instead of refreshing again. Tokens go
 * into request bodies and headers only: no message, no log, no history.
 *
 * When the credentials are rejected for good (the token endpoint answers `invalid_grant`, or a 401
 * with no refresh token to try) this throws the non-retryable `ProviderUnauthenticated`, which the
 * workflow turns into `needs_reauth` (workflows/reauth.ts).
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { ConfigError, parseHttpUrl } from '../../config/parse';
import type { ConnectionKey } from '../../db/connections';
import { FAILURE_TYPES } from '../../workflows/contract';
import type { TokenVault } from '../types';
import { describeProviderError, failure, jsonOrUndefined, outboundFailure, plainProblem, workerMisconfigured } from './failures';
import { httpRequest, type OutboundLimits } from './http';
import type { OAuthClient, OAuthProvider } from './oauth-client';
import { parseRetryAfter } from './retry-after';

/** A token this close to its expiry is refreshed before it is used. */
export const ACCESS_TOKEN_REFRESH_MARGIN_MS = 60_000;
/** A token endpoint answers at once or not at all: half the usual request deadline. */
const TOKEN_TIMEOUT_MS = 30_000;

/** What token requests are held to: the worker's outbound limits, and whether redirects may reach private addresses. */
export interface TokenRequestSettings {
  limits?: OutboundLimits;
  allowPrivateAddresses?: boolean;
}

export type { OAuthClient, OAuthProvider } from './oauth-client';

/** Access tokens for one source's requests. */
export interface AccessTokens {
  /**
   * Calls `request` with a usable access token. When it fails with `ProviderUnauthenticated` and a
   * refresh token is kept, refreshes and calls it once more; a second 401 is final.
   */
  withAccessToken<T>(request: (accessToken: string) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** `GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET`: the variables of the service's client at `provider`. */
export function clientVariables({ envPrefix }: OAuthProvider): string {
  return `${envPrefix}_CLIENT_ID and ${envPrefix}_CLIENT_SECRET`;
}

/**
 * The OAuth client from `{PREFIX}_CLIENT_ID`, `{PREFIX}_CLIENT_SECRET` and `{PREFIX}_TOKEN_URL`.
 * The id and the secret come as a pair: one without the other is a mistake ({@link ConfigError}).
 */
export function readOAuthClient(env: NodeJS.ProcessEnv, provider: OAuthProvider, defaultTokenUrl: string): OAuthClient {
  const [idName, secretName] = [`${provider.envPrefix}_CLIENT_ID`, `${provider.envPrefix}_CLIENT_SECRET`];
  const clientId = env[idName]?.trim() || undefined;
  const clientSecret = env[secretName]?.trim() || undefined;
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    throw new ConfigError(
      `${clientVariables(provider)} go together (only ${clientId ? idName : secretName} is set): set both to refresh ${provider.name} access tokens, or neither`,
    );
  }
  const tokenVariable = `${provider.envPrefix}_TOKEN_URL`;
  return { clientId, clientSecret, tokenUrl: parseHttpUrl(tokenVariable, env[tokenVariable], defaultTokenUrl) };
}

const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().nonnegative().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
const tokenErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });

/** What a token endpoint granted. */
export interface TokenGrant {
  accessToken: string;
  expiresInSeconds: number | null;
  /** A new refresh token, when the endpoint issued (or rotated) one. */
  refreshToken: string | null;
  /** The scopes granted, as the endpoint said them (space-separated), when it did. */
  scope: string | null;
}

/**
/**
 * Token endpoint errors that only the user can fix by connecting again: `invalid_grant` (RFC 6749:
 * the refresh token is expired or revoked), and OpenID Connect's `interaction_required`,
 * `consent_required` and `login_required` (Microsoft's answer when consent was withdrawn or a
 * sign-in policy now wants the user present).
 */
const REAUTH_ERRORS: ReadonlySet<string> = new Set(['invalid_grant', 'interaction_required', 'consent_required', 'login_required']);

/**
 * One grant at the provider's token endpoint with the service's client: `form` is the grant's own
 * parameters, `what` names what it trades in messages ("the refresh token"). Throws
 * `ProviderUnauthenticated` (non-retryable) on `invalid_grant` and the other errors only the user
 * can fix, `WorkerMisconfigured` when the client is refused, and the usual retryable types for
 * throttling, outages and bodies of the wrong shape. Neither the grant nor the tokens ever appear
 * in a message.
 */
export async function tokenGrant(
  provider: OAuthProvider,
  client: OAuthClient & { clientId: string; clientSecret: string },
  form: Record<string, string>,
  what: string,
  signal?: AbortSignal,
  outbound: TokenRequestSettings = {},
): Promise<TokenGrant> {
  const endpoint = `${provider.name} OAuth token endpoint`;
  // The token endpoint is the operator's (it may be private); where it redirects is judged as any URL.
  const destinations = { allowPrivate: outbound.allowPrivateAddresses ?? false, trustedOrigins: [new URL(client.tokenUrl).origin] };
  const outcome = await httpRequest(
    {
      method: 'POST',
      url: client.tokenUrl,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ ...form, client_id: client.clientId, client_secret: client.clientSecret }).toString(),
      timeoutMs: TOKEN_TIMEOUT_MS,
      limits: outbound.limits,
      destinations,
      signal,
    },
    'text',
  );
  if (outcome.kind === 'aborted') throw signal?.reason;
  if (outcome.kind !== 'answer') throw outboundFailure(plainProblem(outcome), `the ${endpoint}`);
  const { status, headers, body } = outcome;
  const json = jsonOrUndefined(body);
  if (status >= 200 && status <= 299) {
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) throw failure(FAILURE_TYPES.providerBadResponse, `The ${endpoint} answered ${status} without an access token.`);
    return {
      accessToken: parsed.data.access_token,
      expiresInSeconds: parsed.data.expires_in ?? null,
      refreshToken: parsed.data.refresh_token ?? null,
      scope: parsed.data.scope ?? null,
    };
  }
  const error = tokenErrorSchema.safeParse(json);
  // The provider's own words (Google's `Token has been expired or revoked.`), whatever it echoed cut out.
  const said = describeProviderError(
    error.success ? { status, code: error.data.error, text: error.data.error_description } : { status },
    [form.refresh_token, form.code, form.code_verifier, client.clientSecret].filter((secret) => secret !== undefined),
  );
  if (error.success && REAUTH_ERRORS.has(error.data.error)) {
    throw failure(
      FAILURE_TYPES.providerUnauthenticated,
      `${provider.name} refused ${what} ${said}. Ask the user to reconnect their account.`,
      { nonRetryable: true },
    );
  }
  if (error.success && (error.data.error === 'invalid_client' || error.data.error === 'unauthorized_client')) {
    throw workerMisconfigured(`The ${endpoint} refused this service's OAuth client ${said}; check ${clientVariables(provider)}.`);
  }
  const nextRetryDelay = parseRetryAfter(headers.get('retry-after'));
  if (status === 429) throw failure(FAILURE_TYPES.providerThrottled, `The ${endpoint} is throttling requests ${said}.`, { nextRetryDelay });
  if (status >= 500 || status === 408) {
    throw failure(FAILURE_TYPES.providerUnavailable, `The ${endpoint} is unavailable ${said}.`, { nextRetryDelay });
  }
  throw failure(FAILURE_TYPES.providerInvalidRequest, `The ${endpoint} refused the request for ${what} ${said}.`, { nonRetryable: true });
}

/**
 * Trades a refresh token for an access token ({@link tokenGrant}'s failures): `refreshToken` in the
 * answer when the provider rotated it.
 */
export function refreshAccessToken(
  provider: OAuthProvider,
  client: OAuthClient & { clientId: string; clientSecret: string },
  refreshToken: string,
  signal?: AbortSignal,
  outbound: TokenRequestSettings = {},
): Promise<TokenGrant> {
  const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken };
  if (provider.refreshScope !== undefined) form.scope = provider.refreshScope;
  return tokenGrant(provider, client, form, 'the refresh token', signal, outbound);
}

/** The access token as it came, for a source without a refresh token: a 401 is final. */
export function fixedAccessToken(accessToken: string): AccessTokens {
  return { withAccessToken: (request) => request(accessToken) };
}

export interface RefreshingOptions {
  provider: OAuthProvider;
  client: OAuthClient;
  /** Whose refresh token, under which provider: the vault's key. */
  key: ConnectionKey;
  /** Where the refresh token is kept; absent: this worker cannot refresh (it fails the batch retryably). */
  tokens: TokenVault | undefined;
  /** The access token the import began with, when one came; a token from a later refresh wins. */
  accessToken: string | null;
  /** What the token requests are held to; the defaults, public redirects only, when absent. */
  outbound?: TokenRequestSettings;
}

/** Access tokens refreshed with the refresh token kept in the vault for `key`. */
export function refreshingAccessToken(options: RefreshingOptions): AccessTokens {
  const { provider, client, key } = options;
  const margin = client.refreshMarginMs ?? ACCESS_TOKEN_REFRESH_MARGIN_MS;
  let refreshToken = '';
  let generation = 0;
  let current: { token: string; expiresAt: number | null } | null = null;
  let loaded: Promise<void> | null = null;
  let refreshing: Promise<string> | null = null;

  const vault = (): TokenVault => {
    if (!options.tokens) throw workerMisconfigured('This worker has no credential store to read refresh tokens from');
    return options.tokens;
  };

  /** The kept tokens, read once per source (one batch). */
  async function load(): Promise<void> {
    const kept = await vault().load(key);
    if (kept === null) {
      throw failure(
        FAILURE_TYPES.providerUnauthenticated,
        'No usable refresh token is stored for this user and provider. Ask the user to reconnect their account.',
        { nonRetryable: true },
      );
    }
    refreshToken = kept.secret;
    generation = kept.generation;
    // A token from an earlier refresh is newer than the one the import began with.
    current = kept.accessToken ?? (options.accessToken === null ? null : { token: options.accessToken, expiresAt: null });
  }

  async function refresh(signal?: AbortSignal): Promise<string> {
    const { clientId, clientSecret } = client;
    if (!clientId || !clientSecret) {
      throw workerMisconfigured(`This worker cannot refresh ${provider.name} access tokens: set ${clientVariables(provider)}`);
    }
    let result: TokenGrant;
    try {
      result = await refreshAccessToken(provider, { ...client, clientId, clientSecret }, refreshToken, signal, options.outbound);
    } catch (err) {
      // Refused for good: the user's connection waits for them to reconnect (and the web app is told).
      if (err instanceof ApplicationFailure && err.type === FAILURE_TYPES.providerUnauthenticated) await vault().refused(key, generation);
      throw err;
    }
    const expiresAt = result.expiresInSeconds === null ? null : Date.now() + result.expiresInSeconds * 1000;
    current = { token: result.accessToken, expiresAt };
    if (result.refreshToken !== null) refreshToken = result.refreshToken;
    await vault().saveRefreshed(key, { accessToken: result.accessToken, expiresAt, refreshToken: result.refreshToken });
    return result.accessToken;
  }

  /** One refresh at a time: the page fetched ahead and the page being read share its answer. */
  function refreshOnce(signal?: AbortSignal): Promise<string> {
    refreshing ??= refresh(signal).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function usableToken(signal?: AbortSignal): Promise<string> {
    loaded ??= load();
    await loaded;
    if (refreshing) return refreshing;
    if (current && (current.expiresAt === null || current.expiresAt - margin > Date.now())) return current.token;
    return refreshOnce(signal);
  }

  return {
    async withAccessToken(request, signal) {
      const used = await usableToken(signal);
      try {
        return await request(used);
      } catch (err) {
        if (!(err instanceof ApplicationFailure) || err.type !== FAILURE_TYPES.providerUnauthenticated) throw err;
        // Another request may have refreshed meanwhile; otherwise refresh now. Either way, once.
        const fresh = current && current.token !== used ? current.token : await refreshOnce(signal);
        return request(fresh);
      }
    },
  };
}
