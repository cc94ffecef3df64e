/**
 * The connect flow in the user's browser, outside `/v1` (the browser carries no API key, only the
 * session's signed, single-use URL):
 *
 * - `GET /connect/{token}` opens the session, once: an OAuth provider's answer is a `302` straight
 *   to its consent page (PKCE S256, `state` bound to the session); an account provider's is its form;
 * - `GET /connect/callback` takes the provider's answer, once: the code is exchanged (with the
 *   session's verifier) and the refresh token kept sealed as a connection;
 * - `POST /connect/form` takes the account form, checks the account with the provider's server,
 *   and keeps it sealed as a connection.
 *
 * Whatever ends a session without a connection (a tampered or replayed `state`, an expired session,
 * a code for another session, a refusal) is a page saying so, and, when the session is known, a
 * way back to its `redirectUrl` with `status=error` and a `code`: nothing is stored.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Hono, type Context } from 'hono';
import { API_BODY_LIMIT_BYTES, CONNECT_DEFAULTS } from '../../config/defaults';
import type { ConnectSession } from '../../db/connect-sessions';
import type { Signer } from '../../encryption/signing';
import type { TokenSealer } from '../../encryption/token-seal';
import { connectOf, oauthEndpointsOf, type ProviderSettings } from '../../providers';
import { authorizationRequestUrl, exchangeCode, hasClient, pkcePair } from '../../providers/kit/oauth-connect';
import type { AccountFormConnect } from '../../providers/types';
import { FAILURE_TYPES } from '../../workflows/contract';
import { limitBody } from '../http-hygiene';
import { CONNECT_ERRORS, keepConnection, redirectWith, type ConnectErrorCode, type Ending, type KeepDeps } from './outcome';
import { accountFormPage, outcomePage, pageHeaders, type FormValues } from './pages';
import { newState, sessionOfState, sessionOfToken, stateHash, stateMatches } from './tokens';

/** Where the flow lives (`PUBLIC_BASE_URL`) and what it reaches providers with. */
export interface ConnectOptions {
  /** The API as browsers reach it: connect URLs and the OAuth callback are under it. */
  publicBaseUrl: string;
  /** Signs connect URLs (`createSigner(tokenKey, 'connect-session')`). */
  signer: Signer;
  /** Each provider's settings: its OAuth endpoints and the service's client there. */
  providers: ProviderSettings;
  /** How long a session lasts (`CONNECT_SESSION_TTL`). */
  sessionTtlSeconds?: number;
  /** Whether an account form may name a loopback or private server (`SOURCES_ALLOW_PRIVATE_ADDRESSES`). */
  allowPrivateAddresses?: boolean;
}

export interface ConnectFlowDeps extends KeepDeps {
  sealer: TokenSealer;
  connect: ConnectOptions;
}

/** The OAuth callback's path: register `<PUBLIC_BASE_URL>/connect/callback` with each provider. */
export const CALLBACK_PATH = '/connect/callback';
const FORM_PATH = '/connect/form';

/** The titles of the pages that end a session, by how it ended. */
const TITLES: Record<'denied' | 'error', string> = { denied: 'Access was not allowed', error: 'Your account was not connected' };

type Answer = (c: Context) => Response;

export function connectFlow(deps: ConnectFlowDeps): Hono {
  const { signer, publicBaseUrl } = deps.connect;
  const sessions = deps.store.connectSessions;
  const formOrigin = new URL(publicBaseUrl).origin;
  const callbackUrl = `${publicBaseUrl}${CALLBACK_PATH}`;
  const app = new Hono();

  /** A page; one with the account form of `session` may also be redirected back to its web app. */
  const html = (c: Context, body: string, status: 200 | 400 | 404 | 422 | 500 = 200, session?: ConnectSession) =>
    c.body(body, status, pageHeaders(session ? [formOrigin, new URL(session.redirectUrl).origin] : [formOrigin]));

  /** The page a session ends on without a connection; with its way back when the session is known. */
  function ended(session: ConnectSession | null, ending: Exclude<Ending, { status: 'connected' }>): Answer {
    const message = ending.status === 'denied' ? 'You did not allow access to your contacts. Nothing was connected.' : CONNECT_ERRORS[ending.code];
    const backTo = session ? redirectWith(session.redirectUrl, ending) : null;
    const status = ending.status === 'error' && (ending.code === 'invalid_link' || ending.code === 'invalid_state') ? 404 : ending.status === 'error' && ending.code === 'internal' ? 500 : 400;
    return (c) => html(c, outcomePage(TITLES[ending.status], message, backTo), status);
  }

  /** Ends a session this request took (claimed), recording how. */
  async function endTaken(session: ConnectSession, code: ConnectErrorCode | 'denied'): Promise<Answer> {
    await sessions.finish(session.sessionId, code);
    deps.log?.info({ tenant: session.tenant, provider: session.provider, outcome: code }, 'connect session ended');
    return ended(session, code === 'denied' ? { status: 'denied' } : { status: 'error', code });
  }

  /** Why a session that could not be opened or taken is over: expired, or used already. */
  const overBecause = (session: ConnectSession): ConnectErrorCode => (Date.parse(session.expiresAt) <= Date.now() ? 'session_expired' : 'session_used');

  /** Answers `answer`, or the internal-error page (logged, message only) when it throws. */
  const guarded = (handler: (c: Context) => Promise<Answer | Response>) => async (c: Context) => {
    try {
      const answer = await handler(c);
      return answer instanceof Response ? answer : answer(c);
    } catch (err) {
      console.error(`api: connect flow failed on ${c.req.method} ${c.req.routePath}: ${err instanceof Error ? err.message : String(err)}`);
      return ended(null, { status: 'error', code: 'internal' })(c);
    }
  };

  /** Back to the web app once connected: the connection, and the import when one started. */
  const connected = (session: ConnectSession, ending: Ending): Answer => (c) => c.redirect(redirectWith(session.redirectUrl, ending), 303);

  app.get(CALLBACK_PATH, guarded(callback));
  app.post(FORM_PATH, limitBody(API_BODY_LIMIT_BYTES), guarded(submitForm));
  app.get('/connect/:token', guarded(open));

  async function open(c: Context): Promise<Answer | Response> {
    const sessionId = sessionOfToken(signer, c.req.param('token') ?? '');
    const session = sessionId === null ? null : await sessions.get(sessionId);
    if (!session) return ended(null, { status: 'error', code: 'invalid_link' });
    const connect = connectOf(session.provider);
    if (!connect) return ended(session, { status: 'error', code: 'provider_not_configured' });
    const { state, hash } = newState(session.sessionId);
    if (connect.kind === 'account-form') {
      if (!(await sessions.open(session.sessionId, { stateHash: hash, sealedVerifier: null }))) {
        return ended(session, { status: 'error', code: overBecause(session) });
      }
      return html(c, accountFormPage(connect, `${publicBaseUrl}${FORM_PATH}`, state), 200, session);
    }
    const endpoints = oauthEndpointsOf(session.provider, deps.connect.providers);
    if (!endpoints || !hasClient(endpoints)) return ended(session, { status: 'error', code: 'provider_not_configured' });
    const pkce = pkcePair();
    if (!(await sessions.open(session.sessionId, { stateHash: hash, sealedVerifier: deps.sealer.seal(pkce.verifier) }))) {
      return ended(session, { status: 'error', code: overBecause(session) });
    }
    return c.redirect(authorizationRequestUrl(connect, endpoints, { redirectUri: callbackUrl, state, codeChallenge: pkce.challenge }), 302);
  }

  /**
   * The session `state` names, once it is proven to be the one it handed out: else the page that
   * says so (back to the web app when the session is known: its `redirectUrl` was checked when it
   * was made). Takes nothing.
   */
  async function sessionOf(state: string | undefined): Promise<{ session: ConnectSession; state: string } | Answer> {
    const sessionId = sessionOfState(state);
    const session = sessionId === null ? null : await sessions.get(sessionId);
    if (!session || state === undefined) return ended(null, { status: 'error', code: 'invalid_state' });
    if (!stateMatches(state, session.stateHash)) return ended(session, { status: 'error', code: 'invalid_state' });
    if (session.finishedAt !== null || Date.parse(session.expiresAt) <= Date.now()) return ended(session, { status: 'error', code: overBecause(session) });
    return { session, state };
  }

  async function callback(c: Context): Promise<Answer | Response> {
    const found = await sessionOf(c.req.query('state'));
    if (typeof found === 'function') return found;
    const { session, state } = found;
    // Once: a replayed callback (or one racing this one) finds the session taken and stores nothing.
    if (!(await sessions.claim(session.sessionId, stateHash(state)))) return ended(session, { status: 'error', code: overBecause(session) });
    const providerError = c.req.query('error');
    if (providerError !== undefined) return endTaken(session, providerError === 'access_denied' ? 'denied' : 'provider_error');
    const code = c.req.query('code');
    const endpoints = oauthEndpointsOf(session.provider, deps.connect.providers);
    if (!code || !session.sealedVerifier) return endTaken(session, 'provider_error');
    if (!endpoints || !hasClient(endpoints)) return endTaken(session, 'provider_not_configured');
    let grant: Awaited<ReturnType<typeof exchangeCode>>;
    try {
      grant = await exchangeCode(endpoints, { code, redirectUri: callbackUrl, codeVerifier: deps.sealer.open(session.sealedVerifier) });
    } catch (err) {
      if (!(err instanceof ApplicationFailure)) throw err;
      deps.log?.warn({ tenant: session.tenant, provider: session.provider, type: err.type, error: err.message }, 'connect session: the code exchange failed');
      const retryable = err.type === FAILURE_TYPES.providerUnavailable || err.type === FAILURE_TYPES.providerThrottled;
      return endTaken(session, retryable ? 'provider_unavailable' : 'exchange_failed');
    }
    if (grant.refreshToken === null) return endTaken(session, 'no_refresh_token');
    const connect = connectOf(session.provider);
    const scopes = grant.scope?.split(' ').filter(Boolean) ?? (connect?.kind === 'oauth' ? [...connect.scopes] : []);
    const ending = await keepConnection(deps, session, {
      sealedSecret: deps.sealer.seal(grant.refreshToken),
      scopes,
      sealedAccessToken: deps.sealer.seal(grant.accessToken),
      accessExpiresAt: grant.expiresInSeconds === null ? null : new Date(Date.now() + grant.expiresInSeconds * 1000).toISOString(),
    });
    return connected(session, ending);
  }

  async function submitForm(c: Context): Promise<Answer | Response> {
    const form = await c.req.parseBody();
    const text = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
    const found = await sessionOf(text('state') || undefined);
    if (typeof found === 'function') return found;
    const { session, state } = found;
    const connect = connectOf(session.provider);
    if (connect?.kind !== 'account-form') return ended(session, { status: 'error', code: 'provider_not_configured' });
    if (!(await sessions.attempt(session.sessionId, stateHash(state), CONNECT_DEFAULTS.formAttempts))) {
      if (!(await sessions.claim(session.sessionId, stateHash(state)))) return ended(session, { status: 'error', code: overBecause(session) });
      return endTaken(session, 'too_many_attempts');
    }
    const fields = Object.fromEntries(connect.fields.map((field) => [field.name, text(field.name)]));
    const values: FormValues = { server: text('server'), url: text('url'), fields };
    const refused = (error: string) => html(c, accountFormPage(connect, `${publicBaseUrl}${FORM_PATH}`, state, { ...values, error }), 422, session);
    const url = serverUrl(connect, text('server'), text('url'));
    if (url === null) return refused('Choose a server, or give its address.');
    let secret: string;
    try {
      secret = await connect.verify({ ...fields, url }, { allowPrivateAddresses: deps.connect.allowPrivateAddresses ?? false, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      if (!(err instanceof ApplicationFailure)) throw err;
      return refused(refusalMessage(err));
    }
    if (!(await sessions.claim(session.sessionId, stateHash(state)))) return ended(session, { status: 'error', code: overBecause(session) });
    return connected(session, await keepConnection(deps, session, { sealedSecret: deps.sealer.seal(secret), scopes: [] }));
  }

  return app;
}

/** The address the form names: a known server's, or the one typed for the others; `null` when neither is usable. */
function serverUrl(connect: AccountFormConnect, server: string, typed: string): string | null {
  const known = connect.knownServers.find((candidate) => candidate.id === server);
  if (!known) return null;
  if (known.url !== null) return known.url;
  return URL.canParse(typed) ? typed : null;
}

/** What the form says when the server refused the account: the provider's words, or plain ones for a wrong password. */
function refusalMessage(err: ApplicationFailure): string {
  if (err.type === FAILURE_TYPES.providerUnauthenticated) return 'The server refused this user name and password. Check them (an app password, not your account password) and try again.';
  return err.message;
}
