/**
 * A worker process for `measure-governor-alternatives.ts`: the service's import worker
 * (`worker/create-worker.ts`, the same activities and workflows) with the rate governor's shared
 * state in the place `BENCH_GOVERNOR_STATE` names, each call to it timed:
 *
 * - `store`: the store's rows (`db/rate-budgets.ts`), as `npm run worker` runs it;
 * - `entity`: an entity workflow per key (`./governor-entity/`), which this process also runs on
 *   the task queue `<TEMPORAL_TASK_QUEUE>-budgets`; concurrency leases stay with the store;
 * - `off`: no governor, for Temporal's task-queue rate limit to hold the requests back.
 *
 * On SIGTERM it stops like the service's worker, then writes what it measured (calls and their
 * latency, per method) as JSON to `BENCH_GOVERNOR_STATS`.
 */
import fs from 'node:fs';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../config';
import { GOVERNOR_DEFAULTS } from '../config/defaults';
import { temporalTarget } from '../config/temporal';
import { openStore } from '../db';
import { dataConverter } from '../encryption/data-converter';
import { loadPayloadKeyring } from '../encryption/payload-keys';
import { createTokenSealer, loadTokenKey } from '../encryption/token-seal';
import { closeProviders, readProviderSettings } from '../providers';
import { createRequestGovernor, ungoverned, type GovernorOptions } from '../providers/kit/governor';
import { workerWorkflowBundle } from '../worker/bundle-workflows';
import { createImportWorker, workerSourceSettings } from '../worker/create-worker';
import { ENTITY_WORKFLOWS_PATH, entityBudgets } from './governor-entity/budgets';
import { ENTITY_UPDATES_PER_RUN, entityTaskQueue, GOVERNOR_STATES, type GovernorState, type GovernorWorkerStats } from './governor-state';

type BudgetState = GovernorOptions['state'];

/** `state` with each call's latency added to `calls[method]`. */
function timed(state: BudgetState, calls: Record<string, number[]>): BudgetState {
  const wrap =
    <A extends unknown[], R>(name: string, method: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        return await method(...args);
      } finally {
        (calls[name] ??= []).push(performance.now() - started);
      }
    };
  return {
    reserve: wrap('reserve', state.reserve.bind(state)),
    close: wrap('close', state.close.bind(state)),
    closedUntil: wrap('closedUntil', state.closedUntil.bind(state)),
    acquireSlot: wrap('acquireSlot', state.acquireSlot.bind(state)),
    leaveQueue: wrap('leaveQueue', state.leaveQueue.bind(state)),
    renewSlot: wrap('renewSlot', state.renewSlot.bind(state)),
    releaseSlot: wrap('releaseSlot', state.releaseSlot.bind(state)),
  };
}

async function main(): Promise<void> {
  const kind = process.env.BENCH_GOVERNOR_STATE as GovernorState;
  if (!GOVERNOR_STATES.includes(kind)) throw new Error(`BENCH_GOVERNOR_STATE must be one of ${GOVERNOR_STATES.join(', ')} (got "${kind}")`);
  const statsFile = process.env.BENCH_GOVERNOR_STATS;
  if (!statsFile) throw new Error('BENCH_GOVERNOR_STATS must name the file to write the figures to');
  const config = loadConfig();
  const providers = readProviderSettings(process.env);
  const target = temporalTarget();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const store = await openStore(config.database);
  const connection = await NativeConnection.connect(target.connectionOptions);
  const stats: GovernorWorkerStats = { state: kind, calls: {}, resends: 0 };
  try {
    const converter = dataConverter(loadPayloadKeyring(config));
    const client = new Client({ connection, namespace: target.namespace, dataConverter: converter });
    const entities = kind === 'entity' ? entityBudgets(new Client({ connection, namespace: target.namespace }), entityTaskQueue(config.taskQueue), ENTITY_UPDATES_PER_RUN) : undefined;
    const state = timed(entities ? { ...store.budgets, reserve: entities.reserve, close: entities.close, closedUntil: entities.closedUntil } : store.budgets, stats.calls);
    const importWorker = await createImportWorker({
      connection,
      workflowBundle: await workerWorkflowBundle(),
      namespace: target.namespace,
      taskQueue: config.taskQueue,
      deps: {
        store,
        client,
        sealer: createTokenSealer(loadTokenKey(config)),
        sources: workerSourceSettings(config, providers),
        governor: kind === 'off' ? ungoverned : createRequestGovernor({ state, ...GOVERNOR_DEFAULTS }),
      },
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      heartbeatThrottleMs: config.heartbeatThrottleMs,
      dataConverter: converter,
    });
    const entityWorker = entities
      ? await Worker.create({ connection, namespace: target.namespace, taskQueue: entityTaskQueue(config.taskQueue), workflowsPath: ENTITY_WORKFLOWS_PATH })
      : undefined;
    console.log(`worker: polling task queue "${config.taskQueue}", governor state: ${kind}`);
    await Promise.all([importWorker.run(), entityWorker?.run()]);
    stats.resends = entities?.resends() ?? 0;
  } finally {
    fs.writeFileSync(statsFile, JSON.stringify(stats));
    await connection.close();
    await closeProviders(providers);
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(`governor worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
