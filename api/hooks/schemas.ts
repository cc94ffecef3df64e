/** The HTTP contract of webhooks and sync schedules, as zod schemas (see `../schemas.ts` for the rest). */
import { z } from '@hono/zod-openapi';
import { SCHEDULE_PROVIDER_IDS, SOURCE_REQUESTS } from '../../providers';
import { NotifyBody } from '../schemas';

/** `PUT /v1/webhook`. */
export const PutWebhookBody = z
  .object({
    url: z
      .url({ protocol: /^https?$/, message: 'url must be an http:// or https:// URL' })
      .max(2048)
      .nullable()
      .openapi({ description: 'Where events of imports started without `notify` go; `null`: only those that name a URL', example: 'https://app.example.com/hooks/contacts' }),
    rotateSecret: z.boolean().default(false).describe('Replace the signing secret (the new one is in this answer only)'),
  })
  .strict()
  .openapi('PutWebhook');

export const WebhookView = z
  .object({
    url: z.string().nullable(),
    secret: z
      .string()
      .optional()
      .describe('The signing secret (`whsec_…`): only in the answer that created or rotated it. Keep it; it is not shown again'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Webhook');
export type WebhookView = z.infer<typeof WebhookView>;

/** `every`: a whole number of seconds, minutes, hours or days. */
export const Every = z
  .string()
  // At most 4 digits: 9999d is 27 years, well inside what a Temporal interval can hold.
  .regex(/^[1-9]\d{0,3}(s|m|h|d)$/, { message: 'every must be a whole number (at most 4 digits) and a unit, s, m, h or d (e.g. "6h")' })
  .openapi({ example: '6h' });

/** The providers sync schedules are for. */
const SyncProvider = z.enum(SCHEDULE_PROVIDER_IDS);

/** `PUT /v1/users/{userId}/sync`. */
export const PutSyncBody = z
  .object({
    every: Every,
    source: SOURCE_REQUESTS.schedule,
    notify: NotifyBody.optional(),
  })
  .strict()
  .openapi('PutSync');
export type PutSyncBody = z.infer<typeof PutSyncBody>;

export const SyncView = z
  .object({
    userId: z.string(),
    provider: SyncProvider,
    scheduleId: z.string().describe('The Temporal Schedule, for operators (`temporal schedule describe --schedule-id …`)'),
    every: z.string(),
    jitterSeconds: z.number().int().nonnegative().describe('Each run starts up to this much later than its time'),
    paused: z.boolean().describe('Paused by an operator: no runs until unpaused'),
    nextRunTimes: z.array(z.string()).describe('The next few times a run is due, jitter included'),
    lastRunAt: z.string().nullable(),
    lastImportId: z.string().nullable().describe('The import the last run started (`null` when it joined a running one, or none ran yet)'),
  })
  .openapi('Sync');
export type SyncView = z.infer<typeof SyncView>;

export const SyncList = z.object({ items: z.array(SyncView) }).openapi('SyncList');

export const SyncQuery = z
  .object({
    provider: SyncProvider.optional().openapi({
      param: { name: 'provider', in: 'query' },
      description: 'Only this provider\'s schedule (all of the user\'s when absent)',
    }),
  })
  .strict();

export const SyncDeleted = z
  .object({ userId: z.string(), deleted: z.array(SyncProvider).describe('The schedules removed (none: there were none)') })
  .openapi('SyncDeleted');
