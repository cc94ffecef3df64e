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
import { CancellationScope, ParentClosePolicy, log, startChild, workflowInfo } from '@temporalio/workflow';
import { searchAttributes, type ImportInput, type ImportStatus } from './contract';
import { DeliverWebhook } from './deliver-webhook';
import { deliverWebhookWorkflowId, type DeliverWebhookInput, type WebhookEventType } from './hooks-contract';

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
  const delivery: DeliverWebhookInput = {
    url: input.notify.url,
    retryInitialIntervalMs: input.notify.retryInitialIntervalMs,
    event: {
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
    },
  };
  await CancellationScope.nonCancellable(async () => {
    try {
      await startChild(DeliverWebhook, {
        workflowId: deliverWebhookWorkflowId(delivery.event),
        args: [delivery],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // An event is delivered once: a reset that replays to this point does not send it again.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: searchAttributes.tenant, value: input.tenant },
          { key: searchAttributes.userId, value: input.userId },
          { key: searchAttributes.provider, value: input.provider },
        ],
        staticSummary: `Deliver ${type} for user ${input.userId} of ${input.tenant}`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      log.info('Webhook event already being delivered', { eventId });
    }
  });
}
