/** The HTTP contract of connect sessions, connect settings and connections, as zod schemas. */
import { z } from '@hono/zod-openapi';
import { CONNECT_DEFAULTS } from '../../config/defaults';
import { CONNECTION_ID_PATTERN, CONNECTION_STATUSES } from '../../db/connections';
import { CONNECT_PROVIDER_IDS, PROVIDER_IDS } from '../../providers';
import { UserId } from '../schemas';

/** An absolute http(s) URL with no user name or password in it. */
const WebUrl = z
  .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
  .max(2048)
  // Zod runs this even after the URL check failed: it must not throw on what is not a URL.
  .refine((url) => !URL.canParse(url) || (!new URL(url).username && !new URL(url).password), { message: 'must not carry a user name or password' });

/** `POST /v1/connect-sessions`. */
export const CreateConnectSessionBody = z
  .object({
    userId: UserId,
    provider: z.enum(CONNECT_PROVIDER_IDS).openapi({ description: 'Whose account the user connects' }),
    redirectUrl: WebUrl.openapi({
      description:
        'Where the browser goes at the end, with `status` (`connected`, `denied`, `error`) and `connection`, `import` or `code` ' +
        'added to its query. Must be on one of the tenant\'s `redirectOrigins` (`PUT /v1/connect-settings`)',
      example: 'https://app.example.com/contacts/connected',
    }),
    import: z.boolean().default(false).describe('Start importing the user\'s contacts as soon as the connection exists'),
  })
  .strict()
  .openapi('CreateConnectSession');
export type CreateConnectSessionBody = z.infer<typeof CreateConnectSessionBody>;

export const ConnectSessionView = z
  .object({
    connectUrl: z.string().describe("Send the user's browser here. Single use, short lived; it holds no API key"),
    expiresAt: z.string().describe('After this the URL (and the flow it starts) ends with `status=error&code=session_expired`'),
  })
  .openapi('ConnectSession');

/** An origin: scheme, host and port, no path. */
const Origin = z
  .string()
  .max(2048)
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol) && new URL(value).origin === value.replace(/\/$/, ''), {
    message: 'each origin is a scheme, a host and an optional port, without a path (https://app.example.com)',
  });

/** `PUT /v1/connect-settings`. */
export const PutConnectSettingsBody = z
  .object({
    redirectOrigins: z
      .array(Origin)
      .max(CONNECT_DEFAULTS.maxRedirectOrigins)
      .openapi({ description: "Origins a connect session's `redirectUrl` may be on", example: ['https://app.example.com'] }),
  })
  .strict()
  .openapi('PutConnectSettings');

export const ConnectSettingsView = z
  .object({
    redirectOrigins: z.array(z.string()),
    updatedAt: z.string().nullable().describe('`null` before the first PUT'),
  })
  .openapi('ConnectSettings');

export const ConnectionView = z
  .object({
    connectionId: z.string().openapi({ example: 'con_3pXy0s1dQ2m9WfHk0VbLcA' }),
    userId: z.string(),
    provider: z.enum(PROVIDER_IDS),
    status: z
      .enum(CONNECTION_STATUSES)
      .describe('`needs_reauth`: the provider refused it; a connect session for the same user and provider repairs it. `revoked`: disconnected'),
    scopes: z.array(z.string()).describe('What the user granted, as the provider said it (empty when it did not)'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Connection');
export type ConnectionView = z.infer<typeof ConnectionView>;

export const ConnectionList = z.object({ items: z.array(ConnectionView) }).openapi('ConnectionList');

export const DisconnectedView = ConnectionView.extend({
  revocation: z
    .enum(['revoked', 'not_offered', 'failed', 'already_revoked'])
    .describe('What the provider said: `not_offered` where it has no revocation (Microsoft, CardDAV); `failed`: it did not answer (the secret is deleted anyway)'),
  revocationError: z.string().optional().describe('`failed`: why'),
  stoppedSchedules: z.array(z.string()).describe("The user's sync schedules stopped with it (of its provider)"),
}).openapi('Disconnected');
export type DisconnectedView = z.infer<typeof DisconnectedView>;

export const ConnectionIdParam = z.object({
  connectionId: z
    .string()
    .regex(CONNECTION_ID_PATTERN, { message: 'connectionId must be a connection id this API returned (con_…)' })
    .openapi({ param: { name: 'connectionId', in: 'path' } }),
});
