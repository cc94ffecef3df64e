/** `PUT`, `GET` and `DELETE /v1/users/{userId}/sync`: a user's sync schedules (`./schedules.ts`). */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { CallerVariables } from '../auth';
import { ApiError } from '../errors';
import { json, security, v1Errors } from '../routes';
import { UserIdParam } from '../schemas';
import { PutSyncBody, SyncDeleted, SyncList, SyncQuery, SyncView } from './schemas';
import type { ScheduleRequest, SyncSchedules } from './schedules';
import { NOTIFY_CONFLICT, resolveNotify } from './webhooks';
import type { Store } from '../../db/types';
import { SCHEDULE_PROVIDER_IDS, isScheduleProviderId } from '../../providers';
import { resolveSource } from '../imports/credentials';

export const putSync = createRoute({
  method: 'put',
  path: '/v1/users/{userId}/sync',
  summary: "Keep a user's contacts in sync: import what changed every `every`, on a Temporal Schedule (created or replaced)",
  security,
  request: { params: UserIdParam, body: { required: true, content: { 'application/json': { schema: PutSyncBody } } } },
  responses: {
    201: json(SyncView, 'Schedule created'),
    200: json(SyncView, 'Schedule replaced'),
    ...v1Errors(400, 413, 422, 503),
    409: NOTIFY_CONFLICT,
  },
});

export const getSync = createRoute({
  method: 'get',
  path: '/v1/users/{userId}/sync',
  summary: "The user's sync schedules: interval, next run times, the last run's import",
  security,
  request: { params: UserIdParam, query: SyncQuery },
  responses: { 200: json(SyncList, 'The schedules (none: an empty list)'), ...v1Errors(422, 503) },
});

export const deleteSync = createRoute({
  method: 'delete',
  path: '/v1/users/{userId}/sync',
  summary: "Stop syncing a user (one provider with `?provider=`): removes the schedules; imports running go on",
  security,
  request: { params: UserIdParam, query: SyncQuery },
  responses: { 200: json(SyncDeleted, 'Removed (repeating it is harmless)'), ...v1Errors(413, 422, 503) },
});

/** Without schedules wired (an app built for the HTTP contract alone), the routes say so. */
const unavailable = () => new ApiError(503, 'schedules_unavailable', 'Sync schedules are not available on this API instance');

export function syncRoutes(app: OpenAPIHono<{ Variables: CallerVariables }>, deps: { store: Store; schedules?: SyncSchedules }): void {
  const { schedules } = deps;
  app.openapi(putSync, async (c) => {
    if (!schedules) throw unavailable();
    const { tenant } = c.var.caller;
    const body = c.req.valid('json');
    const { userId } = c.req.valid('param');
    const source = await resolveSource(deps.store.connections, tenant, userId, body.source);
    if (!isScheduleProviderId(source.provider)) {
      throw new ApiError(422, 'schedule_unavailable', `source: ${source.provider} imports are not scheduled; providers that are: ${SCHEDULE_PROVIDER_IDS.join(', ')}`);
    }
    // As for one import: the request's `notify`, else the tenant's default URL at the time of the PUT.
    const notify = await resolveNotify(deps.store, tenant, body.notify);
    // Its provider was checked just above.
    const scheduled = source as ScheduleRequest['source'];
    const { created, view } = await schedules.put(tenant, userId, { ...body, source: scheduled, ...(notify ? { notify } : {}) });
    return created ? c.json(view, 201) : c.json(view, 200);
  });
  app.openapi(getSync, async (c) => {
    if (!schedules) throw unavailable();
    const items = await schedules.list(c.var.caller.tenant, c.req.valid('param').userId, c.req.valid('query').provider);
    return c.json({ items }, 200);
  });
  app.openapi(deleteSync, async (c) => {
    if (!schedules) throw unavailable();
    const { userId } = c.req.valid('param');
    const deleted = await schedules.remove(c.var.caller.tenant, userId, c.req.valid('query').provider);
    return c.json({ userId, deleted }, 200);
  });
}
