/**
 * The connect tests' own OAuth authorization server, strict where the service must be correct:
 * `/authorize` takes only `response_type=code` with an S256 PKCE challenge and a `state`, for its
 * one client and redirect URI, and sends the browser back at once (no consent page) with a code or,
 * when told to deny, `error=access_denied`; `/token` trades a code once, only with the verifier of
 * its challenge and the same redirect URI, and refreshes the refresh tokens it issued unless told
 * to refuse them; `/revoke` records what it revoked. It records what it saw, so tests can assert
 * it. `/app/…` is the web app the browser ends on.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readProviderSettings, type ProviderSettings } from '../../providers';

export interface SeenAuthorization {
  state: string;
  codeChallenge: string;
  redirectUri: string;
  scope: string;
  /** Every parameter of the request, for the provider's extra ones (`access_type`, `prompt`). */
  params: Record<string, string>;
}

export interface TestAuthServer {
  url: string;
  client: { clientId: string; clientSecret: string };
  /** The authorization requests it answered, in order. */
  readonly authorizations: SeenAuthorization[];
  /** Token requests: codes traded, refused (unknown, used, wrong verifier or redirect URI), refreshes. */
  readonly exchanges: { redeemed: number; refused: number; refreshed: number };
  /** Refresh and access tokens it issued, newest last. */
  readonly issued: { refreshTokens: string[]; accessTokens: string[] };
  /** Tokens posted to `/revoke`. */
  readonly revoked: string[];
  /** Pages of the web app the browser reached (`/app/…` with its query). */
  readonly appVisits: URL[];
  /** `deny`: answer the next authorizations `access_denied`. `refuseRefresh`: answer refreshes `invalid_grant`. */
  configure(patch: { deny?: boolean; refuseRefresh?: boolean }): void;
  /** Provider settings whose Google OAuth endpoints are this server's, and whose People API is at `peopleUrl`. */
  providerSettings(peopleUrl: string): ProviderSettings;
  close(): Promise<void>;
}

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export async function startTestAuthServer(): Promise<TestAuthServer> {
  const client = { clientId: 'connect-test-client', clientSecret: randomBytes(12).toString('hex') };
  const authorizations: SeenAuthorization[] = [];
  const exchanges = { redeemed: 0, refused: 0, refreshed: 0 };
  const issued = { refreshTokens: [] as string[], accessTokens: [] as string[] };
  const revoked: string[] = [];
  const appVisits: URL[] = [];
  const codes = new Map<string, SeenAuthorization>();
  const settings = { deny: false, refuseRefresh: false };

  const json = (res: http.ServerResponse, status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const tokens = (refreshToken: string | null, scope: string) => {
    const accessToken = `test-at.${randomBytes(12).toString('base64url')}`;
    issued.accessTokens.push(accessToken);
    return { access_token: accessToken, expires_in: 3600, token_type: 'Bearer', scope, ...(refreshToken ? { refresh_token: refreshToken } : {}) };
  };

  function authorize(url: URL, res: http.ServerResponse): void {
    const p = url.searchParams;
    const problem =
      p.get('response_type') !== 'code'
        ? 'response_type'
        : p.get('client_id') !== client.clientId
          ? 'client_id'
          : p.get('code_challenge_method') !== 'S256' || !CHALLENGE.test(p.get('code_challenge') ?? '')
            ? 'PKCE'
            : !p.get('state')
              ? 'state'
              : !URL.canParse(p.get('redirect_uri') ?? '')
                ? 'redirect_uri'
                : null;
    if (problem) return json(res, 400, { error: 'invalid_request', error_description: `bad ${problem}` });
    const seen: SeenAuthorization = {
      state: p.get('state') ?? '',
      codeChallenge: p.get('code_challenge') ?? '',
      redirectUri: p.get('redirect_uri') ?? '',
      scope: p.get('scope') ?? '',
      params: Object.fromEntries(p),
    };
    authorizations.push(seen);
    const back = new URL(seen.redirectUri);
    back.searchParams.set('state', seen.state);
    if (settings.deny) back.searchParams.set('error', 'access_denied');
    else {
      const code = `test-code.${randomBytes(12).toString('base64url')}`;
      codes.set(code, seen);
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  function token(form: URLSearchParams, res: http.ServerResponse): void {
    if (form.get('client_id') !== client.clientId || form.get('client_secret') !== client.clientSecret) {
      return json(res, 401, { error: 'invalid_client' });
    }
    if (form.get('grant_type') === 'refresh_token') {
      const refreshToken = form.get('refresh_token') ?? '';
      if (settings.refuseRefresh || revoked.includes(refreshToken) || !issued.refreshTokens.includes(refreshToken)) {
        return json(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
      }
      exchanges.refreshed += 1;
      return json(res, 200, tokens(null, ''));
    }
    const code = form.get('code') ?? '';
    const seen = codes.get(code);
    codes.delete(code);
    const verifier = form.get('code_verifier') ?? '';
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!seen || seen.codeChallenge !== challenge || seen.redirectUri !== form.get('redirect_uri')) {
      exchanges.refused += 1;
      return json(res, 400, { error: 'invalid_grant', error_description: 'Bad code, verifier or redirect_uri' });
    }
    exchanges.redeemed += 1;
    const refreshToken = `test-rt.${randomBytes(12).toString('base64url')}`;
    issued.refreshTokens.push(refreshToken);
    return json(res, 200, tokens(refreshToken, seen.scope));
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://test.invalid');
    if (url.pathname.startsWith('/app/')) {
      appVisits.push(url);
      const said = [...url.searchParams].map(([name, value]) => `<li>${name}: <code>${value.replace(/[&<>"']/g, '')}</code></li>`).join('');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>The web app</title><h1 id="app">Back in the web app</h1><ul>${said}</ul>`);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/authorize') return authorize(url, res);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (req.method === 'POST' && url.pathname === '/token') return token(form, res);
      if (req.method === 'POST' && url.pathname === '/revoke') {
        revoked.push(form.get('token') ?? '');
        return json(res, 200, {});
      }
      json(res, 404, { error: 'not_found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    client,
    authorizations,
    exchanges,
    issued,
    revoked,
    appVisits,
    configure: (patch) => Object.assign(settings, patch),
    providerSettings: (peopleUrl) =>
      readProviderSettings({
        GOOGLE_PEOPLE_BASE_URL: peopleUrl,
        GOOGLE_CLIENT_ID: client.clientId,
        GOOGLE_CLIENT_SECRET: client.clientSecret,
        GOOGLE_AUTH_URL: `${url}/authorize`,
        GOOGLE_TOKEN_URL: `${url}/token`,
        GOOGLE_REVOKE_URL: `${url}/revoke`,
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
