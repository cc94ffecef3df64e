/**
 * `PUT /v1/webhook` and `GET /v1/webhook`: a tenant's default webhook URL and its signing secret.
 * The secret is made here, shown once, and stored sealed; {@link resolveNotify} decides where an
 * import's events go.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { newWebhookSecret } from '../../encryption/webhook-signature';
import type { TokenSealer } from '../../encryption/token-seal';
import type { Store } from '../../db/types';
import type { WebhookSettings } from '../../db/webhooks';
import type { CallerVariables } from '../auth';
import { ApiError } from '../errors';
import { json, security, v1Errors } from '../routes';
import { ErrorBody, type StartImportBody } from '../schemas';
import { PutWebhookBody, WebhookView } from './schemas';

export const putWebhook = createRoute({
  method: 'put',
  path: '/v1/webhook',
  summary: "Set the tenant's default webhook URL; the first call (or `rotateSecret`) answers the signing secret, once",
  security,
  request: { body: { required: true, content: { 'application/json': { schema: PutWebhookBody } } } },
  responses: {
    201: json(WebhookView, 'Created, with the secret'),
    200: json(WebhookView, 'Updated (with the new secret when `rotateSecret`)'),
    ...v1Errors(400, 413, 422),
  },
});

export const getWebhook = createRoute({
  method: 'get',
  path: '/v1/webhook',
  summary: "The tenant's webhook settings (never the secret)",
  security,
  responses: { 200: json(WebhookView, 'The settings'), ...v1Errors(), 404: json(ErrorBody, 'No `PUT /v1/webhook` yet') },
});

const view = (settings: WebhookSettings, secret?: string): WebhookView => ({
  url: settings.url,
  ...(secret ? { secret } : {}),
  createdAt: settings.createdAt,
  updatedAt: settings.updatedAt,
});

/** The 409 of a route that takes `notify`. */
export const NOTIFY_CONFLICT = json(
  ErrorBody,
  '`notify` given, and the tenant has no webhook secret to sign events with yet (`webhook_not_configured`): `PUT /v1/webhook` first',
);

/**
 * Where an import's events go: the request's `notify`, else the tenant's default URL, else
 * nowhere. A `notify` needs a secret to sign with: 409 before the tenant has one.
 */
export async function resolveNotify(
  store: Store,
  tenant: string,
  requested: StartImportBody['notify'],
): Promise<StartImportBody['notify']> {
  const settings = await store.webhooks.get(tenant);
  if (requested) {
    if (!settings) {
      // 409, not 422: the request is valid; the tenant's state is what is missing.
      throw new ApiError(409, 'webhook_not_configured', 'notify.url: events are signed with the tenant\'s webhook secret, and there is none yet: PUT /v1/webhook first');
    }
    return requested;
  }
  return settings?.url ? { url: settings.url } : undefined;
}

export function webhookRoutes(app: OpenAPIHono<{ Variables: CallerVariables }>, deps: { store: Store; sealer?: TokenSealer }): void {
  app.openapi(putWebhook, async (c) => {
    const { tenant } = c.var.caller;
    const { url, rotateSecret } = c.req.valid('json');
    const { sealer } = deps;
    if (!sealer) throw new ApiError(503, 'webhooks_unavailable', 'Webhook settings are not available on this API instance');
    const existing = await deps.store.webhooks.get(tenant);
    const secret = !existing || rotateSecret ? newWebhookSecret() : undefined;
    const stored = await deps.store.webhooks.put(tenant, { url, ...(secret ? { sealedSecret: sealer.seal(secret) } : {}) });
    return existing ? c.json(view(stored, secret), 200) : c.json(view(stored, secret), 201);
  });

  app.openapi(getWebhook, async (c) => {
    const settings = await deps.store.webhooks.get(c.var.caller.tenant);
    if (!settings) throw new ApiError(404, 'webhook_not_configured', 'No webhook settings yet: PUT /v1/webhook creates them');
    return c.json(view(settings), 200);
  });
}
