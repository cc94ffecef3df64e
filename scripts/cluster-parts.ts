/**
 * {@link startCluster}: the production-shaped deployment on one machine, as supervised parts.
 * Temporal's four services as separate processes on PostgreSQL, the namespace and search
 * attributes registered, then N workers and N APIs on the project's PostgreSQL store, the demo
 * provider unless a source is given, and the Web UI when its server could be built.
 * `scripts/cluster.ts` (`npm run cluster`) and `scripts/chaos.ts` (`npm run chaos`) both use it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../config';
import { WORKER_DEFAULTS, WORKER_NODE_FLAGS, WORKER_PROCESS_ENV } from '../config/defaults';
import { loadPayloadKeyring } from '../encryption/payload-keys';
import { loadTokenKey } from '../encryption/token-seal';
import { openStore } from '../db';
import {
  binaryPart,
  HISTORY_SHARDS,
  installTemporalServer,
  installUiServer,
  migrateTemporalDatabases,
  serverModuleDir,
  TEMPORAL_SERVICES,
  TEMPORAL_UI_SERVER_BIN,
  temporalServicePart,
  writeServiceConfigs,
  type ServicePorts,
  type TemporalDatabase,
} from './cluster-temporal';
import { nodeScriptPart, Supervisor, type PartSpec, type RestartPolicy } from './supervisor';
import { portIsFree } from './port-owner';
import { freePort } from './temporal-cli';
import { ensureNamespace } from './temporal-namespace';

const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);

/** Where each part listens by default; `CLUSTER_TEMPORAL_PORT=0` picks free ports for everything. */
export const CLUSTER_PORT_DEFAULTS = { temporal: 7233, ui: 8080, api: 3100, provider: 8190 } as const;

/** Every port of the cluster, fixed before anything starts so a restarted part comes back where the others look. */
export interface ClusterPorts {
  temporal: ServicePorts;
  ui: number;
  apis: number[];
  provider: number;
}

/**
 * The ports to use. From the front end's gRPC port the others follow the module template's
 * layout (history +1, matching +2, worker +6, membership −300, metrics +2000); 0 picks free ones.
 */
export async function clusterPorts(base: { temporal: number; ui: number; api: number; provider: number }, apis: number): Promise<ClusterPorts> {
  const offsets = { frontend: 0, history: 1, matching: 2, worker: 6 } as const;
  const layout = (at: number) => {
    const temporal = { frontendHttp: at + 10 } as ServicePorts;
    for (const service of TEMPORAL_SERVICES) {
      const grpc = at + offsets[service];
      temporal[service] = { grpc, membership: grpc - 300, metrics: grpc + 2000 };
    }
    return temporal;
  };
  const temporal = layout(base.temporal === 0 ? await freeTemporalBase(layout) : base.temporal);
  const apiPorts: number[] = [];
  for (let i = 0; i < apis; i++) apiPorts.push(base.api === 0 ? await freePort() : base.api + i);
  return {
    temporal,
    ui: base.ui === 0 ? await freePort() : base.ui,
    apis: apiPorts,
    provider: base.provider === 0 ? await freePort() : base.provider,
  };
}

/** Every port of a Temporal layout. */
const layoutPorts = (ports: ServicePorts) =>
  Object.values(ports).flatMap((p) => (typeof p === 'number' ? [p] : [p.grpc, p.membership, p.metrics]));

/**
 * A front-end port whose whole layout is free, below 30000: Temporal stores membership ports in a
 * smallint column, so the OS's ephemeral ports (32768 and up) are out. Starts at a place of its
 * own (from the process id) so that two runs side by side rarely probe the same ports.
 */
async function freeTemporalBase(layout: (at: number) => ServicePorts): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const at = 10_300 + (((process.pid + i) * 20) % 17_000);
    const ports = layoutPorts(layout(at));
    const free = await Promise.all(ports.map((port) => portIsFree(port, '127.0.0.1')));
    if (free.every(Boolean)) return at;
  }
  throw new Error('no free range of ports for Temporal below 30000');
}

export interface ClusterOptions {
  /** Keys, logs and the generated Temporal config live here (`DATA_DIR`). */
  dataDir: string;
  temporalDb: TemporalDatabase;
  /** The project's store: `DATABASE_URL`, a postgres:// URL. */
  databaseUrl: string;
  ports: ClusterPorts;
  workers: number;
  /** The People API the workers read; the demo provider is started when absent. */
  providerUrl?: string;
  /** Run the Web UI when its server can be built (default true). */
  ui?: boolean;
  /** What every worker and API gets besides what the cluster sets (keys, tuning). */
  env?: NodeJS.ProcessEnv;
  /**
   * The caller's, made with {@link clusterSupervisor} before anything starts, so that a Ctrl-C
   * while the cluster is still coming up stops what has started.
   */
  supervisor: Supervisor;
  say?: (line: string) => void;
}

export interface Cluster {
  /** `host:port` of the front end, for `TEMPORAL_ADDRESS`. */
  temporalAddress: string;
  apiUrls: string[];
  uiUrl?: string;
  /** Why there is no Web UI, when there is none. */
  uiMissing?: string;
  providerUrl: string;
  supervisor: Supervisor;
  /** The process a part runs now (changes when it is restarted), for the chaos runs. */
  processOf(part: string): ChildProcess | undefined;
  /** Every part, last started first. */
  stop(): Promise<void>;
}

/** `spec` with its process remembered in `processes` under its name, across restarts. */
function tracked(spec: PartSpec, processes: Map<string, ChildProcess>): PartSpec {
  return {
    ...spec,
    launch: (io) =>
      spec.launch({
        ...io,
        spawned: (child) => {
          processes.set(spec.name, child);
          io.spawned(child);
        },
      }),
  };
}

function nodePart(name: string, script: string, env: NodeJS.ProcessEnv, ready: RegExp, stopGraceMs: number, flags: readonly string[] = []): PartSpec {
  return nodeScriptPart(name, { args: [...flags, '--import', 'tsx', path.join(ROOT, script)], cwd: ROOT, env, ready, stopGraceMs });
}

/** Worker `index`'s environment: its own metrics port (`WORKER_METRICS_ADDRESS` host:port + index) when metrics are on. */
function workerEnv(env: NodeJS.ProcessEnv, index: number): NodeJS.ProcessEnv {
  const match = /^(.*):(\d+)$/.exec(env.WORKER_METRICS_ADDRESS?.trim() ?? '');
  if (!match) return env;
  return { ...env, WORKER_METRICS_ADDRESS: `${match[1]}:${Number(match[2]) + index}` };
}

/** The ui-server's config: our front end, our API's codec server, the UI on `port`. */
function writeUiConfig(dir: string, temporalAddress: string, port: number, codecEndpoint: string): void {
  const configDir = path.join(dir, 'ui', 'config');
  fs.mkdirSync(configDir, { recursive: true });
  fs.writeFileSync(
    path.join(configDir, 'cluster.yaml'),
    [
      `temporalGrpcAddress: ${temporalAddress}`,
      'host: 127.0.0.1',
      `port: ${port}`,
      'enableUi: true',
      'defaultNamespace: default',
      'codec:',
      `  endpoint: ${codecEndpoint}`,
      '',
    ].join('\n'),
  );
}

/** Temporal's services log JSON lines: on the console only their errors, by message (the log file has all). */
function echoLine(part: string, line: string, stream: 'stdout' | 'stderr'): void {
  if (part.startsWith('temporal-') && line.startsWith('{')) {
    const level = /"level":"(\w+)"/.exec(line)?.[1];
    if (level !== 'error' && level !== 'fatal' && level !== 'panic') return;
    line = `${level}: ${/"msg":"([^"]*)"/.exec(line)?.[1] ?? line}`;
  }
  (stream === 'stderr' ? process.stderr : process.stdout).write(`[${part}] ${line}\n`);
}

/** The supervisor for {@link startCluster}: its logs under `<dataDir>/cluster/logs`. */
export function clusterSupervisor(
  dataDir: string,
  options: { onGiveUp: (message: string) => void; policy?: RestartPolicy; say?: (line: string) => void; quiet?: boolean },
): Supervisor {
  return new Supervisor({
    logDir: path.join(dataDir, 'cluster', 'logs'),
    onGiveUp: options.onGiveUp,
    policy: options.policy,
    say: options.say,
    echo: options.quiet ? () => undefined : echoLine,
  });
}

/**
 * Temporal's four services of a cluster, started as parts with `start` (from `<dir>/config`), then
 * the `default` namespace answering and `npm run temporal:setup` run against it; resolves to the
 * front end's `host:port`. `fairness: false` turns `matching.enableFairness` off (the fairness bench).
 */
export async function startTemporalServices(options: {
  dir: string;
  temporalDb: TemporalDatabase;
  ports: ServicePorts;
  start: (spec: PartSpec) => Promise<void>;
  say: (line: string) => void;
  fairness?: boolean;
}): Promise<string> {
  const { dir, temporalDb, ports, start, say } = options;
  const temporalAddress = `127.0.0.1:${ports.frontend.grpc}`;
  installTemporalServer(say);
  const moduleDir = serverModuleDir();
  await migrateTemporalDatabases(temporalDb, moduleDir, say);
  writeServiceConfigs(dir, moduleDir, temporalDb, ports, { fairness: options.fairness });
  for (const service of TEMPORAL_SERVICES) {
    await start(temporalServicePart(service, dir, temporalDb, ports));
    say(`cluster: temporal ${service} on 127.0.0.1:${ports[service].grpc}`);
  }
  // Registered and answering: temporal:setup's first call names it.
  await ensureNamespace(temporalAddress, 'default', say);
  const setup = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'temporal-setup.ts')], {
    cwd: ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: 'default' },
  });
  say(`cluster: npm run temporal:setup: ${setup.stdout.trim().split('\n').pop() ?? ''}`);
  return temporalAddress;
}

/**
 * Builds what is missing, prepares both databases and starts every part; rejects (having stopped
 * what it started) when one cannot start.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const say = options.say ?? ((line: string) => console.log(line));
  const { ports, temporalDb } = options;
  const dir = path.join(options.dataDir, 'cluster');
  fs.mkdirSync(dir, { recursive: true });
  const processes = new Map<string, ChildProcess>();
  const { supervisor } = options;
  const start = (spec: PartSpec) => supervisor.start(tracked(spec, processes));
  const temporalAddress = `127.0.0.1:${ports.temporal.frontend.grpc}`;
  const cluster: Cluster = {
    temporalAddress,
    apiUrls: [],
    providerUrl: options.providerUrl ?? `http://127.0.0.1:${ports.provider}`,
    supervisor,
    processOf: (part) => processes.get(part),
    stop: () => supervisor.stop(),
  };
  try {
    await startTemporalServices({ dir, temporalDb, ports: ports.temporal, start, say });

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      DATA_DIR: options.dataDir,
      DATABASE_URL: options.databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_UI_PORT: String(ports.ui),
      HOST: '127.0.0.1',
      SOURCES_ALLOW_PRIVATE_ADDRESSES: process.env.SOURCES_ALLOW_PRIVATE_ADDRESSES || 'true',
    };
    // Created once here, so the workers and APIs starting side by side read the same key files,
    // and the store migrated once before they open it.
    const config = loadConfig(env);
    loadTokenKey(config);
    loadPayloadKeyring(config);
    const store = await openStore({ kind: 'postgres', url: options.databaseUrl });
    await store.close();

    if (!options.providerUrl) {
      await start(
        nodePart('demo-provider', 'demo-provider/main.ts', { ...env, DEMO_PROVIDER_PORT: String(ports.provider) }, /(https?:\/\/\S+)/, 5_000),
      );
    }
    // The demo provider speaks both protocols: Google People and Microsoft Graph.
    env.GOOGLE_PEOPLE_BASE_URL = cluster.providerUrl;
    env.MICROSOFT_GRAPH_BASE_URL = cluster.providerUrl;
    const workerGrace = WORKER_DEFAULTS.shutdownGraceMs + 5_000;
    await Promise.all([
      ...Array.from({ length: options.workers }, (_, i) =>
        start(nodePart(`worker-${i + 1}`, 'worker/main.ts', { ...WORKER_PROCESS_ENV, ...workerEnv(env, i) }, /worker: polling/, workerGrace, WORKER_NODE_FLAGS)),
      ),
      ...ports.apis.map((port, i) =>
        start(nodePart(`api-${i + 1}`, 'api/main.ts', { ...env, PORT: String(port) }, /api: listening on/, 10_000)),
      ),
    ]);
    cluster.apiUrls = ports.apis.map((port) => `http://127.0.0.1:${port}`);

    if (options.ui !== false) {
      const missing = installUiServer(say);
      if (missing) {
        cluster.uiMissing = missing;
      } else {
        writeUiConfig(dir, temporalAddress, ports.ui, `${cluster.apiUrls[0]}/codec`);
        await start(
          binaryPart('temporal-ui', {
            bin: TEMPORAL_UI_SERVER_BIN,
            args: ['--root', path.join(dir, 'ui'), '--config', 'config', '--env', 'cluster', 'start'],
            env: { PATH: process.env.PATH, HOME: process.env.HOME },
            cwd: dir,
            readyPort: ports.ui,
            stopGraceMs: 5_000,
          }),
        );
        cluster.uiUrl = `http://127.0.0.1:${ports.ui}`;
      }
    }
    say(
      `cluster: ${TEMPORAL_SERVICES.length} Temporal services (${HISTORY_SHARDS} history shards) on ${temporalDb.host}:${temporalDb.port}, ` +
        `${options.workers} workers, ${ports.apis.length} APIs`,
    );
    return cluster;
  } catch (err) {
    await supervisor.stop();
    throw err;
  }
}
