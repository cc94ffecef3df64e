/**
 * The rate governor's shared state held by an entity workflow instead of the store: one workflow
 * per budget key, granting slots through Updates. Measured against the store by
 * `bench/measure-governor-alternatives.ts`; the service never runs it (`./budgets.ts` is its client).
 *
 * The state and its arithmetic are the store's rate queue (`db/rate-budgets.ts`): `tat` is when the
 * key's next request may start; a grant takes the later of `tat`, the closure and now, and moves
 * `tat` one interval on. The clock is the workflow task's (`Date.now()` in the sandbox), which the
 * server sets when the task starts. Each run continues as new after {@link BudgetEntityInput.updatesPerRun}
 * updates, or sooner if the server suggests it, carrying the state as plain JSON.
 */
import { allHandlersFinished, condition, continueAsNew, defineQuery, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';

/** What a key's workflow carries from run to run. */
export interface BudgetEntityState {
  /** When the key's next request may start, ms. */
  tat: number;
  /** Until when a `Retry-After` closed the key, ms. */
  closedUntil: number;
}

export interface BudgetEntityInput {
  state: BudgetEntityState;
  /** Updates one run handles before it continues as new: bounds each run's history. */
  updatesPerRun: number;
}

/** A request for the key's next slot: `intervalMs` between starts (0: no rate, only a closure holds it). */
export interface SlotRequest {
  intervalMs: number;
  maxWaitMs: number;
}

/** As the store's `Reservation`, without learning (the entity holds configured rates only). */
export interface SlotGrant {
  granted: boolean;
  waitMs: number;
  /** The workflow task's time of the reservation, ms. */
  reservedAt: number;
}

/** Takes the next slot if it starts within `maxWaitMs`. */
export const reserveUpdate = defineUpdate<SlotGrant, [SlotRequest]>('reserve');
/** Closes the key for `forMs` from now; returns how long it stays closed, ms. */
export const closeUpdate = defineUpdate<number, [number]>('close');
/** Until when the key is closed, ms (0 when never). A query: no history event. */
export const closedUntilQuery = defineQuery<number>('closedUntil');

export async function budgetEntity(input: BudgetEntityInput): Promise<never> {
  const state = { ...input.state };
  let updates = 0;
  setHandler(reserveUpdate, ({ intervalMs, maxWaitMs }) => {
    updates += 1;
    const now = Date.now();
    const start = Math.max(state.tat, state.closedUntil, now);
    if (start - now > maxWaitMs) return { granted: false, waitMs: start - now, reservedAt: now };
    state.tat = start + intervalMs;
    return { granted: true, waitMs: start - now, reservedAt: now };
  });
  setHandler(closeUpdate, (forMs) => {
    updates += 1;
    const now = Date.now();
    state.closedUntil = Math.max(state.closedUntil, now + forMs);
    return state.closedUntil - now;
  });
  setHandler(closedUntilQuery, () => state.closedUntil);
  await condition(() => updates >= input.updatesPerRun || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  return continueAsNew<typeof budgetEntity>({ state, updatesPerRun: input.updatesPerRun });
}
