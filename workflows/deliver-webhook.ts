/**
 * `DeliverWebhook`: posts one import event to the web app's URL, retrying for up to 24 hours, so a
 * receiver that is down for a while still gets every event. A workflow of its own (started by
 * `./notify.ts`, abandoned by its parent), so a finished import closes at once and frees its
 * workflow ID for the next import while its events are still being delivered.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ImportActivities } from '../activities';
import { readInput } from './contract';
import { DeliverWebhookInput, WebhookDelivery } from './hooks-contract';

/** Failure types no retry fixes: the URL is one we may not call, or the tenant has no secret to sign with. */
export const WEBHOOK_NON_RETRYABLE = ['ProviderInvalidRequest', 'WebhookNotConfigured'] as const;

export async function DeliverWebhook(rawInput: DeliverWebhookInput): Promise<WebhookDelivery> {
  const input = readInput(DeliverWebhookInput, rawInput, 'webhook delivery input');
  const { deliverWebhook } = proxyActivities<ImportActivities>({
    // One POST: a receiver that takes longer than this is treated as down, and retried.
    startToCloseTimeout: '30 seconds',
    // "Retries for up to 24 hours": the whole delivery, every attempt and wait included.
    scheduleToCloseTimeout: '24 hours',
    retry: {
      initialInterval: input.retryInitialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: '1 hour',
      nonRetryableErrorTypes: [...WEBHOOK_NON_RETRYABLE],
    },
  });
  return WebhookDelivery.parse(await deliverWebhook(input));
}
