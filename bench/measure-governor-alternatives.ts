/**
 * Where the rate governor's shared state lives, measured: the governor phase's scenario
 * (`measure-governor.ts`: the demo provider enforcing an app-wide quota of {@link QUOTA}, 2 worker
 * processes, `--governor-imports` imports of `--governor-contacts` at {@link PAGE_SIZE} a page) with
 * the app's budget held in each of three places:
 *
 * - `store`: the governor over the store's rows (`db/rate-budgets.ts`), as the service runs it;
 * - `entity`: the governor over an entity workflow per key (`bench/governor-entity/`), granting
 *   slots through Updates;
 * - `task-queue`: no governor; Temporal's own task-queue rate limit (`UpdateTaskQueueConfig`'s
 *   queue rate limit, as `temporal task-queue config set --queue-rps-limit` sets it) on the
 *   activity task queue, at one page per batch so that one activity task is one request;
 * - `task-queue-batches`: the same at the service's own batches (`IMPORT_PAGES_PER_BATCH`, 10
 *   pages), the rate scaled down by the pages a batch fetches.
 *
 * The phase runs on a dev server of its own with eager activity dispatch off, as a cluster has it
 * (see {@link DYNAMIC_CONFIG}). The workers are `bench/governor-worker.ts` processes (the service's import worker, the state's
 * calls timed). The user's own budget is `off` in all three, so only the app's budget holds
 * requests back and the entity holds configured rates only. Figures: those of the governor phase
 * (`QuotaFigures`), and the cost: calls to the state per request the provider received and their
 * latency, and the Temporal history (events and actions) of the imports and of the entity
 * workflows per request. See bench/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tsToMs } from '@temporalio/common/lib/time';
import { DEFAULT_TUNING } from '../config/defaults';
import { DEV_SERVER_DYNAMIC_CONFIG, startDevServer } from '../scripts/temporal-cli';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { entityTaskQueue, type GovernorState, type GovernorWorkerStats } from './governor-state';
import { describeQuotaFigures, importsUnderQuota, PAGE_SIZE, QUOTA, scenarioEnv, type GovernorRow, type QuotaFigures } from './measure-governor';
import { startService, stopService, type BenchRun, type Teardown } from './service';
import { fmt, percentile, round, spawnScript, type Child } from './support';

export const GOVERNOR_ALTERNATIVES = ['store', 'entity', 'task-queue', 'task-queue-batches'] as const;
export type GovernorAlternative = (typeof GOVERNOR_ALTERNATIVES)[number];

const EventType = temporal.api.enums.v1.EventType;

/** The service's pages per batch, for the rate of batches that makes the quota's rate of requests. */
const PAGES_PER_BATCH = DEFAULT_TUNING.pagesPerBatch;

/**
 * Each alternative's governor state in the workers, its environment beyond the scenario's, and the
 * rate limit of its activity task queue (requests, that is tasks, a second), if any.
 */
const ALTERNATIVES: Record<GovernorAlternative, { state: GovernorState; env: Record<string, string>; queueRate?: number }> = {
  store: { state: 'store', env: { GOOGLE_PEOPLE_APP_RATE: QUOTA.budget } },
  entity: { state: 'entity', env: { GOOGLE_PEOPLE_APP_RATE: QUOTA.budget } },
  // One page per batch: the queue's rate of activity tasks is then the rate of requests.
  'task-queue': { state: 'off', env: { PROVIDER_GOVERNOR: 'off', IMPORT_PAGES_PER_BATCH: '1' }, queueRate: QUOTA.perSecond },
  'task-queue-batches': {
    state: 'off',
    env: { PROVIDER_GOVERNOR: 'off', IMPORT_PAGES_PER_BATCH: String(PAGES_PER_BATCH) },
    queueRate: QUOTA.perSecond / PAGES_PER_BATCH,
  },
};

/** p50 and p99 of some latencies, ms, and how many there were. */
export interface Latency {
  count: number;
  p50: number;
  p99: number;
}

/** What the Temporal history of a set of workflows holds. */
export interface HistoryCost {
  /** Runs (continue-as-new included). */
  runs: number;
  events: number;
  /**
   * Billable actions as Temporal Cloud counts them, from the history: runs started (continue-as-new
   * included), activity attempts, timers, signals, accepted Updates, child workflows, search
   * attribute upserts; plus queries, which leave no event (counted by the caller).
   */
  actions: number;
}

/** The governor phase's row (its scenario and figures), for one alternative instead of a configuration. */
export interface GovernorAlternativeRow extends Omit<GovernorRow, 'configuration'> {
  alternative: GovernorAlternative;
  /** Calls to the governor's state by method, both workers, per request the provider received. */
  stateCallsPerRequest: Record<string, number>;
  /** Store writes (reservations and closures) per request; `null` when the store does not hold the rate. */
  storeWritesPerRequest: number | null;
  /** One reservation's round trip to the state, ms (the slot's wait not included); `null` without a governor. */
  reserveLatency: Latency | null;
  /** Import batches' wait in the task queue (scheduled to started, first attempts), ms: the whole grant with the task-queue rate limit. */
  batchQueueWait: Latency;
  /** The imports' histories, and per request. */
  importHistory: HistoryCost;
  importEventsPerRequest: number;
  /** The entity workflows' histories (their queries counted as actions), and per request; `null` but for `entity`. */
  entityHistory: HistoryCost | null;
  entityEventsPerRequest: number | null;
  entityActionsPerRequest: number | null;
  /** Updates the entity backend sent again because the run they reached continued as new. */
  entityResends: number | null;
  /** The activity task queue's rate limit, tasks/s, as the server reported it once set (`task-queue…` only). */
  taskQueueRateLimit: number | null;
}

/**
 * Dynamic configuration of this phase's dev server: the bench's, with eager activity dispatch off,
 * as a cluster has it (`system.enableActivityEagerExecution` defaults to false in the server; the
 * CLI's dev server turns it on). An activity dispatched eagerly comes back in the workflow task's
 * answer without passing the matching service, so the task queue's rate limit never sees it.
 */
const DYNAMIC_CONFIG = { ...DEV_SERVER_DYNAMIC_CONFIG, 'system.enableActivityEagerExecution': false } as const;

/** Runs the alternatives one after the other on a dev server of their own, each on workers, an API and a store of its own. */
export async function measureGovernorAlternatives(run: BenchRun, teardown: Teardown): Promise<GovernorAlternativeRow[]> {
  run.progress('governor alternatives: a dev server of their own, eager activity dispatch off');
  const devServer = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS, dynamicConfig: DYNAMIC_CONFIG, log: () => undefined });
  try {
    const connection = await Connection.connect({ address: devServer.address });
    try {
      // Only raw calls and terminations: each alternative's service has a payload key of its own.
      const client = new Client({ connection, namespace: run.client.options.namespace });
      const ownRun: BenchRun = { ...run, devServer, client, baseEnv: { ...run.baseEnv, TEMPORAL_ADDRESS: devServer.address } };
      const rows: GovernorAlternativeRow[] = [];
      for (const alternative of GOVERNOR_ALTERNATIVES) rows.push(await measureAlternative(ownRun, teardown, alternative));
      return rows;
    } finally {
      await connection.close();
    }
  } finally {
    await devServer.stop();
  }
}

async function measureAlternative(run: BenchRun, teardown: Teardown, alternative: GovernorAlternative): Promise<GovernorAlternativeRow> {
  const { progress, options } = run;
  const { governorImports: imports, governorContacts: each } = options;
  const { state, env: ownEnv, queueRate } = ALTERNATIVES[alternative];
  const env = { GOOGLE_PEOPLE_USER_RATE: 'off', ...ownEnv };
  const baseEnv = scenarioEnv(run, teardown, `governor-alt-${alternative}`, { BENCH_GOVERNOR_STATE: state, ...env }, ['GOOGLE_PEOPLE_APP_RATE', 'PROVIDER_GOVERNOR', 'IMPORT_PAGES_PER_BATCH']);
  const dataDir = baseEnv.DATA_DIR!;
  const taskQueue = baseEnv.TEMPORAL_TASK_QUEUE!;
  progress(`governor alternatives (${alternative}): 2 workers, ${imports} imports of ${fmt(each)} at ${PAGE_SIZE} a page, the provider's app quota ${QUOTA.budget}, ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);

  const statsFiles = [path.join(dataDir, 'governor-worker-1.json'), path.join(dataDir, 'governor-worker-2.json')] as const;
  const startGovernorWorker = async (workerEnv: NodeJS.ProcessEnv, n: 0 | 1): Promise<Child> => {
    const worker = spawnScript(`governor-${alternative}-worker-${n + 1}`, 'bench/governor-worker.ts', { ...workerEnv, BENCH_GOVERNOR_STATS: statsFiles[n] });
    await worker.waitFor(/worker: polling/, 180_000);
    return worker;
  };
  let taskQueueRateLimit: number | null = null;
  if (queueRate !== undefined) {
    const { config } = await run.client.workflowService.updateTaskQueueConfig({
      namespace: run.client.options.namespace,
      identity: 'bench',
      taskQueue,
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      updateQueueRateLimit: { rateLimit: { requestsPerSecond: queueRate }, reason: 'the provider app quota' },
    });
    taskQueueRateLimit = config?.queueRateLimit?.rateLimit?.requestsPerSecond ?? null;
    if (taskQueueRateLimit !== queueRate) throw new Error(`the server did not take the task queue's rate limit of ${queueRate}/s (it reports ${taskQueueRateLimit})`);
    progress(`  the activity task queue's rate limit: ${taskQueueRateLimit}/s`);
  }
  const service = await startService({ ...run, baseEnv }, 'sqlite', teardown, false, (workerEnv) => startGovernorWorker(workerEnv, 0));
  const second = await startGovernorWorker(service.env, 1);
  let figures: QuotaFigures;
  try {
    figures = await importsUnderQuota(run, service, `${run.tag}governor-alt-${alternative}`);
  } finally {
    await second.stop();
    await stopService(run, service);
    await run.provider.configure({ contacts: options.contacts, faults: {} });
  }
  progress(`  ${describeQuotaFigures(figures)}`);

  const workerStats = statsFiles.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as GovernorWorkerStats);
  const calls = (method: string) => workerStats.flatMap((s) => s.calls[method] ?? []);
  const perRequest = (n: number) => round(n / Math.max(1, figures.requests), 2);
  const stateCallsPerRequest = Object.fromEntries(
    [...new Set(workerStats.flatMap((s) => Object.keys(s.calls)))].sort().map((method) => [method, perRequest(calls(method).length)]),
  );
  const imported = await historyOf(run, taskQueue);
  const entity = state === 'entity' ? await historyOf(run, entityTaskQueue(taskQueue)) : null;
  if (entity) {
    entity.cost.actions += calls('closedUntil').length;
    await terminateRunning(run, entityTaskQueue(taskQueue));
  }
  const row: GovernorAlternativeRow = {
    alternative,
    env,
    workers: 2,
    imports,
    contactsEach: each,
    pageSize: PAGE_SIZE,
    quotaPerSecond: QUOTA.perSecond,
    ...figures,
    stateCallsPerRequest,
    storeWritesPerRequest: state === 'store' ? perRequest(calls('reserve').length + calls('close').length) : null,
    reserveLatency: state === 'off' ? null : latency(calls('reserve')),
    batchQueueWait: latency(imported.batchQueueWaits),
    importHistory: imported.cost,
    importEventsPerRequest: perRequest(imported.cost.events),
    entityHistory: entity?.cost ?? null,
    entityEventsPerRequest: entity ? perRequest(entity.cost.events) : null,
    entityActionsPerRequest: entity ? perRequest(entity.cost.actions) : null,
    entityResends: state === 'entity' ? workerStats.reduce((sum, s) => sum + s.resends, 0) : null,
    taskQueueRateLimit,
  };
  progress(
    `  cost: state calls per request ${JSON.stringify(stateCallsPerRequest)}` +
      (row.reserveLatency ? `, a reservation p50 ${row.reserveLatency.p50} ms, p99 ${row.reserveLatency.p99} ms` : '') +
      `, batches waited in the queue p50 ${row.batchQueueWait.p50} ms, p99 ${row.batchQueueWait.p99} ms` +
      `; imports' history ${imported.cost.events} events (${row.importEventsPerRequest} a request), ${imported.cost.actions} actions` +
      (entity ? `; entity workflows ${entity.cost.runs} runs, ${entity.cost.events} events (${row.entityEventsPerRequest} a request), ${entity.cost.actions} actions (${row.entityActionsPerRequest} a request), ${row.entityResends} updates resent` : ''),
  );
  return row;
}

function latency(values: readonly number[]): Latency {
  return { count: values.length, p50: round(percentile(values, 50), 1), p99: round(percentile(values, 99), 1) };
}

/**
 * Every run (`workflowId`, `runId`) visibility lists for `query`, read raw: each alternative's
 * service has a payload key of its own, which the bench's client does not hold.
 */
async function executions(run: BenchRun, query: string): Promise<Array<{ workflowId: string; runId: string }>> {
  const found: Array<{ workflowId: string; runId: string }> = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await run.client.workflowService.listWorkflowExecutions({ namespace: run.client.options.namespace, query, nextPageToken });
    for (const info of page.executions) found.push({ workflowId: info.execution?.workflowId ?? '', runId: info.execution?.runId ?? '' });
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return found;
}

/** A run's history events, every page. */
async function historyEvents(run: BenchRun, execution: { workflowId: string; runId: string }): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await run.client.workflowService.getWorkflowExecutionHistory({ namespace: run.client.options.namespace, execution, nextPageToken });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

/** Every run on `taskQueue` (visibility's `TaskQueue`): their history's events and actions, and the batches' waits in the queue. */
async function historyOf(run: BenchRun, taskQueue: string): Promise<{ cost: HistoryCost; batchQueueWaits: number[] }> {
  const cost: HistoryCost = { runs: 0, events: 0, actions: 0 };
  const batchQueueWaits: number[] = [];
  for (const execution of await executions(run, `TaskQueue = '${taskQueue}'`)) {
    const scheduled = new Map<string, { at: number; type: string }>();
    cost.runs += 1;
    for (const event of await historyEvents(run, execution)) {
      cost.events += 1;
      switch (event.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        case EventType.EVENT_TYPE_TIMER_STARTED:
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
          cost.actions += 1;
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
          cost.actions += 1;
          scheduled.set(String(event.eventId), { at: tsToMs(event.eventTime), type: event.activityTaskScheduledEventAttributes?.activityType?.name ?? '' });
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
          const started = event.activityTaskStartedEventAttributes;
          const attempt = started?.attempt ?? 1;
          // Only the last attempt leaves an event: the earlier ones are billed too.
          cost.actions += attempt - 1;
          const task = scheduled.get(String(started?.scheduledEventId));
          if (attempt === 1 && task?.type === 'importBatch') batchQueueWaits.push(tsToMs(event.eventTime) - task.at);
          break;
        }
        default:
          break;
      }
    }
  }
  return { cost, batchQueueWaits };
}

/** Ends the entity workflows still running on `taskQueue`: nothing polls it any more. */
async function terminateRunning(run: BenchRun, taskQueue: string): Promise<void> {
  for (const execution of await executions(run, `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`)) {
    await run.client.workflow.getHandle(execution.workflowId, execution.runId).terminate('the benchmark is over');
  }
}
