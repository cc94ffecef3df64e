/**
 * Finding the run that is current for one import. An import is one continue-as-new chain under
 * the workflow ID `import-contacts/{provider}/{userId}`; a newer import for the same user may have
 * replaced it since, and an operator may have reset it.
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** The current run of the chain that started with `firstRunId`, or `null` if there is none. */
export async function currentRunOfChain(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<WorkflowExecutionDescription | null> {
  // The newest run under this ID is ours when it shares our first run: that covers continue-as-new
  // and operator resets (a reset run keeps the first run id but no close event links to it).
  try {
    const latest = await client.workflow.getHandle(workflowId).describe();
    if (latest.raw.workflowExecutionInfo?.firstRunId === firstRunId) return latest;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
  // A newer import replaced ours under this workflow ID: walk our chain from its first run.
  let runId = firstRunId;
  for (;;) {
    let description: WorkflowExecutionDescription;
    try {
      description = await client.workflow.getHandle(workflowId, runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
    if (description.status.name !== 'CONTINUED_AS_NEW') return description;
    const next = await continuedAsNewRunId(client, workflowId, runId);
    if (!next) return description;
    runId = next;
  }
}

/** The run a closed run continued as, read from its close event. */
async function continuedAsNewRunId(client: Client, workflowId: string, runId: string): Promise<string | undefined> {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    historyEventFilterType: temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
  });
  return history?.events?.[0]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId || undefined;
}
