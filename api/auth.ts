/**
 * Who is calling: every `/v1` request carries `Authorization: Bearer <key>`, and the key's tenant
 * is the only tenant the request sees. The tenant never comes from the request itself.
 *
 * The embedded default keeps working with no key at all, but only in one case: no tenant key has
 * been created yet and the API listens on a loopback address. Then requests act as tenant
 * `default`. Once any key exists, every request needs one.
 */
import type { MiddlewareHandler } from 'hono';
import type { ApiKeyRecord, ApiKeyScope, ApiKeyStore } from '../db/api-keys';
import { DEFAULT_TENANT } from '../workflows/contract';
import { ApiError, errorBody } from './errors';

/** The tenant of requests made without a key in the loopback-only open mode. */
export const OPEN_MODE_TENANT = DEFAULT_TENANT;

export interface Caller {
  tenant: string;
  /** The key's id, or `null` in the open mode: what rate limits are counted against. */
  keyId: string | null;
}

export type AuthResult = { ok: true; caller: Caller } | { ok: false; reason: 'missing' | 'invalid' };

export interface Authenticator {
  /** Who `authorization` (the header's value) is, for the given scope. */
  authenticate(authorization: string | undefined, scope: ApiKeyScope): Promise<AuthResult>;
}

export interface AuthenticatorOptions {
  keys: Pick<ApiKeyStore, 'verify' | 'countActive'>;
  /** The API listens only on loopback addresses: the open mode is allowed while no key exists. */
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
  return {
    async authenticate(authorization, scope) {
      const token = bearerToken(authorization);
      if (token === undefined) {
        if (authorization !== undefined) return { ok: false, reason: 'invalid' };
        if (options.loopbackOnly && (await activeKeys(scope)) === 0) {
          return { ok: true, caller: { tenant: OPEN_MODE_TENANT, keyId: null } };
        }
        return { ok: false, reason: 'missing' };
      }
      const record: ApiKeyRecord | null = await options.keys.verify(token);
      if (!record || record.scope !== scope) return { ok: false, reason: 'invalid' };
      return { ok: true, caller: { tenant: record.tenant ?? OPEN_MODE_TENANT, keyId: record.id } };
    },
  };
}

/** The realm every `WWW-Authenticate` challenge names. */
const REALM = 'contacts-import';

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

/** Middleware: answers 401 unless the request carries a key of `scope`; sets `c.var.caller`. */
export function requireKey(
  authenticator: Authenticator,
  scope: ApiKeyScope = 'tenant',
): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async function requireKey(c, next) {
    let result: AuthResult;
    try {
      result = await authenticator.authenticate(c.req.header('authorization'), scope);
    } catch {
      // Keys live in the store: while it does not answer, nobody can be checked, and nobody served.
      throw new ApiError(503, 'store_unavailable', 'The database does not answer, so the API key cannot be checked; try again shortly');
    }
    if (!result.ok) return unauthorized(result.reason, scope);
    c.set('caller', result.caller);
    await next();
  };
}
