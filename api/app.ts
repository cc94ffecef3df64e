/**
 * The REST API: start an import and answer at once, report its progress, pause, resume or cancel
 * it, and list the contacts it saved. Built by a factory so tests drive it with `app.request()`.
 */
import { OpenAPIHono, createRoute, type z } from '@hono/zod-openapi';
import { secureHeaders } from 'hono/secure-headers';
import { ACTION_BODY_LIMIT_BYTES, API_BODY_LIMIT_BYTES } from '../config/defaults';
import type { ContactStore } from '../db/types';
import { InvalidCursorError } from '../db/types';
import { ApiError, errorBody, onError } from './errors';
import { limitBody, notFoundOrNotAllowed } from './http-hygiene';
import type { Imports, TemporalPing } from './imports';
import {
  ContactPage,
  ContactsQuery,
  ErrorBody,
  Health,
  ImportIdParam,
  ImportView,
  StartImportBody,
  UserIdParam,
} from './schemas';

/** What the HTTP layer stands on; all interfaces, so contract tests can hand it fakes. */
export interface AppDeps {
  imports: Imports;
  store: ContactStore;
  /** Used by /healthz only. */
  temporal: TemporalPing;
}

const errors = (...codes: Array<400 | 404 | 409 | 422 | 503>) =>
  Object.fromEntries(
    codes.map((code) => [code, { description: 'Error', content: { 'application/json': { schema: ErrorBody } } }]),
  );
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const startImport = createRoute({
  method: 'post',
  path: '/v1/imports',
  summary: "Start importing a user's contacts, or get the import already running",
  request: { body: { required: true, content: { 'application/json': { schema: StartImportBody } } } },
  responses: {
    202: json(ImportView, 'Import started'),
    200: json(ImportView, 'An import for this user and provider is already running: this is it'),
    ...errors(400, 422, 503),
  },
});

const getImport = createRoute({
  method: 'get',
  path: '/v1/imports/{importId}',
  summary: 'How far along an import is',
  request: { params: ImportIdParam },
  responses: { 200: json(ImportView, 'The import'), ...errors(404, 503) },
});

const importAction = (action: 'cancel' | 'pause' | 'resume', summary: string) =>
  createRoute({
    method: 'post',
    path: `/v1/imports/{importId}/${action}`,
    summary,
    request: { params: ImportIdParam },
    responses: { 202: json(ImportView, 'Requested; the import acts on it between batches'), ...errors(404, 409, 503) },
  });

const listContacts = createRoute({
  method: 'get',
  path: '/v1/users/{userId}/contacts',
  summary: "A user's imported contacts, a page at a time",
  request: { params: UserIdParam, query: ContactsQuery },
  responses: { 200: json(ContactPage, 'A page of contacts'), ...errors(400, 422) },
});

const livez = createRoute({
  method: 'get',
  path: '/livez',
  summary: 'Whether this API process is up (checks nothing else: for liveness probes)',
  responses: { 200: json(Health.pick({ status: true }), 'Up') },
});

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Whether Temporal and the database answer',
  responses: { 200: json(Health, 'Both answer'), 503: json(Health, 'One of them does not') },
});

export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono({
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
  app.use('*', secureHeaders());
  app.use('/v1/*', limitBody(API_BODY_LIMIT_BYTES));
  // Pause, resume and cancel take no body at all.
  app.use('/v1/imports/:importId/*', limitBody(ACTION_BODY_LIMIT_BYTES));
  app.use('/v1/*', async (c, next) => {
    await next();
    // Answers name people and their contacts: no shared cache may keep them.
    c.header('Cache-Control', 'no-store');
  });
  app.notFound(notFoundOrNotAllowed(() => app.routes));

  app.openapi(startImport, async (c) => {
    const { created, view } = await deps.imports.start(c.req.valid('json'));
    c.header('Location', `/v1/imports/${view.importId}`);
    return created ? c.json(view, 202) : c.json(view, 200);
  });

  app.openapi(getImport, async (c) => c.json(await deps.imports.get(c.req.valid('param').importId), 200));

  app.openapi(importAction('cancel', 'Cancel an import; contacts saved so far stay'), async (c) =>
    c.json(await deps.imports.cancel(c.req.valid('param').importId), 202),
  );
  app.openapi(importAction('pause', 'Pause an import between batches'), async (c) =>
    c.json(await deps.imports.pause(c.req.valid('param').importId), 202),
  );
  app.openapi(importAction('resume', 'Resume a paused import'), async (c) =>
    c.json(await deps.imports.resume(c.req.valid('param').importId), 202),
  );

  app.openapi(listContacts, async (c) => {
    const { userId } = c.req.valid('param');
    const { limit, cursor } = c.req.valid('query');
    try {
      const page = await deps.store.listContacts(userId, { limit, cursor });
      const items = page.items.map(({ raw: _raw, ...contact }) => contact);
      return c.json({ items, nextCursor: page.nextCursor }, 200);
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API issued');
      throw err;
    }
  });

  app.openapi(livez, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(healthz, async (c) => {
    const deadline = Date.now() + 2_000;
    const [temporal, database] = await Promise.all([
      deps.temporal.ping(deadline).then(() => 'ok', () => 'unavailable'),
      deps.store.ping().then(() => 'ok', () => 'unavailable'),
    ]);
    const ok = temporal === 'ok' && database === 'ok';
    return c.json({ status: ok ? ('ok' as const) : ('unavailable' as const), temporal, database }, ok ? 200 : 503);
  });

  app.doc('/openapi.json', { openapi: '3.0.0', info: { title: 'Contacts import', version: '1.0.0' } });
  return app;
}
