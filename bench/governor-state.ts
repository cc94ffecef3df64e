/**
 * What `measure-governor-alternatives.ts` and its worker processes (`governor-worker.ts`) agree on:
 * where the governor's state lives, the entity workflows' task queue, and the figures a worker
 * writes at exit.
 */

export const GOVERNOR_STATES = ['store', 'entity', 'off'] as const;
export type GovernorState = (typeof GOVERNOR_STATES)[number];

/** The entity workflows' task queue beside the import queue. */
export const entityTaskQueue = (importQueue: string) => `${importQueue}-budgets`;

/**
 * Updates one entity run handles before it continues as new. Low, so that the app key's workflow
 * continues as new several times in the scenario (about 300 of its updates at 3,000 contacts each)
 * and the measurement includes that and the Updates it makes the workers send again.
 */
export const ENTITY_UPDATES_PER_RUN = 100;

/** What the process writes at exit: each state method's call latencies, ms, and the entity's resent updates. */
export interface GovernorWorkerStats {
  state: GovernorState;
  calls: Record<string, number[]>;
  resends: number;
}
