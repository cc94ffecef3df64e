/**
 * The two steps of `EraseUser`. Cancelling goes through Temporal (the worker's own client): a
 * cancelled import stops at its next page boundary, and the activity waits for that, so the delete
 * that follows cannot race a batch still saving a page.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Store } from '../db/types';
import { FAILURE_TYPES, importWorkflowId, type EraseUserInput } from '../workflows/contract';
import { PROVIDER_IDS } from '../providers';

export interface ErasureDeps {
  store: Store;
  /** A client on the worker's connection; erasure cannot cancel imports without one. */
  client?: Client;
}

/** Every workflow ID an import of this user may run under: one per provider. */
function importWorkflowIds(owner: EraseUserInput): string[] {
  return PROVIDER_IDS.map((provider) => importWorkflowId(owner, provider));
}

export function createErasureActivities(deps: ErasureDeps) {
  /** Cancels the user's running imports and resolves, with how many there were, once each has closed. */
  async function cancelUserImports(owner: EraseUserInput): Promise<number> {
    const { client } = deps;
    if (!client) {
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.workerMisconfigured,
        message: 'This worker has no Temporal client for erasure activities; another worker should take them',
      });
    }
    const ctx = Context.current();
    const keepAlive = setInterval(() => ctx.heartbeat(), 5_000);
    try {
      let cancelled = 0;
      for (const workflowId of importWorkflowIds(owner)) {
        const handle = client.workflow.getHandle(workflowId);
        try {
          if ((await handle.describe()).status.name !== 'RUNNING') continue;
          await handle.cancel();
          cancelled += 1;
          // Resolves or rejects once the run (or the run it continued as) has closed; how does not matter.
          await handle.result().catch(() => undefined);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
        ctx.heartbeat();
      }
      return cancelled;
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Deletes the user's contacts, rejects, uploaded files, connections and connect sessions; resolves to how many contacts went. Idempotent. */
  async function deleteUserData(owner: EraseUserInput): Promise<number> {
    const deleted = await deps.store.tenant(owner.tenant).deleteUser(owner.userId);
    await deps.store.uploads.deleteUser(owner.tenant, owner.userId);
    // Their connections too: nothing that could read the user's contacts again outlives the erasure.
    await deps.store.connections.deleteUser(owner.tenant, owner.userId);
    await deps.store.connectSessions.deleteUser(owner.tenant, owner.userId);
    return deleted;
  }

  return { cancelUserImports, deleteUserData };
}
