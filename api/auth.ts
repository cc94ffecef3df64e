/**
 * Who is calling: every `/v1` request carries `Authorization: Bearer <key>`, and the key's tenant
 * is the only tenant the request sees. The tenant never comes from the request itself.
 *
 * The embedded default keeps working with no key at all (the keyless mode), but only while the API
 * listens on a loopback address and no key exists yet: no tenant key for `/v1` (its requests then
 * act as tenant `default`), no key of any kind for the operator routes (`/codec`, `/metrics`). And
 * only for requests from this machine addressed to a loopback name (`localhost`, `127.0.0.1`,
 * `[::1]`): any other `Host` answers 421, so a web page cannot reach the API through DNS rebinding.
 */
import type { MiddlewareHandler } from 'hono';
import type { ApiKeyRecord, ApiKeyScope, ApiKeyStore } from '../db/api-keys';
import { DEFAULT_TENANT } from '../workflows/contract';
import { ApiError, errorBody } from './errors';
import { notLocal, requestOrigin, type RequestOrigin } from './loopback';

/** The tenant of requests made without a key in the keyless mode. */
export const OPEN_MODE_TENANT = DEFAULT_TENANT;

export interface Caller {
  tenant: string;
  /** The key's id, or `null` in the keyless mode: what rate limits and event streams are counted against. */
  keyId: string | null;
}

export type AuthResult =
  | { ok: true; caller: Caller }
  | { ok: false; reason: 'missing' | 'invalid' }
  /** No key, in the keyless mode, from a request that is not local (`api/loopback.ts`). */
  | { ok: false; reason: 'not_local'; what: 'host' | 'peer'; origin: RequestOrigin };

export interface Authenticator {
  /**
   * Who `authorization` (the header's value) is, for the given scope; `origin` is where the request
   * came from (`requestOrigin(c)`), which decides whether it may go without a key.
   */
  authenticate(authorization: string | undefined, scope: ApiKeyScope, origin: RequestOrigin): Promise<AuthResult>;
}

export interface AuthenticatorOptions {
  keys: Pick<ApiKeyStore, 'verify' | 'countActive'>;
  /** The API listens only on loopback addresses: the keyless mode is allowed while no key exists. */
  loopbackOnly: boolean;
  /** How long "are there any keys?" is remembered; keys created meanwhile take effect after it. */
  keyCountCacheMs?: number;
}

/** The bearer token of an `Authorization` header, or `undefined`. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const cacheMs = options.keyCountCacheMs ?? 2_000;
  const counts = new Map<ApiKeyScope, { at: number; count: Promise<number> }>();
  const activeKeys = (scope: ApiKeyScope): Promise<number> => {
    const cached = counts.get(scope);
    if (cached && Date.now() - cached.at < cacheMs) return cached.count;
    const count = options.keys.countActive(scope);
    counts.set(scope, { at: Date.now(), count });
    count.catch(() => counts.delete(scope));
    return count;
  };
  /** Tenant routes go keyless until a tenant key exists; operator routes only until any key does. */
  const keyless = async (scope: ApiKeyScope): Promise<boolean> => {
    if (!options.loopbackOnly || (await activeKeys('tenant')) > 0) return false;
    return scope === 'tenant' || (await activeKeys('operator')) === 0;
  };
  return {
    async authenticate(authorization, scope, origin) {
      const token = bearerToken(authorization);
      if (token === undefined) {
        if (authorization !== undefined) return { ok: false, reason: 'invalid' };
        if (!(await keyless(scope))) return { ok: false, reason: 'missing' };
        const what = notLocal(origin);
        if (what) return { ok: false, reason: 'not_local', what, origin };
        return { ok: true, caller: { tenant: OPEN_MODE_TENANT, keyId: null } };
      }
      const record: ApiKeyRecord | null = await options.keys.verify(token);
      if (!record || record.scope !== scope) return { ok: false, reason: 'invalid' };
      return { ok: true, caller: { tenant: record.tenant ?? OPEN_MODE_TENANT, keyId: record.id } };
    },
  };
}

/** The realm every `WWW-Authenticate` challenge names. */
const REALM = 'contacts-import';

/**
 * A keyless request that is not local: `421` when it names another host (the request was meant for
 * some other server, as far as this one can tell: DNS rebinding looks like this), `403` when it
 * comes from another machine. Neither gets a challenge: a key would do, but the point is the address.
 */
export function notLocalRefusal(what: 'host' | 'peer', origin: RequestOrigin): Response {
  const body =
    what === 'host'
      ? errorBody(
          'host_not_allowed',
          `Without API keys this API answers only requests addressed to localhost, 127.0.0.1 or [::1], not "${origin.host.slice(0, 100)}": ` +
            'open it by one of those names, or create a key (`npm run api-key -- create --tenant TENANT --name NAME`) and send it',
        )
      : errorBody(
          'peer_not_allowed',
          'Without API keys this API answers only requests from this machine: create a key (`npm run api-key -- create --tenant TENANT --name NAME`) and send it',
        );
  return new Response(JSON.stringify(body), { status: what === 'host' ? 421 : 403, headers: { 'content-type': 'application/json' } });
}

/** 401 with the usual error body and a Bearer challenge (RFC 6750). */
export function unauthorized(reason: 'missing' | 'invalid', scope: ApiKeyScope): Response {
  const what = scope === 'operator' ? 'an operator key' : 'an API key';
  const message =
    reason === 'missing'
      ? `This route needs ${what}: send "Authorization: Bearer <key>" (create one with \`npm run api-key -- create\`)`
      : `The key is unknown, revoked, or not ${what}`;
  const challenge = reason === 'missing' ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
  return new Response(JSON.stringify(errorBody('unauthenticated', message)), {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': challenge },
  });
}

export interface CallerVariables {
  caller: Caller;
}

/** The answer to a refused {@link AuthResult}: 401 with a challenge, or 421/403 for a keyless request that is not local. */
export function refusal(result: Exclude<AuthResult, { ok: true }>, scope: ApiKeyScope): Response {
  return result.reason === 'not_local' ? notLocalRefusal(result.what, result.origin) : unauthorized(result.reason, scope);
}

/** Middleware: answers 401 (or 421/403) unless the request carries a key of `scope`; sets `c.var.caller`. */
export function requireKey(
  authenticator: Authenticator,
  scope: ApiKeyScope = 'tenant',
): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async function requireKey(c, next) {
    let result: AuthResult;
    try {
      result = await authenticator.authenticate(c.req.header('authorization'), scope, requestOrigin(c));
    } catch {
      // Keys live in the store: while it does not answer, nobody can be checked, and nobody served.
      throw new ApiError(503, 'store_unavailable', 'The database does not answer, so the API key cannot be checked; try again shortly');
    }
    if (!result.ok) return refusal(result, scope);
    c.set('caller', result.caller);
    await next();
  };
}
