/**
 * The demo provider's OAuth token endpoint (`POST /token`, and Microsoft's v2.0 token path) and
 * revocation endpoint (`POST /revoke`), speaking Google's protocol for the grants the service uses:
 * `authorization_code` (a code from the consent page, `./authorize.ts`, with its PKCE verifier) and
 * `refresh_token`. It checks the client credentials, accepts any refresh token that is not revoked,
 * and issues access tokens that expire (an hour, or what a test sets). The People and Graph
 * endpoints answer 401 for those once expired or revoked; tokens it did not issue are accepted
 * unless listed as revoked, so `npm start`'s form and tests that pass a fixed token need no token
 * endpoint.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { createDemoAuthorization, type DemoAuthorization } from './authorize';
import { readForm } from './form-body';

export { DEMO_AUTHORIZE_PATH } from './authorize';

/** Where the demo provider serves tokens: `GOOGLE_TOKEN_URL=<demo url>/token`. */
export const DEMO_TOKEN_PATH = '/token';
/** Where the demo provider revokes tokens: `GOOGLE_REVOKE_URL=<demo url>/revoke`. */
export const DEMO_REVOKE_PATH = '/revoke';

/** The OAuth client the demo provider accepts unless told otherwise (what `npm start` configures). */
export const DEMO_OAUTH_CLIENT = { clientId: 'demo-client', clientSecret: 'demo-secret' } as const;

export interface DemoOAuthOptions {
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of the access tokens it issues, as `expires_in`. Default 3600. */
  accessTokenTtlSeconds?: number;
  /** Refresh tokens answered `invalid_grant` (revoked by the user, say). */
  revokedRefreshTokens?: string[];
}

export interface DemoOAuthStats {
  /** Requests to the token endpoint, refused ones included. */
  tokenRequests: number;
  /** Access tokens issued. */
  tokensIssued: number;
  /** Authorization codes traded for tokens. */
  codesRedeemed: number;
  /** Tokens revoked at `/revoke`. */
  revocations: number;
  /** People requests refused because their (issued) access token had expired. */
  expiredTokenRejections: number;
}

export interface DemoOAuth {
  readonly stats: DemoOAuthStats;
  /** Changes the options given (the others stay). */
  configure(patch: DemoOAuthOptions): void;
  /** Whether `token` is one this server issued and it has expired. */
  isExpired(token: string): boolean;
  /** Whether `token` was revoked, or came from a refresh token that was. */
  isRevoked(token: string): boolean;
  /** The consent page and its codes (`/authorize`, `./authorize.ts`). */
  readonly authorization: DemoAuthorization;
  /** Answers a request to {@link DEMO_TOKEN_PATH} or {@link DEMO_REVOKE_PATH}. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  resetStats(): void;
}

const DEFAULT_TTL_SECONDS = 3600;

function send(res: http.ServerResponse, status: number, body: object): void {
  if (res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(json),
    'Cache-Control': 'no-store',
  });
  res.end(json);
}

/** Client credentials from HTTP Basic, as RFC 6749 prefers (Google also takes them in the body). */
function basicCredentials(header: string | undefined): { id?: string; secret?: string } {
  const match = /^Basic (.+)$/.exec(header ?? '');
  if (!match?.[1]) return {};
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const at = decoded.indexOf(':');
  return at < 0 ? {} : { id: decodeURIComponent(decoded.slice(0, at)), secret: decodeURIComponent(decoded.slice(at + 1)) };
}

export function createDemoOAuth(initial: DemoOAuthOptions = {}): DemoOAuth {
  const options: Required<DemoOAuthOptions> = {
    clientId: DEMO_OAUTH_CLIENT.clientId,
    clientSecret: DEMO_OAUTH_CLIENT.clientSecret,
    accessTokenTtlSeconds: DEFAULT_TTL_SECONDS,
    revokedRefreshTokens: [],
  };
  const stats: DemoOAuthStats = { tokenRequests: 0, tokensIssued: 0, codesRedeemed: 0, revocations: 0, expiredTokenRejections: 0 };
  /** Issued access token → when it expires (epoch ms), and the refresh token it came from. */
  const issued = new Map<string, { expiresAt: number; refreshToken: string }>();
  const revoked = new Set<string>();
  const authorization = createDemoAuthorization(() => options.clientId);

  function configure(patch: DemoOAuthOptions): void {
    const ttl = patch.accessTokenTtlSeconds;
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1)) {
      throw new RangeError(`oauth.accessTokenTtlSeconds must be a whole number of seconds, 1 or more (got ${ttl})`);
    }
    Object.assign(options, Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)));
  }
  configure(initial);

  /** A new access token from `refreshToken`, and the answer that carries it. */
  function issue(refreshToken: string, extra: Record<string, string> = {}): { status: number; body: object } {
    const now = Date.now();
    // Forget long-expired tokens now and then: a benchmark may refresh many times.
    if (issued.size > 10_000) for (const [token, { expiresAt }] of issued) if (expiresAt < now) issued.delete(token);
    const accessToken = `demo-at.${randomBytes(18).toString('base64url')}`;
    issued.set(accessToken, { expiresAt: now + options.accessTokenTtlSeconds * 1000, refreshToken });
    stats.tokensIssued++;
    return {
      status: 200,
      body: {
        access_token: accessToken,
        expires_in: options.accessTokenTtlSeconds,
        scope: 'https://www.googleapis.com/auth/contacts.readonly',
        token_type: 'Bearer',
        ...extra,
      },
    };
  }

  const invalidGrant = { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } };

  function grant(form: URLSearchParams, header: string | undefined): { status: number; body: object } {
    const basic = basicCredentials(header);
    const clientId = basic.id ?? form.get('client_id');
    const clientSecret = basic.secret ?? form.get('client_secret');
    if (clientId !== options.clientId || clientSecret !== options.clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'The OAuth client was not found.' } };
    }
    const type = form.get('grant_type');
    if (type === 'authorization_code') {
      const redeemed = authorization.redeem(form.get('code') ?? '', {
        clientId,
        redirectUri: form.get('redirect_uri') ?? '',
        verifier: form.get('code_verifier') ?? '',
      });
      if (redeemed === null) return { status: 400, body: { error: 'invalid_grant', error_description: 'Bad Request' } };
      stats.codesRedeemed++;
      const refreshToken = `demo-rt.${randomBytes(18).toString('base64url')}`;
      return issue(refreshToken, { refresh_token: refreshToken, ...(redeemed.scope ? { scope: redeemed.scope } : {}) });
    }
    if (type !== 'refresh_token') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + (type ?? '') } };
    }
    const refreshToken = form.get('refresh_token');
    if (!refreshToken) return { status: 400, body: { error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' } };
    if (options.revokedRefreshTokens.includes(refreshToken) || revoked.has(refreshToken)) return invalidGrant;
    return issue(refreshToken);
  }

  /** Revokes a refresh token (and the access tokens it gave) or an access token, as Google's endpoint does. */
  function revoke(form: URLSearchParams): { status: number; body: object } {
    const token = form.get('token');
    if (!token) return { status: 400, body: { error: 'invalid_request', error_description: 'Missing required parameter: token' } };
    revoked.add(token);
    stats.revocations++;
    return { status: 200, body: {} };
  }

  /** Reads the form, then answers it. */
  function withForm(req: http.IncomingMessage, res: http.ServerResponse, answer: (form: URLSearchParams) => { status: number; body: object }): void {
    readForm(req, (form) => {
      const { status, body } = answer(form);
      send(res, status, body);
    });
  }

  return {
    stats,
    configure,
    isExpired(token) {
      const expiresAt = issued.get(token)?.expiresAt;
      const expired = expiresAt !== undefined && expiresAt <= Date.now();
      if (expired) stats.expiredTokenRejections++;
      return expired;
    },
    isRevoked(token) {
      const from = issued.get(token)?.refreshToken;
      return revoked.has(token) || (from !== undefined && revoked.has(from));
    },
    authorization,
    handle(req, res) {
      const revoking = new URL(req.url ?? '/', 'http://demo.invalid').pathname === DEMO_REVOKE_PATH;
      if (!revoking) stats.tokenRequests++;
      if (req.method !== 'POST') {
        send(res, 405, { error: 'invalid_request', error_description: `The ${revoking ? 'revocation' : 'token'} endpoint takes POST` });
        return;
      }
      if (revoking) withForm(req, res, revoke);
      else withForm(req, res, (form) => grant(form, req.headers.authorization));
    },
    resetStats() {
      stats.tokenRequests = 0;
      stats.tokensIssued = 0;
      stats.codesRedeemed = 0;
      stats.revocations = 0;
      stats.expiredTokenRejections = 0;
    },
  };
}
