/**
 * Process control: the Temporal dev server, the demo provider and the Temporal client every phase
 * shares ({@link BenchRun}); the worker and API children of one store ({@link Service}); and the
 * {@link Teardown} that stops all of it at the end, on errors and on Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { dataConverter } from '../encryption/data-converter';
import { loadPayloadKeyring } from '../encryption/payload-keys';
import { WORKER_NODE_FLAGS, WORKER_PROCESS_ENV } from '../config/defaults';
import { freePort, startDevServer, type DevServer } from '../scripts/temporal-cli';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { importsApi, type ImportsApi } from './http-client';
import type { BenchOptions, Store } from './options';
import { startRemoteProvider, type RemoteProvider } from './remote-provider';
import { openStoreAdmin, type StoreAdmin } from './store-admin';
import { cpuSeconds, round, runningChildren, spawnBuilt, type Child, type Progress } from './support';

const MEMORY_PROBE = path.join(__dirname, 'memory-probe.js');

/**
 * What to undo at the end, on errors and on Ctrl-C: every child still running first, then the
 * steps added, last added first. Runs once; a second call (a second Ctrl-C) resolves at once.
 */
export class Teardown {
  readonly #steps: Array<() => Promise<unknown> | void> = [];
  #ran = false;

  add(step: () => Promise<unknown> | void): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    if (this.#ran) return;
    this.#ran = true;
    await Promise.all(runningChildren().map((c) => c.stop(5_000)));
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch {
        // Clean-up goes on with the next step.
      }
    }
  }
}

/** What every phase of one benchmark run shares. Built once by {@link startBenchRun}, never changed. */
export interface BenchRun {
  readonly options: BenchOptions;
  readonly progress: Progress;
  /** Every user id of this run starts with it (`bench-<time>-<random>-`), so clean-up finds its rows. */
  readonly tag: string;
  /** The access token service imports are started with: it must never appear in history. */
  readonly accessToken: string;
  readonly devServer: DevServer;
  /** The demo provider, in a process of its own: phases reconfigure it and read its stats. */
  readonly provider: RemoteProvider;
  readonly client: Client;
  /** The environment of the worker and API children: this server, provider, data dir and key, then `--env`. */
  readonly baseEnv: Readonly<NodeJS.ProcessEnv>;
}

/** Starts a headless dev server (in memory), the demo provider and a client; `teardown` stops them. */
export async function startBenchRun(options: BenchOptions, progress: Progress, teardown: Teardown): Promise<BenchRun> {
  const tag = `bench-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}-`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-bench-'));
  teardown.add(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  progress('starting a headless Temporal dev server');
  const devServer = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS, log: () => undefined });
  teardown.add(() => devServer.stop());
  const provider = await startRemoteProvider(options.contacts);
  teardown.add(() => provider.close());
  const connection = await Connection.connect({ address: devServer.address });
  teardown.add(() => connection.close());
  return Object.freeze({
    options,
    progress,
    tag,
    accessToken: `bench-secret-${randomBytes(6).toString('hex')}`,
    devServer,
    provider,
    // The children's keyring (the same environment: PAYLOAD_ENCRYPTION_KEYS or DATA_DIR's key file).
    client: new Client({
      connection,
      namespace: 'default',
      dataConverter: dataConverter(loadPayloadKeyring(loadConfig({ ...process.env, DATA_DIR: dataDir, ...options.envOverrides }))),
    }),
    baseEnv: Object.freeze({
      ...process.env,
      TEMPORAL_ADDRESS: devServer.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: `${tag}queue`,
      GOOGLE_PEOPLE_BASE_URL: provider.url,
      MICROSOFT_GRAPH_BASE_URL: provider.url,
      DATA_DIR: dataDir,
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      // The status measurement sends thousands of requests a second on purpose: no per-key limit,
      // and none per peer for the keyless routes it measures (`/livez`, `/healthz`, `/openapi.json`).
      RATE_LIMIT_PER_SECOND: '1000000',
      RATE_LIMIT_BURST: '1000000',
      PEER_RATE_LIMIT_PER_SECOND: '1000000',
      PEER_RATE_LIMIT_BURST: '1000000',
      // The files phase imports from a Radicale on loopback, which sources refuse by default.
      SOURCES_ALLOW_PRIVATE_ADDRESSES: 'true',
      ...options.envOverrides,
    }),
  });
}

/** The service under test on one store: a worker and the API, and direct access to its contacts table. */
export interface Service {
  readonly store: Store;
  /** The recovery phase SIGKILLs it and puts the worker it starts instead here. */
  worker: Child;
  readonly api: Child;
  readonly imports: ImportsApi;
  /** The environment both children run with. */
  readonly env: NodeJS.ProcessEnv;
  readonly admin: StoreAdmin;
  /** Where the worker writes its CPU per stage on `SIGUSR2` (`WORKER_CPU_STAGES_FILE`), when it profiles itself. */
  readonly cpuStagesFile?: string;
}

/** Spawns a compiled worker with the service's node flags; resolves once it polls. */
export async function startWorker(env: NodeJS.ProcessEnv, name = 'worker'): Promise<Child> {
  // BENCH_WORKER_NODE_FLAGS (space-separated) replaces the deployed flags, to measure another heap cap.
  const deployed = process.env.BENCH_WORKER_NODE_FLAGS?.split(' ').filter(Boolean) ?? WORKER_NODE_FLAGS;
  // BENCH_WORKER_MEMORY_DIR: each thread of the worker records where its memory goes (bench/memory-probe.js).
  const flags = process.env.BENCH_WORKER_MEMORY_DIR ? [...deployed, '--require', MEMORY_PROBE] : deployed;
  // The deployed environment first: a bench --env may override it, to measure without.
  const worker = spawnBuilt(name, 'worker/main.ts', { ...WORKER_PROCESS_ENV, ...env }, flags);
  // Plain text or a JSON log line (pino): either says it.
  await worker.waitFor(/worker: polling/, 120_000);
  return worker;
}

/**
 * Starts the worker (`startFirstWorker`, the service's own by default), then the API, on `store`;
 * `teardown` deletes this run's rows from it and closes it. With `cpuStages` the worker profiles
 * itself for the throughput phase's split by stage.
 */
export async function startService(
  run: BenchRun,
  store: Store,
  teardown: Teardown,
  cpuStages = false,
  startFirstWorker: (env: NodeJS.ProcessEnv) => Promise<Child> = startWorker,
): Promise<Service> {
  const env: NodeJS.ProcessEnv = { ...run.baseEnv, PORT: String(await freePort()) };
  if (store === 'postgres') env.DATABASE_URL = run.options.postgresUrl;
  else delete env.DATABASE_URL;
  const cpuStagesFile = cpuStages ? path.join(env.DATA_DIR ?? os.tmpdir(), `cpu-stages-${store}.json`) : undefined;
  if (cpuStagesFile) env.WORKER_CPU_STAGES_FILE = cpuStagesFile;
  // The worker migrates the store first, so the API does not race it on a fresh SQLite file.
  const worker = await startFirstWorker(env);
  // BENCH_API_NODE_FLAGS (space-separated): node flags for the API, `--cpu-prof` say, to profile it under load.
  const api = spawnBuilt('api', 'api/main.ts', env, process.env.BENCH_API_NODE_FLAGS?.split(' ').filter(Boolean));
  const apiUrl = await api.waitFor(/api: listening on (http:\/\/[^\s"]+)/, 60_000);
  const admin = openStoreAdmin(loadConfig(env).database);
  teardown.add(async () => {
    await admin.deleteUsers(run.tag).catch(() => undefined);
    await admin.close();
  });
  return { store, worker, api, imports: importsApi(apiUrl, run.accessToken, run.progress), env, admin, cpuStagesFile };
}

/** Stops the API and the worker, and deletes every row this run left in the store. */
export async function stopService(run: BenchRun, service: Service): Promise<void> {
  await service.api.stop();
  await service.worker.stop();
  await service.admin.deleteUsers(run.tag);
}

/** CPU seconds so far of the service's processes (worker, API, Temporal) and of this bench process. */
export interface ServiceCpu {
  worker: number;
  api: number;
  temporal: number;
  /** This process: the client side (uploads, status polling). */
  bench: number;
  /** The demo provider's process. */
  provider: number;
}

export function serviceCpu(run: BenchRun, service: Service): ServiceCpu {
  const used = process.cpuUsage();
  return {
    worker: cpuSeconds(service.worker.pid),
    api: cpuSeconds(service.api.pid),
    temporal: run.devServer.process.pid ? cpuSeconds(run.devServer.process.pid) : 0,
    bench: (used.user + used.system) / 1e6,
    provider: cpuSeconds(run.provider.pid),
  };
}

/** What each process used between two {@link serviceCpu} snapshots, to the 10 ms `/proc` counts in. */
export function serviceCpuSince(before: ServiceCpu, after: ServiceCpu): ServiceCpu {
  return {
    worker: round(after.worker - before.worker, 2),
    api: round(after.api - before.api, 2),
    temporal: round(after.temporal - before.temporal, 2),
    bench: round(after.bench - before.bench, 2),
    provider: round(after.provider - before.provider, 2),
  };
}
