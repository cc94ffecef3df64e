/**
 * `POST /v1/imports/{importId}/credentials`: new credentials for an import in `needs_reauth` (its
 * provider rejected the old ones for good). The import resumes from its checkpoint; the
 * credentials reach it sealed, through the workflow's `credentials` update, never in clear.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { CallerVariables } from './auth';
import type { Imports } from './imports';
import { json, security, v1Errors } from './routes';
import { SOURCE_REQUESTS } from '../providers';
import { ImportIdParam, ImportView } from './schemas';

/** The path suffix the 1 KiB limit of pause/resume/cancel skips: credentials are a few KiB. */
export const CREDENTIALS_PATH_SUFFIX = '/credentials';

export const RenewCredentialsBody = z
  .object({
    // Only providers with credentials to renew (a file import has none).
    source: SOURCE_REQUESTS.reauth,
  })
  .strict()
  .openapi('RenewCredentials');

export const renewCredentials = createRoute({
  method: 'post',
  path: `/v1/imports/{importId}${CREDENTIALS_PATH_SUFFIX}`,
  summary: 'Give an import waiting in needs_reauth new credentials; it resumes where it stopped',
  description:
    'The `source` is what `POST /v1/imports` takes for the same provider (for Google People: `accessToken`, ' +
    '`refreshToken` or both). Answers 409 `import_not_waiting` unless the import is in `needs_reauth`, and 422 ' +
    '`provider_mismatch` for another provider\'s source. A refresh token replaces the one kept for the user.',
  security,
  request: { params: ImportIdParam, body: { required: true, content: { 'application/json': { schema: RenewCredentialsBody } } } },
  responses: {
    202: json(ImportView, 'Accepted: the import is running again'),
    ...v1Errors(400, 404, 409, 413, 422, 503),
  },
});

/** Registers the route on `app`. */
export function reauthRoutes(app: OpenAPIHono<{ Variables: CallerVariables }>, deps: { imports: Imports }): void {
  app.openapi(renewCredentials, async (c) => {
    const { importId } = c.req.valid('param');
    const { source } = c.req.valid('json');
    return c.json(await deps.imports.renewCredentials(c.var.caller.tenant, importId, source), 202);
  });
}
