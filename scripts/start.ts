/**
 * `npm start`: the whole service on one machine, on the embedded defaults.
 *
 * - a Temporal dev server keeping its state in `<DATA_DIR>/temporal.db`, Web UI on :8233
 *   (skipped when `TEMPORAL_ADDRESS` points at a cluster);
 * - the demo provider on :8090 (skipped when `GOOGLE_PEOPLE_BASE_URL` is set);
 * - one worker and the API on `PORT` (3000).
 *
 * Ctrl-C stops everything it started. If any part dies, the rest are stopped too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { loadConfig } from '../config';
import { WORKER_NODE_FLAGS } from '../config/defaults';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { startDevServer, type DevServer } from './temporal-cli';

const ROOT = path.resolve(__dirname, '..');

function prefixed(name: string, stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void {
  if (!stream) return;
  readline.createInterface({ input: stream }).on('line', (line) => out.write(`[${name}] ${line}\n`));
}

function run(name: string, script: string, env: NodeJS.ProcessEnv, nodeFlags: readonly string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', path.join(ROOT, script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own: Ctrl-C reaches only this script, which then stops each part once,
    // in order. Otherwise the worker got SIGINT from the terminal and SIGTERM from us, and the
    // second signal cut its graceful shutdown short.
    detached: true,
  });
  prefixed(name, child.stdout, process.stdout);
  prefixed(name, child.stderr, process.stderr);
  return child;
}

function waitForLine(child: ChildProcess, pattern: RegExp, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Closing this reader would pause the stream for the one that prefixes output: just stop looking.
    let found = false;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = found ? null : pattern.exec(line);
      if (match) {
        found = true;
        resolve(match[1] ?? line);
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (code ${code}) before it was ready`)));
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: config.dataDir };
  const children: ChildProcess[] = [];
  let devServer: DevServer | undefined;
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('start: stopping…');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
    await devServer?.stop();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stopAll(0));

  try {
    if (!process.env.TEMPORAL_ADDRESS) {
      devServer = await startDevServer({
        dbFile: path.join(config.dataDir, 'temporal.db'),
        port: config.devServer.port,
        uiPort: config.devServer.uiPort,
        searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS,
        log: (line) => console.log(`[temporal] ${line}`),
      });
      env.TEMPORAL_ADDRESS = devServer.address;
      console.log(`start: Temporal dev server on ${devServer.address}, Web UI ${devServer.uiUrl}`);
    } else {
      console.log(`start: using Temporal at ${process.env.TEMPORAL_ADDRESS} (run \`npm run temporal:setup\` once per cluster)`);
    }

    if (!process.env.GOOGLE_PEOPLE_BASE_URL) {
      const provider = run('demo-provider', 'demo-provider/main.ts', env);
      children.push(provider);
      env.GOOGLE_PEOPLE_BASE_URL = await waitForLine(provider, /(https?:\/\/\S+)/, 'demo provider');
      console.log(`start: demo provider on ${env.GOOGLE_PEOPLE_BASE_URL} (any access token works)`);
    }

    children.push(run('worker', 'worker/main.ts', env, WORKER_NODE_FLAGS), run('api', 'api/main.ts', env));
    for (const child of children) {
      child.once('exit', (code, signal) => {
        if (stopping) return;
        console.error(`start: a process exited unexpectedly (code ${code}, signal ${signal}); stopping the rest`);
        void stopAll(1);
      });
    }
  } catch (err) {
    console.error(`start: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll(1);
  }
}

void main();
