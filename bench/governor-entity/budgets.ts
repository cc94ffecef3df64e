/**
 * The rate governor's state over entity workflows (`./workflows.ts`): the client side, for the
 * bench's worker process (`bench/governor-worker.ts`). A key's first call starts its workflow
 * (`USE_EXISTING`: every process may); each reservation and closure is then an Update, and
 * `closedUntil` a query per key. Holds configured rates and closures only: a learned rate is
 * refused, and concurrency leases stay with the store.
 */
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { BudgetStore } from '../../db/types';
import { closedUntilQuery, closeUpdate, reserveUpdate, type budgetEntity } from './workflows';

export const ENTITY_WORKFLOWS_PATH = require.resolve('./workflows');

/** An Update sent while its run continues as new fails; it is sent again, to the next run, this many times at most. */
const MAX_RESENDS = 20;
const RESEND_DELAY_MS = 20;

export interface EntityBudgets extends Pick<BudgetStore, 'reserve' | 'close' | 'closedUntil'> {
  /** Updates sent again because their run ended under them. */
  resends(): number;
}

/** The workflow id of `key`'s budget. */
export const entityWorkflowId = (key: string) => `budget-entity:${key}`;

export function entityBudgets(client: Client, taskQueue: string, updatesPerRun: number): EntityBudgets {
  const started = new Map<string, Promise<unknown>>();
  let resends = 0;

  function ensureStarted(key: string): Promise<unknown> {
    let start = started.get(key);
    if (start === undefined) {
      start = client.workflow.start<typeof budgetEntity>('budgetEntity', {
        workflowId: entityWorkflowId(key),
        taskQueue,
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [{ state: { tat: 0, closedUntil: 0 }, updatesPerRun }],
      });
      // A failed start is tried again by the next call.
      start.catch(() => started.delete(key));
      started.set(key, start);
    }
    return start;
  }

  async function update<Ret>(key: string, send: (handle: WorkflowHandle) => Promise<Ret>): Promise<Ret> {
    await ensureStarted(key);
    // No run id: the key's current run, whichever continued-as-new run that is.
    const handle = client.workflow.getHandle(entityWorkflowId(key));
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await send(handle);
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError || attempt >= MAX_RESENDS) throw error;
        resends += 1;
        await new Promise((resolve) => setTimeout(resolve, RESEND_DELAY_MS));
      }
    }
  }

  return {
    async reserve(key, spec, maxWaitMs) {
      if (spec.mode === 'learn') throw new Error(`the entity-workflow budgets hold configured rates only: set a rate or "off" for ${key}`);
      const intervalMs = spec.mode === 'fixed' ? spec.intervalMs : 0;
      const grant = await update(key, (handle) => handle.executeUpdate(reserveUpdate, { args: [{ intervalMs, maxWaitMs }] }));
      return { ...grant, epoch: 0 };
    },
    close(key, { forMs }) {
      return update(key, (handle) => handle.executeUpdate(closeUpdate, { args: [forMs] }));
    },
    async closedUntil(keys) {
      const now = Date.now();
      const until = await Promise.all(keys.map((key) => update(key, (handle) => handle.query(closedUntilQuery))));
      return { until: Math.max(0, ...until), now };
    },
    resends: () => resends,
  };
}
