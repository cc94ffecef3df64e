/**
 * The contract of webhooks and sync schedules: what crosses the boundary of `DeliverWebhook` and
 * `ScheduledSync`, and the IDs they run under. Kept apart from `./contract.ts` (which it builds on)
 * so that file stays readable; the same rules hold: zod schemas, types derived from them, parsed where
 * read. Counts, ids and times only: no contact data, no secrets in clear.
 *
 * Sandbox-safe: zod and `./contract` only.
 */
import { z } from 'zod';
import { ImportInput, ImportState, Provider, TenantId } from './contract';

/** The events a web app can be told about, as they appear in the body's `type`. */
export const WebhookEventType = z.enum(['import.completed', 'import.failed', 'import.needs_reauth', 'import.cancelled']);
export type WebhookEventType = z.infer<typeof WebhookEventType>;
export const WEBHOOK_EVENT_TYPES = WebhookEventType.options;

/** An import's `notify`: where its events go and how soon a refused delivery is first retried. */
export type NotifyTarget = NonNullable<ImportInput['notify']>;

const count = z.number().int().nonnegative();

/**
 * One event as the import workflow saw it. `eventId` is deterministic (the run id and the history
 * length at the event), so a replayed or retried workflow task names the same event, and a
 * receiver that saw it already can drop it.
 */
export const WebhookEvent = z.object({
  eventId: z.string().min(1),
  type: WebhookEventType,
  /** Workflow time of the event (ISO 8601). */
  occurredAt: z.string().min(1),
  tenant: TenantId,
  userId: z.string().min(1),
  provider: Provider,
  /** The import's workflow ID and first run: together they name the import (its `importId`). */
  workflowId: z.string().min(1),
  firstRunId: z.string().min(1),
  state: ImportState,
  fetched: count,
  saved: count,
  rejected: count,
  pages: count,
  total: count.nullable(),
  /** The failure type, never its message: messages may quote what a provider said. */
  errorType: z.string().optional(),
});
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/**
 * A connection's event: its provider refused the user's kept secret for good, and it waits for the
 * user to reconnect (a new connect session for the same user and provider). `eventId` names the
 * connection and the secret refused, so it is told once per refusal.
 */
export const ConnectionEvent = z.object({
  eventId: z.string().min(1),
  type: z.literal('connection.needs_reauth'),
  occurredAt: z.string().min(1),
  tenant: TenantId,
  userId: z.string().min(1),
  provider: Provider,
  connectionId: z.string().min(1),
});
export type ConnectionEvent = z.infer<typeof ConnectionEvent>;

/** `DeliverWebhook`'s argument. */
export const DeliverWebhookInput = z.object({
  url: z.string().url().max(2048),
  retryInitialIntervalMs: z.number().int().min(1),
  event: z.union([WebhookEvent, ConnectionEvent]),
});
export type DeliverWebhookInput = z.infer<typeof DeliverWebhookInput>;

/** `deliverWebhook`'s (and `DeliverWebhook`'s) result: what the receiver answered. */
export const WebhookDelivery = z.object({
  eventId: z.string().min(1),
  /** The receiver's 2xx. */
  status: z.number().int(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/**
 * One `DeliverWebhook` per event, under an ID derived from the event: starting it twice (a workflow
 * reset, a replayed start) is refused by Temporal rather than delivered twice.
 */
export function deliverWebhookWorkflowId(event: Pick<WebhookEvent, 'workflowId' | 'eventId'>): string {
  return `webhook/${event.workflowId}/${event.eventId}`;
}

/** The same for a connection's event: one delivery per connection and refused secret. */
export function connectionEventWorkflowId(event: Pick<ConnectionEvent, 'tenant' | 'connectionId' | 'eventId'>): string {
  return `webhook/connection/${event.tenant}/${event.connectionId}/${event.eventId}`;
}

/** Whose connection to look at when an import's credentials were refused: `connectionNeedingReauth`'s argument. */
export const ConnectionOwner = z.object({ tenant: TenantId, userId: z.string().min(1), provider: Provider });
export type ConnectionOwner = z.infer<typeof ConnectionOwner>;

/**
 * What a sync schedule starts each time (`ScheduledSync`'s argument): an import's input without the
 * time it starts and the state only continue-as-new carries. Credentials are sealed, like an import's.
 */
export const ScheduledSyncInput = ImportInput.omit({ startedAt: true, carried: true });
export type ScheduledSyncInput = z.infer<typeof ScheduledSyncInput>;

export const ScheduledSyncResult = z.object({
  /** The import's workflow ID (`import-contacts/{tenant}/{provider}/{userId}`). */
  workflowId: z.string().min(1),
  /** `false` when an import for this user and provider was already running: this run joined it. */
  started: z.boolean(),
  /** The import's first run, when this run started it. */
  firstRunId: z.string().min(1).nullable(),
});
export type ScheduledSyncResult = z.infer<typeof ScheduledSyncResult>;

/** The one sync schedule per (tenant, provider, user); `temporal schedule describe --schedule-id` takes it. */
export function syncScheduleId({ tenant, userId }: { tenant: string; userId: string }, provider: Provider): string {
  return `sync/${tenant}/${provider}/${userId}`;
}

/** What a sync schedule's runs are called (Temporal appends the time of each run). */
export function scheduledSyncWorkflowId({ tenant, userId }: { tenant: string; userId: string }, provider: Provider): string {
  return `scheduled-sync/${tenant}/${provider}/${userId}`;
}
