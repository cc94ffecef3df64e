/**
 * Temporal's task-queue fairness (`matching.enableFairness`, `priority.fairnessKey` = tenant on
 * every batch): what it changes on the dev server and on the cluster. A worker with few activity
 * slots; one tenant queues many one-batch imports, then another tenant starts one; the second
 * tenant's import is timed from its start to its end, with fairness off and on. The demo provider
 * answers every page after a delay, so a batch holds its slot a while and the first tenant's
 * backlog stays in the task queue, where fairness acts.
 *
 * On a dev server of its own per configuration (fairness off and on, the default 4 partitions and
 * one), and on the cluster's four Temporal services on PostgreSQL (scripts/cluster-parts.ts, one
 * partition as `npm run cluster` runs them), started afresh per configuration with
 * `matching.enableFairness` off, then on, in their dynamic config: a clean comparison needs the
 * matching service started with the setting, and the other services restart with it for free. The
 * same database both times, a task queue of its own per round.
 *
 * In-process: the demo provider, a worker and a SQLite store of its own; no API (imports are
 * started as workflows), so nothing but the queue's order is measured.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { DEFAULT_TUNING } from '../config/defaults';
import { openStore } from '../db';
import { startDemoProvider } from '../demo-provider/server';
import { createTokenSealer } from '../encryption/token-seal';
import { readProviderSettings } from '../providers';
import { clusterPorts, clusterSupervisor, startTemporalServices } from '../scripts/cluster-parts';
import type { TemporalDatabase } from '../scripts/cluster-temporal';
import { startDevServer } from '../scripts/temporal-cli';
import { bundleWorkflowsInThread } from '../worker/bundle-workflows';
import { createImportWorker } from '../worker/create-worker';
import { ImportContacts } from '../workflows';
import { importWorkflowId, SEARCH_ATTRIBUTE_DEFINITIONS, type ImportInput } from '../workflows/contract';
import { round, type Progress } from './support';

export interface FairnessRow {
  /** A dev server of its own, or the cluster's four services on PostgreSQL. */
  server: 'dev server' | 'cluster';
  /** `matching.enableFairness` on the server. */
  fairness: 'off' | 'on';
  /** Task queue partitions: the dev server's default (4), or one (`matching.numTaskqueue*Partitions`; the cluster's). */
  partitions: 'default' | 1;
  /** Activity slots of the worker. */
  slots: number;
  /** One-batch imports the busy tenant queued first. */
  busyImports: number;
  /** The demo provider's delay per page: about how long one batch holds its slot. */
  pageDelayMs: number;
  /** The quiet tenant's one import, start to end, in each round; and their median. */
  quietSeconds: number[];
  quietMedianSeconds: number;
  /** How long the quiet import's batch waited in the task queue (scheduled to started), each round; and their median. */
  quietQueueSeconds: number[];
  quietQueueMedianSeconds: number;
  /** The busy tenant's imports, first start to last end, median of the rounds. */
  busyMedianSeconds: number;
}

const CONTACTS = 100;
const DEV_SERVER_CONFIGURATIONS = [
  { fairness: 'off', partitions: 'default' },
  { fairness: 'on', partitions: 'default' },
  { fairness: 'off', partitions: 1 },
  { fairness: 'on', partitions: 1 },
] as const;
/** `npm run cluster` runs one partition per task queue (scripts/cluster-temporal.ts). */
const CLUSTER_CONFIGURATIONS = [
  { fairness: 'off', partitions: 1 },
  { fairness: 'on', partitions: 1 },
] as const;

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

interface FairnessOptions {
  busyImports?: number;
  slots?: number;
  pageDelayMs?: number;
  rounds?: number;
}

type Configuration = Pick<FairnessRow, 'server' | 'fairness' | 'partitions'>;

/**
 * Fairness off and on: on a dev server of its own per configuration (the default 4 partitions and
 * one) when `servers.devServer`; on the cluster's Temporal when `servers.cluster` names its database
 * (four services on that PostgreSQL, one partition per task queue, started afresh with each setting
 * and stopped after). One bundle, store and demo provider for all of them.
 */
export async function measureFairness(
  progress: Progress,
  servers: { devServer: boolean; cluster?: TemporalDatabase },
  options: FairnessOptions = {},
): Promise<FairnessRow[]> {
  const configurations: Configuration[] = [
    ...(servers.devServer ? DEV_SERVER_CONFIGURATIONS.map((c) => ({ server: 'dev server' as const, ...c })) : []),
    ...(servers.cluster ? CLUSTER_CONFIGURATIONS.map((c) => ({ server: 'cluster' as const, ...c })) : []),
  ];
  return measureConfigurations(progress, options, configurations, (configuration, measure) =>
    configuration.server === 'cluster' ? onCluster(servers.cluster!, configuration, measure) : onDevServer(configuration, measure),
  );
}

async function onDevServer({ fairness, partitions }: Configuration, measure: (address: string) => Promise<FairnessRow>): Promise<FairnessRow> {
  const server = await startDevServer({
    headless: true,
    searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS,
    dynamicConfig: {
      'matching.enableFairness': fairness === 'on',
      ...(partitions === 1 ? { 'matching.numTaskqueueReadPartitions': 1, 'matching.numTaskqueueWritePartitions': 1 } : {}),
    },
  });
  try {
    return await measure(server.address);
  } finally {
    await server.stop();
  }
}

/** The cluster's four Temporal services on `temporalDb`, with fairness as `configuration` says, for one measurement. */
async function onCluster(temporalDb: TemporalDatabase, { fairness }: Configuration, measure: (address: string) => Promise<FairnessRow>): Promise<FairnessRow> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-bench-fairness-cluster-'));
  const ports = await clusterPorts({ temporal: 0, ui: 0, api: 0, provider: 0 }, 0);
  let gaveUp: string | undefined;
  const supervisor = clusterSupervisor(dataDir, { quiet: true, say: () => undefined, onGiveUp: (message) => (gaveUp = message) });
  try {
    const address = await startTemporalServices({
      dir: path.join(dataDir, 'cluster'),
      temporalDb,
      ports: ports.temporal,
      start: (spec) => supervisor.start(spec),
      say: () => undefined,
      fairness: fairness === 'on',
    });
    const row = await measure(address);
    if (gaveUp) throw new Error(`a Temporal service kept exiting: ${gaveUp} (logs in ${dataDir}/cluster/logs)`);
    return row;
  } finally {
    await supervisor.stop();
    if (!gaveUp) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Each configuration on its own server (`serve` starts it, hands `measure` its address, stops it):
 * the rounds of one tenant's backlog and another's one import, in-process worker and store.
 */
async function measureConfigurations(
  progress: Progress,
  options: FairnessOptions,
  configurations: readonly Configuration[],
  serve: (configuration: Configuration, measure: (address: string) => Promise<FairnessRow>) => Promise<FairnessRow>,
): Promise<FairnessRow[]> {
  const { busyImports = 30, slots = 2, pageDelayMs = 200, rounds = 3 } = options;
  const provider = await startDemoProvider({ contacts: CONTACTS, faults: { slowMs: pageDelayMs } });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-bench-fairness-'));
  const store = await openStore({ kind: 'sqlite', file: path.join(dataDir, 'contacts.db') });
  const sealer = createTokenSealer(randomBytes(32));
  const workflowBundle = await bundleWorkflowsInThread();
  const rows: FairnessRow[] = [];
  try {
    for (const configuration of configurations) {
      const { server, fairness, partitions } = configuration;
      const row = await serve(configuration, async (address) => {
        const connection = await Connection.connect({ address });
        const nativeConnection = await NativeConnection.connect({ address });
        try {
          const client = new Client({ connection });
          const quiet: number[] = [];
          const queued: number[] = [];
          const busy: number[] = [];
          for (let round = 0; round < rounds; round += 1) {
            const taskQueue = `fairness-${randomBytes(4).toString('hex')}`;
            const worker = await createImportWorker({
              connection: nativeConnection,
              namespace: 'default',
              taskQueue,
              workflowBundle,
              maxConcurrentActivityTaskExecutions: slots,
              deps: { store, sealer, sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }), allowPrivateAddresses: true } },
            });
            const start = (tenant: string, userId: string) => {
              const input: ImportInput = {
                tenant,
                userId,
                provider: 'google-people',
                sealedCredentials: sealer.seal(JSON.stringify({ accessToken: 'demo-token', refreshToken: null })),
                tuning: { ...DEFAULT_TUNING, pageSize: CONTACTS, pagesPerBatch: 1 },
                startedAt: new Date().toISOString(),
                mode: 'full',
              };
              // As the API starts an import: its workflow tasks carry the tenant's fairness key too.
              return client.workflow.start(ImportContacts, {
                taskQueue,
                workflowId: importWorkflowId({ tenant, userId }, 'google-people'),
                args: [input],
                priority: { fairnessKey: tenant },
              });
            };
            await worker.runUntil(async () => {
              const busyStarted = performance.now();
              const handles = await Promise.all(Array.from({ length: busyImports }, (_, i) => start('busy', `${taskQueue}-busy-${i}`)));
              // Its backlog waits in the task queue before the quiet tenant's one import arrives.
              await new Promise((resolve) => setTimeout(resolve, 2 * pageDelayMs));
              const quietStarted = performance.now();
              const handle = await start('quiet', `${taskQueue}-quiet`);
              await handle.result();
              quiet.push(round2((performance.now() - quietStarted) / 1000));
              queued.push(await queueWaitOf(handle));
              await Promise.all(handles.map((handle) => handle.result()));
              busy.push(round2((performance.now() - busyStarted) / 1000));
            });
          }
          return {
            server,
            fairness,
            partitions,
            slots,
            busyImports,
            pageDelayMs,
            quietSeconds: quiet,
            quietMedianSeconds: median(quiet),
            quietQueueSeconds: queued,
            quietQueueMedianSeconds: median(queued),
            busyMedianSeconds: median(busy),
          };
        } finally {
          await nativeConnection.close();
          await connection.close();
        }
      });
      rows.push(row);
      progress(
        `  fairness ${fairness} on the ${server}, ${partitions === 1 ? 'one partition' : 'default partitions'}: the quiet tenant's batch waited ` +
          `${row.quietQueueSeconds.join(', ')} s in the queue (median ${row.quietQueueMedianSeconds} s), its import took ${row.quietSeconds.join(', ')} s ` +
          `(median ${row.quietMedianSeconds} s), beside ${busyImports} queued imports, which took ${row.busyMedianSeconds} s`,
      );
    }
  } finally {
    await store.close();
    await provider.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

const round2 = (value: number) => round(value, 2);

/** Seconds the import's first batch waited between being scheduled and being started, from its history. */
async function queueWaitOf(handle: WorkflowHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (event: (typeof events)[number] | undefined) => {
    const time = event?.eventTime;
    return time ? Number(time.seconds) * 1000 + Math.floor((time.nanos ?? 0) / 1e6) : NaN;
  };
  const scheduled = events.find((event) => event.activityTaskScheduledEventAttributes);
  const started = events.find((event) => event.activityTaskStartedEventAttributes);
  return round2((at(started) - at(scheduled)) / 1000);
}
