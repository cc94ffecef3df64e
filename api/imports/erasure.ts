/**
 * `DELETE /v1/users/{userId}`: starts the `EraseUser` workflow and answers at once. One erasure per
 * user at a time (its workflow ID and USE_EXISTING), and a finished one may be followed by another,
 * so repeating the request is harmless.
 */
import type { Client } from '@temporalio/client';
import { EraseUser } from '../../workflows';
import { eraseWorkflowId, searchAttributes, TASK_QUEUE } from '../../workflows/contract';
import type { ErasureView } from '../schemas';
import type { Erasure } from './types';

export function createTemporalErasure({ client, taskQueue = TASK_QUEUE }: { client: Client; taskQueue?: string }): Erasure {
  return {
    async erase(tenant, userId): Promise<ErasureView> {
      const workflowId = eraseWorkflowId({ tenant, userId });
      await client.workflow.start(EraseUser, {
        taskQueue,
        workflowId,
        args: [{ tenant, userId }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: [
          { key: searchAttributes.tenant, value: tenant },
          { key: searchAttributes.userId, value: userId },
        ],
        staticSummary: `Erase user ${userId} of ${tenant}: cancel their imports, delete their contacts`,
      });
      return { userId, workflowId, state: 'accepted' };
    },
  };
}
