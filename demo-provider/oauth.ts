/**
 * The demo provider's OAuth token endpoint (`POST /token`), speaking Google's protocol for the one
 * grant an import uses: `grant_type=refresh_token`. It checks the client credentials, accepts any
 * refresh token that is not revoked, and issues access tokens that expire (an hour, or what a test
 * sets). The People endpoint answers 401 for those once expired; a token it did not issue never
 * expires (any token works unless revoked), so `npm start` and tests that pass a fixed token need
 * no token endpoint.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';

/** Where the demo provider serves tokens: `GOOGLE_TOKEN_URL=<demo url>/token`. */
export const DEMO_TOKEN_PATH = '/token';

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
  /** People requests refused because their (issued) access token had expired. */
  expiredTokenRejections: number;
}

export interface DemoOAuth {
  readonly stats: DemoOAuthStats;
  /** Changes the options given (the others stay). */
  configure(patch: DemoOAuthOptions): void;
  /** Whether `token` is one this server issued and it has expired. */
  isExpired(token: string): boolean;
  /** Answers a request to {@link DEMO_TOKEN_PATH}. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  resetStats(): void;
}

const DEFAULT_TTL_SECONDS = 3600;
const MAX_BODY_BYTES = 16 * 1024;

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
  const stats: DemoOAuthStats = { tokenRequests: 0, tokensIssued: 0, expiredTokenRejections: 0 };
  /** Issued access token → when it expires (epoch ms). */
  const issued = new Map<string, number>();

  function configure(patch: DemoOAuthOptions): void {
    const ttl = patch.accessTokenTtlSeconds;
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1)) {
      throw new RangeError(`oauth.accessTokenTtlSeconds must be a whole number of seconds, 1 or more (got ${ttl})`);
    }
    Object.assign(options, Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)));
  }
  configure(initial);

  function grant(form: URLSearchParams, authorization: string | undefined): { status: number; body: object } {
    const basic = basicCredentials(authorization);
    const clientId = basic.id ?? form.get('client_id');
    const clientSecret = basic.secret ?? form.get('client_secret');
    if (clientId !== options.clientId || clientSecret !== options.clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'The OAuth client was not found.' } };
    }
    if (form.get('grant_type') !== 'refresh_token') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + (form.get('grant_type') ?? '') } };
    }
    const refreshToken = form.get('refresh_token');
    if (!refreshToken) return { status: 400, body: { error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' } };
    if (options.revokedRefreshTokens.includes(refreshToken)) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } };
    }
    const now = Date.now();
    // Forget long-expired tokens now and then: a benchmark may refresh many times.
    if (issued.size > 10_000) for (const [token, expiresAt] of issued) if (expiresAt < now) issued.delete(token);
    const accessToken = `demo-at.${randomBytes(18).toString('base64url')}`;
    issued.set(accessToken, now + options.accessTokenTtlSeconds * 1000);
    stats.tokensIssued++;
    return {
      status: 200,
      body: {
        access_token: accessToken,
        expires_in: options.accessTokenTtlSeconds,
        scope: 'https://www.googleapis.com/auth/contacts.readonly',
        token_type: 'Bearer',
      },
    };
  }

  return {
    stats,
    configure,
    isExpired(token) {
      const expiresAt = issued.get(token);
      const expired = expiresAt !== undefined && expiresAt <= Date.now();
      if (expired) stats.expiredTokenRejections++;
      return expired;
    },
    handle(req, res) {
      stats.tokenRequests++;
      if (req.method !== 'POST') {
        send(res, 405, { error: 'invalid_request', error_description: 'The token endpoint takes POST' });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy();
        else chunks.push(chunk);
      });
      req.on('end', () => {
        const { status, body } = grant(new URLSearchParams(Buffer.concat(chunks).toString('utf8')), req.headers.authorization);
        send(res, status, body);
      });
    },
    resetStats() {
      stats.tokenRequests = 0;
      stats.tokensIssued = 0;
      stats.expiredTokenRejections = 0;
    },
  };
}
