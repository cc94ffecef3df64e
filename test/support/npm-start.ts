/**
 * `npm start` as a test subject: the real script (`tsx scripts/start.ts`, what `npm start` runs)
 * in a process group of its own, on a temporary DATA_DIR and free ports, its own dev server
 * included. Its parts run in process groups of their own too, so clean-up finds every process of
 * one instance by its DATA_DIR in their environment (/proc), and kills them all, whatever state the
 * test left them in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from '../../scripts/temporal-cli';
import { waitFor } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');

/** Settings that would point `npm start` at the test run's shared server, store or key: not for it. */
const NOT_INHERITED = /^(TEMPORAL_|GOOGLE_PEOPLE_BASE_URL$|MICROSOFT_GRAPH_BASE_URL$|DATABASE_URL$|TOKEN_ENCRYPTION_KEY$|PAYLOAD_ENCRYPTION_KEYS$|DEMO_|IMPORT_|PORT$|HOST$|WORKER_METRICS_ADDRESS$|LOG_)/;

export interface NpmStartPorts {
  api: number;
  temporal: number;
  temporalUi: number;
  demoProvider: number;
  /** The worker's Prometheus endpoint (`WORKER_METRICS_ADDRESS`). */
  workerMetrics: number;
}

export interface NpmStart {
  dataDir: string;
  ports: NpmStartPorts;
  apiUrl: string;
  process: ChildProcess;
  /** Every line it printed so far (its parts' lines prefixed `[part]`). */
  lines: string[];
  /** Resolves with the first line (from now or earlier) matching `pattern`. */
  waitForLine(pattern: RegExp, what: string, timeoutMs?: number): Promise<string>;
  /** Resolves with its exit code once it has exited. */
  exited: Promise<number | null>;
  /** Pids of its processes running `script` (e.g. `worker/main.ts`, `start-dev`). */
  pidsOf(script: string): number[];
  /** The last lines, for failure messages. */
  tail(count?: number): string;
  /** SIGTERM and wait for it (a clean stop, in order); then SIGKILL whatever of it is left. Idempotent. */
  stop(): Promise<void>;
}

/** Processes (pids) whose environment holds `DATA_DIR=<dataDir>`: every part of one instance. */
export function processesOf(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`DATA_DIR=${dataDir}`)) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Starts `npm start` on a fresh DATA_DIR and free ports; resolves once it says it is ready (unless `ready: false`). */
export async function startNpmStart(
  options: {
    env?: NodeJS.ProcessEnv;
    ports?: Partial<NpmStartPorts>;
    ready?: boolean;
    /** Another instance's DATA_DIR (it stopped), to start again on its state; left for its owner to remove. */
    dataDir?: string;
  } = {},
): Promise<NpmStart> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-npm-start-'));
  const ports: NpmStartPorts = {
    api: options.ports?.api ?? (await freePort()),
    temporal: options.ports?.temporal ?? (await freePort()),
    temporalUi: options.ports?.temporalUi ?? (await freePort()),
    demoProvider: options.ports?.demoProvider ?? (await freePort()),
    workerMetrics: options.ports?.workerMetrics ?? (await freePort()),
  };
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!NOT_INHERITED.test(key)) env[key] = value;
  Object.assign(env, {
    DATA_DIR: dataDir,
    PORT: String(ports.api),
    TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.temporalUi),
    DEMO_PROVIDER_PORT: String(ports.demoProvider),
    WORKER_METRICS_ADDRESS: `127.0.0.1:${ports.workerMetrics}`,
    // The tests poll the keyless API every 50 ms, past the per-peer limit meant for real clients;
    // the limit itself is tested in-process (api-limits) and a test may set its own here.
    PEER_RATE_LIMIT_PER_SECOND: '1000',
    PEER_RATE_LIMIT_BURST: '1000',
    ...options.env,
  });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) readline.createInterface({ input: stream }).on('line', (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const tail = (count = 40) => lines.slice(-count).join('\n');

  const waitForLine = (pattern: RegExp, what: string, timeoutMs = 120_000) =>
    waitFor(
      () => {
        const line = lines.find((l) => pattern.test(l));
        if (line) return line;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`npm start exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${tail()}`);
        }
        return undefined;
      },
      `${what} (npm start said:\n${tail()})`,
      timeoutMs,
    );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
        await exited;
        clearTimeout(timer);
      }
      for (const pid of processesOf(dataDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await waitFor(() => processesOf(dataDir).length === 0, `every process of ${dataDir} to end`, 20_000);
      if (ownsDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const instance: NpmStart = {
    dataDir,
    ports,
    apiUrl: `http://127.0.0.1:${ports.api}`,
    process: child,
    lines,
    waitForLine,
    exited,
    pidsOf: (script) => processesOf(dataDir).filter((pid) => commandLine(pid).includes(script)),
    tail,
    stop,
  };
  if (options.ready !== false) {
    try {
      await waitForLine(/^start: ready: /, 'npm start to be ready');
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return instance;
}
