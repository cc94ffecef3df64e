/**
 * The REST API: start an import and answer at once, report its progress, pause, resume or cancel
 * it, list the contacts it saved, erase a user. Every `/v1` route acts for the tenant of the
 * caller's API key. Built by a factory so tests drive it with `app.request()`.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { secureHeaders } from 'hono/secure-headers';
import {
  ACTION_BODY_LIMIT_BYTES,
  API_BODY_LIMIT_BYTES,
  DEFAULT_EVENT_STREAMS_PER_KEY,
  PEER_RATE_LIMIT_DEFAULTS,
  RATE_LIMIT_DEFAULTS,
} from '../config/defaults';
import { InvalidCursorError, type Store } from '../db/types';
import { requireKey, type Authenticator, type CallerVariables } from './auth';
import { ApiError, errorBody, onError } from './errors';
import { limitBody, notFoundOrNotAllowed, setAnswerHeader } from './http-hygiene';
import { keyVerified } from './peer-token';
import type { Erasure, Imports, TemporalPing } from './imports';
import { importNotFound } from './imports/status-reader';
import { checkSyncMode } from './imports/sync-mode';
import { resolveSource } from './imports/credentials';
import { importKey, importWorkflowId } from '../workflows/contract';
import { isProviderId, uploadOf } from '../providers';
import { resolveImportId } from '../workflows/import-id';
import { withPartialStatus } from './partial-status';
import { rateLimit, rateLimitPeers, TokenBuckets, type RateLimitOptions } from './rate-limit';
import { API_INFO, eraseUser, getImport, healthz, importAction, importEvents, listContacts, listImports, listRejects, livez, startImport } from './routes';
import { EVENTS_DEFAULTS, importEvents as streamImportEvents } from './events/stream';
import { StreamSlots } from './events/stream-slots';
import { ImportWatchers } from './events/watchers';
import { createHealthCheck } from './health';
import { requestOrigin } from './loopback';
import { uploadRoutes, UPLOADS_PATH } from './uploads';
import { CREDENTIALS_PATH_SUFFIX, reauthRoutes } from './reauth';
import { resolveNotify, webhookRoutes } from './hooks/webhooks';
import { syncRoutes } from './hooks/sync-routes';
import { connectFlow, type ConnectOptions } from './connect/flow';
import { connectRoutes } from './connect/routes';
import type { SyncSchedules } from './hooks/schedules';
import type { TokenSealer } from '../encryption/token-seal';
import type { Logger } from '../observability/logger';
import type { HttpMetrics } from './metrics';
import { requestLog } from './request-log';

/** What the HTTP layer stands on; all interfaces, so contract tests can hand it fakes. */
export interface AppDeps {
  imports: Imports;
  erasure: Erasure;
  store: Store;
  /** Who a request comes from (API keys); tenants come only from here. */
  auth: Authenticator;
  /** Used by /healthz only. */
  temporal: TemporalPing;
  /** Requests per second and burst, per API key. */
  rateLimit?: Pick<RateLimitOptions, 'perSecond' | 'burst'>;
  /** Requests per second and burst, per peer address, of requests without a valid key. */
  peerRateLimit?: Pick<RateLimitOptions, 'perSecond' | 'burst'>;
  /** How long one check of Temporal and the database answers `/healthz` (`HEALTH_DEFAULTS.cacheMs`). */
  healthCacheMs?: number;
  /** The largest file `POST /v1/uploads` takes (`UPLOAD_MAX_BYTES`; default 50 MiB). */
  uploadMaxBytes?: number;
  /** Bytes of uploads one tenant may keep (`UPLOAD_QUOTA_BYTES`; default 1 GiB). */
  uploadQuotaBytes?: number;
  /** Seals the tenants' webhook secrets (`PUT /v1/webhook`); without it that route answers 503. */
  sealer?: TokenSealer;
  /** Sync schedules (`/v1/users/{userId}/sync`); without them those routes answer 503. */
  schedules?: SyncSchedules;
  /**
   * Live events (`/v1/imports/{importId}/events`): the process's watchers (pass them to close them
   * at shutdown; one is made otherwise), the streams one key may hold open (`EVENT_STREAMS_PER_KEY`)
   * and the stream timings (`api/events/stream.ts` defaults).
   */
  events?: { watchers?: ImportWatchers; perKey?: number; keyCheckMs?: number; keepaliveMs?: number; maxStreamMs?: number };
  /** Request series, and `GET /metrics` for operator keys (api/metrics.ts). */
  metrics?: HttpMetrics;
  /** One line per request, with its `X-Request-Id` (api/request-log.ts). */
  log?: Logger;
  /** Connect sessions (api/connect/); without them, `POST /v1/connect-sessions` answers 503 and no flow is served. */
  connect?: ConnectOptions;
}

export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<{ Variables: CallerVariables }>({
    // Every validation failure answers the same way: 422 with what to fix, never a stack.
    defaultHook: (result, c) => {
      if (!result.success) {
        const message = result.error.issues
          .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
          .join('; ');
        return c.json(errorBody('validation_failed', message), 422);
      }
      return undefined;
    },
  });
  app.onError(onError);
  // First, so they see every answer: refusals, 404s and errors included.
  app.use('*', requestLog(deps.log));
  if (deps.metrics) app.use('*', deps.metrics.middleware);
  // Before anything that reads the store: a peer over its limit costs nothing more, not even a key
  // lookup. Every request counts here until its key verifies (api/peer-token.ts).
  app.use('*', rateLimitPeers(new TokenBuckets(deps.peerRateLimit ?? PEER_RATE_LIMIT_DEFAULTS)));
  app.use('*', secureHeaders());
  app.use('/v1/*', async (c, next) => {
    await next();
    // Answers name people and their contacts (and refusals say who may call): no cache keeps them.
    setAnswerHeader(c, 'Cache-Control', 'no-store');
  });
  // Who is asking comes first: nothing of a request is read for a caller without a key.
  app.use('/v1/*', requireKey(deps.auth));
  app.use('/v1/*', rateLimit(new TokenBuckets(deps.rateLimit ?? RATE_LIMIT_DEFAULTS)));
  const apiBodyLimit = limitBody(API_BODY_LIMIT_BYTES);
  // Uploads stream their body under a limit of their own (api/uploads.ts), far above this one.
  app.use('/v1/*', (c, next) => (c.req.path === UPLOADS_PATH ? next() : apiBodyLimit(c, next)));
  // Pause, resume and cancel take no body at all.
  // New credentials (a few KiB of tokens) stay under the general limit instead.
  const actionBodyLimit = limitBody(ACTION_BODY_LIMIT_BYTES);
  app.use('/v1/imports/:importId/*', (c, next) => (c.req.path.endsWith(CREDENTIALS_PATH_SUFFIX) ? next() : actionBodyLimit(c, next)));
  app.notFound(notFoundOrNotAllowed(() => app.routes));
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key from `npm run api-key -- create --tenant TENANT --name NAME`',
  });

  app.openapi(startImport, async (c) => {
    const { tenant } = c.var.caller;
    const body = c.req.valid('json');
    const request = { ...body, source: await resolveSource(deps.store.connections, tenant, body.userId, body.source) };
    const { source } = request;
    const uploadId = uploadOf(source);
    if (uploadId !== undefined) {
      // Checked here, not only by the worker: an import of a file that is not this user's would
      // otherwise be accepted and fail later. Another tenant's upload is as unknown as none. The
      // check also records that this import reads the upload, before it starts, so the upload does
      // not expire under it (db/upload-expiry.ts).
      const workflowId = importWorkflowId({ tenant, userId: body.userId }, source.provider);
      if (!(await deps.store.uploads.reference(tenant, uploadId, { userId: body.userId, workflowId }))) {
        throw new ApiError(
          422,
          'unknown_upload',
          `source.uploadId: no upload ${uploadId} for user ${body.userId} (uploads no import reads are deleted after UPLOAD_RETENTION); ` +
            `upload the file with POST /v1/uploads?userId=${body.userId} first`,
        );
      }
    }
    await checkSyncMode(deps.store, tenant, request);
    // Events go to the request's `notify`, else the tenant's default URL (api/hooks/webhooks.ts).
    const notify = await resolveNotify(deps.store, tenant, body.notify);
    const { created, view } = await deps.imports.start(tenant, { ...request, ...(notify ? { notify } : {}) });
    c.header('Location', `/v1/imports/${view.importId}`);
    return created ? c.json(view, 202) : c.json(view, 200);
  });

  app.openapi(listImports, async (c) => c.json(await deps.imports.list(c.var.caller.tenant, c.req.valid('query')), 200));

  app.openapi(getImport, async (c) => {
    const { tenant } = c.var.caller;
    const { importId } = c.req.valid('param');
    try {
      return c.json(await deps.imports.get(tenant, importId), 200);
    } catch (err) {
      // Another tenant's import id gets no count: it is as unknown to this caller as a made-up one.
      throw await withPartialStatus(err, importId, (ref) =>
        ref.tenant === tenant ? deps.store.tenant(tenant).countContacts(ref.userId, ref.provider) : Promise.resolve(undefined),
      );
    }
  });

  const streamEvents = streamImportEvents({
    imports: deps.imports,
    watchers: deps.events?.watchers ?? new ImportWatchers((tenant, importId) => deps.imports.get(tenant, importId)),
    slots: new StreamSlots({
      perKey: deps.events?.perKey ?? DEFAULT_EVENT_STREAMS_PER_KEY,
      checkMs: deps.events?.keyCheckMs ?? EVENTS_DEFAULTS.keyCheckMs,
    }),
    // The same key, still active (and a keyless caller still keyless): else the stream ends.
    stillAllowed: async (c) => {
      const now = await deps.auth.authenticate(c.req.header('authorization'), 'tenant', requestOrigin(c));
      return now.ok && now.caller.keyId === c.var.caller.keyId && now.caller.tenant === c.var.caller.tenant;
    },
    keepaliveMs: deps.events?.keepaliveMs,
    maxStreamMs: deps.events?.maxStreamMs,
  });
  app.openapi(importEvents, (c) => streamEvents(c, c.req.valid('param').importId));

  app.openapi(importAction('cancel', 'Cancel an import; contacts saved so far stay'), async (c) =>
    c.json(await deps.imports.cancel(c.var.caller.tenant, c.req.valid('param').importId), 202),
  );
  app.openapi(importAction('pause', 'Pause an import at its next page'), async (c) =>
    c.json(await deps.imports.pause(c.var.caller.tenant, c.req.valid('param').importId), 202),
  );
  app.openapi(importAction('resume', 'Resume a paused import'), async (c) =>
    c.json(await deps.imports.resume(c.var.caller.tenant, c.req.valid('param').importId), 202),
  );

  app.openapi(listRejects, async (c) => {
    const { tenant } = c.var.caller;
    const { importId } = c.req.valid('param');
    const { limit, cursor } = c.req.valid('query');
    // Answered from the store alone: the import id names the chain, Temporal need not be up.
    const ref = resolveImportId(tenant, importId, isProviderId);
    if (!ref) throw importNotFound(importId);
    try {
      const page = await deps.store.tenant(tenant).listRejects(importKey(ref.workflowId, ref.firstRunId), { limit, cursor });
      return c.json(page, 200);
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API issued');
      throw err;
    }
  });

  app.openapi(listContacts, async (c) => {
    const { userId } = c.req.valid('param');
    const { limit, cursor, changedSince } = c.req.valid('query');
    try {
      if (changedSince !== undefined) {
        // The change feed (db/changes.ts): upserts and deletions in commit order, from the cursor on.
        const changes = await deps.store.tenant(c.var.caller.tenant).listChanges(userId, { limit, since: changedSince });
        const items = changes.items.map((item) => (item.change === 'upsert' ? (({ raw: _raw, ...rest }) => rest)(item) : item));
        return c.json({ items, cursor: changes.cursor, hasMore: changes.hasMore }, 200);
      }
      const page = await deps.store.tenant(c.var.caller.tenant).listContacts(userId, { limit, cursor });
      const items = page.items.map(({ raw: _raw, ...contact }) => contact);
      return c.json({ items, nextCursor: page.nextCursor }, 200);
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new ApiError(400, 'invalid_cursor', `${changedSince === undefined ? 'cursor' : 'changedSince'} is not one this API issued`);
      throw err;
    }
  });

  app.openapi(eraseUser, async (c) =>
    c.json(await deps.erasure.erase(c.var.caller.tenant, c.req.valid('param').userId), 202),
  );

  uploadRoutes(app, { store: deps.store, maxBytes: deps.uploadMaxBytes, quotaBytes: deps.uploadQuotaBytes });
  reauthRoutes(app, { imports: deps.imports });
  webhookRoutes(app, { store: deps.store, sealer: deps.sealer });
  syncRoutes(app, { store: deps.store, schedules: deps.schedules });
  connectRoutes(app, { store: deps.store, sealer: deps.sealer, schedules: deps.schedules, connect: deps.connect });
  // The browser's part of connect sessions: outside /v1, with no key (the session's URL is its credential).
  if (deps.connect && deps.sealer) {
    app.route('/', connectFlow({ store: deps.store, imports: deps.imports, sealer: deps.sealer, connect: deps.connect, log: deps.log }));
  }

  app.openapi(livez, (c) => c.json({ status: 'ok' as const }, 200));
  // Operator keys, like the codec server (keyless on loopback until any key exists); not a /v1 route.
  if (deps.metrics) app.get('/metrics', requireKey(deps.auth, 'operator'), deps.metrics.scrape);

  const health = createHealthCheck({ temporal: deps.temporal, store: deps.store, cacheMs: deps.healthCacheMs });
  app.openapi(healthz, async (c) => {
    const report = await health();
    const code = report.status === 'ok' ? 200 : 503;
    // Which part is down helps an attacker as much as an operator: only callers with a key learn it.
    // Checking a key needs the database: when that is what is down, the caller just gets no details.
    const caller = await deps.auth.authenticate(c.req.header('authorization'), 'tenant', requestOrigin(c)).catch(() => undefined);
    if (caller?.ok && caller.caller.keyId !== null) keyVerified(c);
    return caller?.ok ? c.json(report, code) : c.json({ status: report.status }, code);
  });

  // Every route is registered by now, so the document is made once here, not on every request.
  const openApiDocument = JSON.stringify(app.getOpenAPIDocument({ openapi: '3.0.0', info: API_INFO }));
  app.get('/openapi.json', (c) => c.body(openApiDocument, 200, { 'content-type': 'application/json' }));
  return app;
}
