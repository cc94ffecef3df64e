/**
 * Access tokens for the Google People source: the one the import began with, or one obtained with
 * the user's refresh token (`grant_type=refresh_token` at `GOOGLE_TOKEN_URL`, with the OAuth client
 * from the configuration). A token near its expiry is refreshed before it is used, and a request
 * answered 401 is refreshed and sent once more.
 *
 * The refresh token lives sealed in the store (`db/credentials.ts`); the access token a refresh
 * gives is stored there too, sealed, so the next batch (or a retry) reuses it instead of refreshing
 * again. Tokens go into request bodies and headers only: no message, no log, no history.
 *
 * When the credentials are rejected for good (the token endpoint answers `invalid_grant`, or a 401
 * with no refresh token to try) this throws the non-retryable `ProviderUnauthenticated`, which the
 * workflow turns into `needs_reauth` (workflows/reauth.ts).
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { ACCESS_TOKEN_REFRESH_MARGIN_MS } from '../../config/defaults';
import { decodeGoogleCredentials, type GoogleOAuthClient } from '../../config/google-oauth';
import { SealedTokenError, type TokenSealer } from '../../encryption/token-seal';
import type { CredentialKey, CredentialStore } from '../../db/credentials';
import { FAILURE_TYPES, type ImportOwner } from '../../workflows/contract';
import { describeNetworkError, failure } from '../failures';
import { parseRetryAfter } from './google-people';

const TOKEN_ENDPOINT = 'Google OAuth token endpoint';
const TOKEN_TIMEOUT_MS = 30_000;

/** What the Google source needs to refresh: the OAuth client and where the sealed tokens are kept. */
export interface GoogleAuthSettings {
  /** Absent: this worker cannot refresh (a source with a refresh token fails its batch retryably). */
  googleOAuth?: GoogleOAuthClient & {
    /** Refresh a token this close to its expiry before using it (default 60 s). */
    refreshMarginMs?: number;
  };
  /** The store's credentials and the key they are sealed with; the worker wires both. */
  credentials?: { store: CredentialStore; sealer: TokenSealer };
}

export interface GoogleAuth {
  /**
   * Calls `request` with a usable access token. When it fails with `ProviderUnauthenticated` and a
   * refresh token is stored, refreshes and calls it once more; a second 401 is final.
   */
  withAccessToken<T>(request: (accessToken: string) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().nonnegative().optional(),
  refresh_token: z.string().min(1).optional(),
});
const tokenErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });

/** The worker lacks what a refresh needs (its OAuth client, the key): retryable, another worker may have it. */
function workerMisconfigured(message: string): ApplicationFailure {
  return failure(FAILURE_TYPES.workerMisconfigured, message);
}

/**
 * Trades a refresh token for an access token. Throws `ProviderUnauthenticated` (non-retryable) on
 * `invalid_grant`, `WorkerMisconfigured` when the client is refused, and the usual retryable types
 * for throttling, outages and bodies of the wrong shape.
 */
export async function refreshAccessToken(
  client: GoogleOAuthClient & { clientId: string; clientSecret: string },
  refreshToken: string,
  signal?: AbortSignal,
): Promise<{ accessToken: string; expiresInSeconds: number | null; refreshToken: string | null }> {
  const timeout = AbortSignal.timeout(TOKEN_TIMEOUT_MS);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let response: Response;
  let body: string;
  try {
    response = await fetch(client.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: client.clientId,
        client_secret: client.clientSecret,
      }).toString(),
      signal: combined,
    });
    body = await response.text();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) throw failure(FAILURE_TYPES.providerUnavailable, `The ${TOKEN_ENDPOINT} did not answer within ${TOKEN_TIMEOUT_MS} ms.`);
    throw failure(FAILURE_TYPES.providerUnavailable, `Could not reach the ${TOKEN_ENDPOINT}: ${describeNetworkError(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (response.ok) {
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) throw failure(FAILURE_TYPES.providerBadResponse, `The ${TOKEN_ENDPOINT} answered ${response.status} without an access token.`);
    return {
      accessToken: parsed.data.access_token,
      expiresInSeconds: parsed.data.expires_in ?? null,
      refreshToken: parsed.data.refresh_token ?? null,
    };
  }
  const error = tokenErrorSchema.safeParse(json);
  // Google's own words (`Token has been expired or revoked.`) never include the token.
  const what = error.success ? `${error.data.error}${error.data.error_description ? `: ${error.data.error_description}` : ''}` : `HTTP ${response.status}`;
  if (error.success && error.data.error === 'invalid_grant') {
    throw failure(
      FAILURE_TYPES.providerUnauthenticated,
      `Google refused the refresh token (${what}). Ask the user to reconnect their account.`,
      { nonRetryable: true },
    );
  }
  if (error.success && (error.data.error === 'invalid_client' || error.data.error === 'unauthorized_client')) {
    throw workerMisconfigured(`The ${TOKEN_ENDPOINT} refused this service's OAuth client (${what}): check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.`);
  }
  const nextRetryDelay = parseRetryAfter(response.headers.get('retry-after'));
  if (response.status === 429) throw failure(FAILURE_TYPES.providerThrottled, `The ${TOKEN_ENDPOINT} is throttling requests (${what}).`, { nextRetryDelay });
  if (response.status >= 500 || response.status === 408) {
    throw failure(FAILURE_TYPES.providerUnavailable, `The ${TOKEN_ENDPOINT} is unavailable (${what}).`, { nextRetryDelay });
  }
  throw failure(FAILURE_TYPES.providerInvalidRequest, `The ${TOKEN_ENDPOINT} refused the refresh request (${what}).`, { nonRetryable: true });
}

/** Access tokens for one import's Google source, built from its opened credentials. */
export function createGoogleAuth(credentials: string, settings: GoogleAuthSettings, owner: ImportOwner): GoogleAuth {
  const decoded = decodeGoogleCredentials(credentials);
  // A bare access token (no refresh token given): used as it is; a 401 is final, as it always was.
  if (decoded.kind === 'access-token') return { withAccessToken: (request) => request(decoded.accessToken) };

  const key: CredentialKey = { tenant: owner.tenant, userId: owner.userId, provider: 'google-people' };
  const margin = settings.googleOAuth?.refreshMarginMs ?? ACCESS_TOKEN_REFRESH_MARGIN_MS;
  let sealedRefreshToken: string | null = null;
  let current: { token: string; expiresAt: number | null } | null = null;
  let loaded: Promise<void> | null = null;
  let refreshing: Promise<string> | null = null;

  const vault = () => {
    if (!settings.credentials) throw workerMisconfigured('This worker has no credential store to read refresh tokens from');
    return settings.credentials;
  };
  const open = (sealed: string) => {
    try {
      return vault().sealer.open(sealed);
    } catch (err) {
      if (err instanceof SealedTokenError) throw workerMisconfigured(`The stored refresh token does not open: ${err.message}`);
      throw err;
    }
  };

  /** The stored tokens, read once per source (one batch). */
  async function load(): Promise<void> {
    const row = await vault().store.get(key);
    if (!row?.sealedRefreshToken) {
      throw failure(
        FAILURE_TYPES.providerUnauthenticated,
        'No refresh token is stored for this user and provider any more. Ask the user to reconnect their account.',
        { nonRetryable: true },
      );
    }
    sealedRefreshToken = row.sealedRefreshToken;
    // A token from an earlier refresh is newer than the one the import began with.
    if (row.sealedAccessToken) current = { token: open(row.sealedAccessToken), expiresAt: row.accessExpiresAt ? Date.parse(row.accessExpiresAt) : null };
    else if (decoded.accessToken !== null) current = { token: decoded.accessToken, expiresAt: null };
  }

  async function refresh(signal?: AbortSignal): Promise<string> {
    const client = settings.googleOAuth;
    if (!client?.clientId || !client.clientSecret) {
      throw workerMisconfigured('This worker cannot refresh Google access tokens: set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET');
    }
    const sealer = vault().sealer;
    const result = await refreshAccessToken({ ...client, clientId: client.clientId, clientSecret: client.clientSecret }, open(sealedRefreshToken ?? ''), signal);
    const expiresAt = result.expiresInSeconds === null ? null : Date.now() + result.expiresInSeconds * 1000;
    current = { token: result.accessToken, expiresAt };
    const rotated = result.refreshToken === null ? undefined : sealer.seal(result.refreshToken);
    if (rotated) sealedRefreshToken = rotated;
    await vault().store.saveRefreshed(key, {
      sealedAccessToken: sealer.seal(result.accessToken),
      accessExpiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
      sealedRefreshToken: rotated,
    });
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
