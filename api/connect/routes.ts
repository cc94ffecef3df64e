/**
 * The `/v1` routes of connecting accounts, for the web app's server (its API key):
 *
 * - `POST /v1/connect-sessions`: a session for one user and provider; its `connectUrl` is where the
 *   web app sends the user's browser (`./flow.ts` runs the rest);
 * - `PUT` and `GET /v1/connect-settings`: the origins sessions may send users back to;
 * - `GET /v1/users/{userId}/connections`, `GET` and `DELETE /v1/connections/{connectionId}`.
 *
 * Disconnecting stops the user's sync schedules of the provider, revokes the secret at the provider
 * where it offers revocation, and forgets it.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { CONNECT_DEFAULTS } from '../../config/defaults';
import type { Store } from '../../db/types';
import type { TokenSealer } from '../../encryption/token-seal';
import type { Connection } from '../../db/connections';
import { isScheduleProviderId, oauthEndpointsOf, revokeSecret, type Revocation } from '../../providers';
import { hasClient } from '../../providers/kit/oauth-connect';
import type { CallerVariables } from '../auth';
import { ApiError } from '../errors';
import type { SyncSchedules } from '../hooks/schedules';
import { isLoopbackHost } from '../loopback';
import { json, security, v1Errors } from '../routes';
import { ErrorBody, UserIdParam } from '../schemas';
import type { ConnectOptions } from './flow';
import {
  ConnectionIdParam,
  ConnectionList,
  ConnectionView,
  ConnectSessionView,
  ConnectSettingsView,
  CreateConnectSessionBody,
  DisconnectedView,
  PutConnectSettingsBody,
} from './schemas';
import { connectToken } from './tokens';

export const createConnectSession = createRoute({
  method: 'post',
  path: '/v1/connect-sessions',
  summary: "Let a user connect their account: a single-use URL to send the user's browser to",
  description:
    'The browser is sent straight to the provider\'s consent page (OAuth: PKCE and `state`), or to a small form (CardDAV: ' +
    'server, user name, app password, checked before they are kept). At the end it goes to `redirectUrl` with ' +
    '`status=connected&connection=con_…` (and `import=imp_…` when `import` was asked), `status=denied`, or ' +
    '`status=error&code=…`. A new session for a user and provider whose connection needs re-auth repairs it, and ' +
    'the import waiting for it resumes.',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: CreateConnectSessionBody } } } },
  responses: {
    201: json(ConnectSessionView, 'The session'),
    ...v1Errors(400, 413, 422, 503),
    422: json(ErrorBody, 'A bad field (`validation_failed`), or a `redirectUrl` on none of the tenant\'s origins (`redirect_not_allowed`)'),
  },
});

export const putConnectSettings = createRoute({
  method: 'put',
  path: '/v1/connect-settings',
  summary: "Set the origins connect sessions may send the tenant's users back to",
  security,
  request: { body: { required: true, content: { 'application/json': { schema: PutConnectSettingsBody } } } },
  responses: { 200: json(ConnectSettingsView, 'The settings'), ...v1Errors(400, 413, 422) },
});

export const getConnectSettings = createRoute({
  method: 'get',
  path: '/v1/connect-settings',
  summary: "The tenant's connect settings",
  security,
  responses: { 200: json(ConnectSettingsView, 'The settings (no origins before the first PUT)'), ...v1Errors() },
});

export const listConnections = createRoute({
  method: 'get',
  path: '/v1/users/{userId}/connections',
  summary: "A user's connections, one per provider (never their secrets)",
  security,
  request: { params: UserIdParam },
  responses: { 200: json(ConnectionList, 'The connections'), ...v1Errors(422) },
});

export const getConnection = createRoute({
  method: 'get',
  path: '/v1/connections/{connectionId}',
  summary: 'A connection: its user, provider, scopes and status',
  security,
  request: { params: ConnectionIdParam },
  responses: { 200: json(ConnectionView, 'The connection'), ...v1Errors(422), 404: json(ErrorBody, 'No such connection for this API key') },
});

export const deleteConnection = createRoute({
  method: 'delete',
  path: '/v1/connections/{connectionId}',
  summary: "Disconnect: stop the user's schedules of the provider, revoke the secret at the provider where it can, forget it",
  security,
  request: { params: ConnectionIdParam },
  responses: {
    200: json(DisconnectedView, 'Disconnected (repeating it is harmless)'),
    ...v1Errors(413, 422, 503),
    404: json(ErrorBody, 'No such connection for this API key'),
  },
});

export interface ConnectRouteDeps {
  store: Store;
  sealer?: TokenSealer;
  schedules?: SyncSchedules;
  /** Without it, `POST /v1/connect-sessions` answers 503 (an app built for the HTTP contract alone). */
  connect?: ConnectOptions;
}

const notFound = (connectionId: string) => new ApiError(404, 'connection_not_found', `No connection with id "${connectionId}"`);

/** Whether `redirectUrl` may end a session of `tenant`: on one of its origins, or on loopback for the keyless loopback mode. */
async function checkRedirect(store: Store, tenant: string, keyless: boolean, redirectUrl: string): Promise<void> {
  const url = new URL(redirectUrl);
  // `npm start` before any key exists: the only caller is on this machine, and so is its browser.
  if (keyless && isLoopbackHost(url.hostname)) return;
  const settings = await store.connectSettings.get(tenant);
  if (settings?.redirectOrigins.includes(url.origin)) return;
  throw new ApiError(
    422,
    'redirect_not_allowed',
    `redirectUrl: ${url.origin} is not among the tenant's redirect origins; add it with PUT /v1/connect-settings {"redirectOrigins": ["${url.origin}"]}`,
  );
}

export function connectRoutes(app: OpenAPIHono<{ Variables: CallerVariables }>, deps: ConnectRouteDeps): void {
  const { store } = deps;

  app.openapi(createConnectSession, async (c) => {
    const { tenant, keyId } = c.var.caller;
    const body = c.req.valid('json');
    const { connect } = deps;
    if (!connect) throw new ApiError(503, 'connect_unavailable', 'Connect sessions are not available on this API instance');
    await checkRedirect(store, tenant, keyId === null, body.redirectUrl);
    const endpoints = oauthEndpointsOf(body.provider, connect.providers);
    if (endpoints && !hasClient(endpoints)) {
      throw new ApiError(
        503,
        'provider_not_configured',
        `This service has no OAuth client at ${endpoints.provider.name}: its operator sets ${endpoints.provider.envPrefix}_CLIENT_ID and ${endpoints.provider.envPrefix}_CLIENT_SECRET`,
      );
    }
    const now = Date.now();
    await store.connectSessions.deleteExpired(new Date(now - CONNECT_DEFAULTS.keepExpiredMs).toISOString());
    const expiresAt = new Date(now + (connect.sessionTtlSeconds ?? CONNECT_DEFAULTS.sessionTtlSeconds) * 1000).toISOString();
    const session = await store.connectSessions.create({
      tenant,
      userId: body.userId,
      provider: body.provider,
      redirectUrl: body.redirectUrl,
      startImport: body.import,
      expiresAt,
    });
    return c.json({ connectUrl: `${connect.publicBaseUrl}/connect/${connectToken(connect.signer, session.sessionId)}`, expiresAt }, 201);
  });

  app.openapi(putConnectSettings, async (c) => {
    const { redirectOrigins } = c.req.valid('json');
    const origins = [...new Set(redirectOrigins.map((origin) => new URL(origin).origin))];
    return c.json(await store.connectSettings.put(c.var.caller.tenant, origins), 200);
  });

  app.openapi(getConnectSettings, async (c) => {
    const settings = await store.connectSettings.get(c.var.caller.tenant);
    return c.json(settings ?? { redirectOrigins: [], updatedAt: null }, 200);
  });

  app.openapi(listConnections, async (c) => {
    const items = await store.connections.listUser(c.var.caller.tenant, c.req.valid('param').userId);
    return c.json({ items: items.map(view) }, 200);
  });

  app.openapi(getConnection, async (c) => {
    const { connectionId } = c.req.valid('param');
    const connection = await store.connections.byId(c.var.caller.tenant, connectionId);
    if (!connection) throw notFound(connectionId);
    return c.json(view(connection), 200);
  });

  app.openapi(deleteConnection, async (c) => {
    const { tenant } = c.var.caller;
    const { connectionId } = c.req.valid('param');
    const connection = await store.connections.byId(tenant, connectionId);
    if (!connection) throw notFound(connectionId);
    // First, and on every repeat: a schedule must not start an import that would find no secret.
    const stoppedSchedules =
      isScheduleProviderId(connection.provider) && deps.schedules ? await deps.schedules.remove(tenant, connection.userId, connection.provider) : [];
    let revocation: Revocation | { outcome: 'already_revoked' } = { outcome: 'already_revoked' };
    if (connection.sealedSecret !== null) {
      if (!deps.sealer || !deps.connect) throw new ApiError(503, 'connect_unavailable', 'Connections cannot be revoked on this API instance');
      revocation = await revokeSecret(connection.provider, deps.sealer.open(connection.sealedSecret), deps.connect.providers);
    }
    const revoked = await store.connections.revoke(tenant, connectionId);
    if (!revoked) throw notFound(connectionId);
    return c.json(
      {
        ...view(revoked),
        revocation: revocation.outcome,
        ...(revocation.outcome === 'failed' ? { revocationError: revocation.reason } : {}),
        stoppedSchedules,
      },
      200,
    );
  });
}

/** A connection as the API shows it: the store holds connections of the registry's providers only. */
function view(connection: Connection): ConnectionView {
  const { connectionId, userId, provider, status, scopes, createdAt, updatedAt } = connection;
  return { connectionId, userId, provider: provider as ConnectionView['provider'], status, scopes, createdAt, updatedAt };
}
