/**
 * `ScheduledSync`: what a sync schedule (`PUT /v1/users/{userId}/sync`) starts each time. A
 * Schedule appends the time to the workflow ID of every run it starts, but an import must run
 * under its one ID, `import-contacts/{tenant}/{provider}/{userId}` (one import per user and
 * provider; import ids name it). So the schedule starts this small workflow, which starts the real
 * import under that ID as an abandoned child, or joins the one already running, and ends.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
import { importWorkflowId, readInput, searchAttributes, type ImportInput } from './contract';
import { ScheduledSyncInput, type ScheduledSyncResult } from './hooks-contract';
import { ImportContacts } from './import-contacts';

export async function ScheduledSync(rawInput: ScheduledSyncInput): Promise<ScheduledSyncResult> {
  const { mode, notify, ...owner } = readInput(ScheduledSyncInput, rawInput, 'scheduled sync input');
  const workflowId = importWorkflowId(owner, owner.provider);
  const input: ImportInput = {
    ...owner,
    startedAt: new Date().toISOString(),
    mode,
    ...(notify ? { notify } : {}),
  };
  try {
    const child = await startChild(ImportContacts, {
      workflowId,
      args: [input],
      // The import outlives this run: the schedule only starts it.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // A finished import (whatever its outcome) may be followed by a new one, as from the API.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      // Temporal's fairness, as for an import the API starts.
      priority: { fairnessKey: owner.tenant },
      typedSearchAttributes: [
        { key: searchAttributes.tenant, value: owner.tenant },
        { key: searchAttributes.userId, value: owner.userId },
        { key: searchAttributes.provider, value: owner.provider },
        { key: searchAttributes.state, value: 'running' },
        { key: searchAttributes.contactsSaved, value: 0 },
      ],
      staticSummary: `Scheduled ${mode} import of ${owner.provider} contacts for user ${owner.userId} of ${owner.tenant}`,
    });
    return { workflowId, started: true, firstRunId: child.firstExecutionRunId };
  } catch (err) {
    // The previous import is still running: this run joins it rather than starting a second one.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false, firstRunId: null };
    throw err;
  }
}
