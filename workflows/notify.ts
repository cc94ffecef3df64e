/**
 * Telling the web app how an import ended: {@link notifyImportEvent}, called by `ImportContacts` at
 * each terminal state (and when it starts waiting for new credentials). It starts one
 * `DeliverWebhook` child per event and returns as soon as that child has started.
 *
 * Why a child workflow with `ParentClosePolicy.ABANDON`, not an activity here: delivery retries for
 * up to 24 hours, and an import that waited for it would keep its workflow ID busy (no new import
 * for that user and provider) and show as running when it is done. An abandoned child outlives its
 * parent; its deterministic workflow ID makes a second start of the same event a no-op.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { CancellationScope, ParentClosePolicy, log, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { ImportActivities } from '../activities';
import { searchAttributes, type ImportInput, type ImportStatus } from './contract';
import { DeliverWebhook } from './deliver-webhook';
import {
  connectionEventWorkflowId,
  DeliverWebhookInput,
  deliverWebhookWorkflowId,
  type WebhookEvent,
  type WebhookEventType,
} from './hooks-contract';

const { connectionNeedingReauth } = proxyActivities<ImportActivities>({
  // One read of the store: a store that does not answer soon is retried, a few times, then skipped.
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/** Starts `DeliverWebhook` for `delivery` under `workflowId`, once; resolves when it has started. */
async function startDelivery(delivery: DeliverWebhookInput, workflowId: string, owner: Pick<ImportInput, 'tenant' | 'userId' | 'provider'>): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    try {
      await startChild(DeliverWebhook, {
        workflowId,
        args: [delivery],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // An event is delivered once: a reset that replays to this point does not send it again.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: searchAttributes.tenant, value: owner.tenant },
          { key: searchAttributes.userId, value: owner.userId },
          { key: searchAttributes.provider, value: owner.provider },
        ],
        staticSummary: `Deliver ${delivery.event.type} for user ${owner.userId} of ${owner.tenant}`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      log.info('Webhook event already being delivered', { eventId: delivery.event.eventId });
    }
  });
}

/**
 * Starts delivering `type` with the import's counts from `status`, when the import has a
 * `notify` target. Runs even in a cancelled workflow (the cancellation is what it reports).
 * Resolves once the delivery workflow has started; never waits for the delivery itself.
 */
export async function notifyImportEvent(input: ImportInput, type: WebhookEventType, status: ImportStatus): Promise<void> {
  if (!input.notify) return;
  const info = workflowInfo();
  // Deterministic: the same run and history position on every replay, unique across the chain.
  const eventId = `evt_${info.runId}_${info.historyLength}`;
  const event: WebhookEvent = {
    eventId,
    type,
    occurredAt: new Date().toISOString(),
    tenant: input.tenant,
    userId: input.userId,
    provider: input.provider,
    workflowId: info.workflowId,
    firstRunId: info.firstExecutionRunId,
    state: status.state,
    fetched: status.fetched,
    saved: status.saved,
    rejected: status.rejected,
    pages: status.pages,
    total: status.total,
    ...(status.errorType ? { errorType: status.errorType } : {}),
  };
  const delivery = { url: input.notify.url, retryInitialIntervalMs: input.notify.retryInitialIntervalMs, event };
  await startDelivery(delivery, deliverWebhookWorkflowId(event), input);
}

/**
 * When the provider refused the user's kept secret (the import read their connection), tells the
 * tenant's webhook `connection.needs_reauth`, once per refused secret, so the web app can ask the
 * user to reconnect. Resolves once the delivery has started, or at once when there is nothing to say.
 */
export async function notifyConnectionNeedsReauth(input: ImportInput): Promise<void> {
  const found = await connectionNeedingReauth({
    tenant: input.tenant,
    userId: input.userId,
    provider: input.provider,
    ...(input.notify ? { retryInitialIntervalMs: input.notify.retryInitialIntervalMs } : {}),
  });
  if (found === null) return;
  const delivery = DeliverWebhookInput.parse(found);
  if (delivery.event.type !== 'connection.needs_reauth') return;
  await startDelivery(delivery, connectionEventWorkflowId(delivery.event), input);
}
