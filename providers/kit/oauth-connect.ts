/**
 * The provider-neutral parts of connecting an OAuth account (RFC 6749's authorization-code grant
 * with PKCE, RFC 7636, S256 only), and of disconnecting one (RFC 7009 revocation). What is specific
 * to a provider (its endpoints, scopes, extra parameters) comes from its folder's `connect` part
 * ({@link OAuthConnect}); the flow that drives these is the API's (`api/connect/`).
 *
 * Codes, verifiers and tokens go into request bodies only: no URL but the authorization request's
 * (which carries only the challenge and `state`), no message, no log.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { parseHttpUrl } from '../../config/parse';
import type { OAuthConnect, OAuthEndpoints } from '../types';
import { outboundFailure, plainProblem } from './failures';
import { httpRequest } from './http';
import type { OAuthProvider } from './oauth-client';
import { tokenGrant, type TokenGrant } from './oauth';

const REVOKE_TIMEOUT_MS = 10_000;

/** The provider's consent and revocation endpoints, as its folder declares their defaults. */
export interface OAuthEndpointDefaults {
  authorizationUrl: string;
  /** `null`: the provider has no revocation endpoint, and no variable names one. */
  revocationUrl: string | null;
}

/**
 * `{PREFIX}_AUTH_URL` and, for a provider that offers revocation, `{PREFIX}_REVOKE_URL`, over the
 * provider's defaults. Throws `ConfigError` for a value that is not an http(s) URL.
 */
export function readOAuthEndpointUrls(env: NodeJS.ProcessEnv, provider: OAuthProvider, defaults: OAuthEndpointDefaults): OAuthEndpointDefaults {
  const auth = `${provider.envPrefix}_AUTH_URL`;
  const revoke = `${provider.envPrefix}_REVOKE_URL`;
  return {
    authorizationUrl: parseHttpUrl(auth, env[auth], defaults.authorizationUrl),
    revocationUrl: defaults.revocationUrl === null ? null : parseHttpUrl(revoke, env[revoke], defaults.revocationUrl),
  };
}

/** Whether the service has a client at the provider: without one nobody can connect. */
export function hasClient(endpoints: OAuthEndpoints): endpoints is OAuthEndpoints & { client: { clientId: string; clientSecret: string } } {
  return !!endpoints.client.clientId && !!endpoints.client.clientSecret;
}

/** A PKCE pair: the verifier, kept by the service, and its S256 challenge, sent with the user's browser. */
export function pkcePair(): { verifier: string; challenge: string } {
  // 32 random bytes: a 43-character verifier, the shortest RFC 7636 allows, with 256 bits in it.
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Where the user's browser goes to consent: the provider's authorization endpoint with the request's parameters. */
export function authorizationRequestUrl(
  connect: Pick<OAuthConnect, 'scopes' | 'authorizeParams'>,
  endpoints: OAuthEndpoints & { client: { clientId: string } },
  request: { redirectUri: string; state: string; codeChallenge: string },
): string {
  const url = new URL(endpoints.authorizationUrl);
  const params = {
    ...connect.authorizeParams,
    response_type: 'code',
    client_id: endpoints.client.clientId,
    redirect_uri: request.redirectUri,
    scope: connect.scopes.join(' '),
    state: request.state,
    code_challenge: request.codeChallenge,
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}

/**
 * Trades the code the provider sent back for tokens, proving with `codeVerifier` that this is the
 * flow the code was issued to. Throws the token endpoint's failures (`ProviderUnauthenticated` for
 * a code it refuses: wrong, used, expired, or issued for another verifier).
 */
export function exchangeCode(
  endpoints: OAuthEndpoints & { client: { clientId: string; clientSecret: string } },
  exchange: { code: string; redirectUri: string; codeVerifier: string },
  signal?: AbortSignal,
): Promise<TokenGrant> {
  return tokenGrant(
    endpoints.provider,
    endpoints.client,
    { grant_type: 'authorization_code', code: exchange.code, redirect_uri: exchange.redirectUri, code_verifier: exchange.codeVerifier },
    'the authorization code',
    signal,
  );
}

/** What became of a revocation: done (or the token was no longer valid), not offered, or failed (why, in words). */
export type Revocation = { outcome: 'revoked' } | { outcome: 'not_offered' } | { outcome: 'failed'; reason: string };

/**
 * Revokes `refreshToken` at the provider's revocation endpoint (RFC 7009), which also ends the
 * access tokens it gave. A token the provider no longer knows (`invalid_token`) counts as revoked.
 * Never throws for what the provider did; bounded by its own deadline.
 */
export async function revokeToken(endpoints: OAuthEndpoints, refreshToken: string): Promise<Revocation> {
  if (endpoints.revocationUrl === null) return { outcome: 'not_offered' };
  const { clientId, clientSecret } = endpoints.client;
  const outcome = await httpRequest(
    {
      method: 'POST',
      url: endpoints.revocationUrl,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: refreshToken,
        token_type_hint: 'refresh_token',
        ...(clientId && clientSecret ? { client_id: clientId, client_secret: clientSecret } : {}),
      }).toString(),
      timeoutMs: REVOKE_TIMEOUT_MS,
      // The endpoint is the operator's (it may be private); where it redirects is judged as any URL.
      destinations: { allowPrivate: false, trustedOrigins: [new URL(endpoints.revocationUrl).origin] },
    },
    'text',
  );
  const endpoint = `${endpoints.provider.name}'s revocation endpoint`;
  if (outcome.kind === 'aborted') return { outcome: 'failed', reason: 'the revocation was aborted' };
  if (outcome.kind !== 'answer') return { outcome: 'failed', reason: outboundFailure(plainProblem(outcome), endpoint).message };
  if (outcome.status >= 200 && outcome.status <= 299) return { outcome: 'revoked' };
  if (outcome.status === 400 && outcome.body.includes('invalid_token')) return { outcome: 'revoked' };
  return { outcome: 'failed', reason: `${endpoint} answered HTTP ${outcome.status}` };
}

/** The failure's type when `err` is one of the kit's classified failures, else `undefined`. */
export function failureType(err: unknown): string | undefined {
  return err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined;
}
