/**
 * What `npm test` runs after the type check and lint: one Temporal dev server for the whole run
 * (headless, in memory, on a free port, search attributes registered), then Node's test runner
 * over `test/**\/*.test.ts` with `TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE` pointing at it.
 *
 *   npm test                                   every test file
 *   npm test -- test/api.test.ts               just those files
 *   npm test -- --test-name-pattern=pause      extra flags go to `node --test`
 *
 * Exits with the test runner's exit code; the server is stopped in every case.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowsInThread } from '../worker/bundle-workflows';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { startDevServer, type DevServer } from './temporal-cli';

const PROJECT_DIR = path.resolve(__dirname, '..');
const TEST_DIR = path.join(PROJECT_DIR, 'test');
const SERVER_LOG = path.join(TEST_DIR, 'artifacts', 'temporal-dev-server.log');
const WORKFLOW_BUNDLE = path.join(TEST_DIR, 'artifacts', 'workflow-bundle.js');

/**
 * Files share the one server and every test uses its own workflow ids, so files may run side by
 * side; more than two at once only makes them fight for the CI machine's two cores.
 */
const CONCURRENCY = Math.max(1, Math.min(2, os.availableParallelism()));

/** `test/**\/*.test.ts`, sorted; Node 20's `--test` does not expand TypeScript globs itself. */
function findTestFiles(): string[] {
  if (!fs.existsSync(TEST_DIR)) return [];
  return fs
    .readdirSync(TEST_DIR, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') && !file.split(path.sep).includes('artifacts'))
    .map((file) => path.join(TEST_DIR, file))
    .sort();
}

/** Connection settings for some other cluster must not leak into tests that talk to the dev server. */
function testEnv(server: DevServer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^TEMPORAL_(API_KEY|TLS|PROFILE)/.test(key)) env[key] = value;
  }
  env.TEMPORAL_ADDRESS = server.address;
  env.TEMPORAL_NAMESPACE = 'default';
  env.TEST_WORKFLOW_BUNDLE = WORKFLOW_BUNDLE;
  return env;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? os.constants.signals[signal] : undefined;
  return number ? 128 + number : 1;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const nodeFlags = args.filter((arg) => arg.startsWith('-'));
  const requested = args.filter((arg) => !arg.startsWith('-')).map((file) => path.resolve(file));
  const missing = requested.filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    console.error(`No such test file: ${missing.join(', ')}`);
    return 1;
  }
  const files = requested.length > 0 ? requested : findTestFiles();
  if (files.length === 0) {
    console.error(`No test files found: expected test/**/*.test.ts under ${TEST_DIR}`);
    return 1;
  }

  fs.mkdirSync(path.dirname(SERVER_LOG), { recursive: true });
  const log = fs.createWriteStream(SERVER_LOG);
  let server: DevServer;
  try {
    server = await startDevServer({
      headless: true,
      searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS,
      log: (line) => log.write(`${line}\n`),
    });
  } catch (err) {
    log.end();
    console.error(`Could not start the Temporal dev server for the tests:\n${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  console.log(`Temporal dev server for this run: ${server.address} (in memory; log: ${path.relative(PROJECT_DIR, SERVER_LOG)})`);

  // Bundle the workflow code once for every test file (each would otherwise spend seconds on it).
  const bundle = await bundleWorkflowsInThread();
  fs.writeFileSync(WORKFLOW_BUNDLE, bundle.code);

  let child: ChildProcess | undefined;
  let interrupted = 0;
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted++;
    interruptedBy ??= signal;
    // First signal: let the test runner stop and report; a second one does not wait.
    if (child && child.exitCode === null) child.kill(interrupted > 1 ? 'SIGKILL' : signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    child = spawn(
      process.execPath,
      // --test-force-exit: a file whose `before` failed (its store would not open, say) may leave a
      // server its `after` never reached; without this the run waited on it forever, a failure
      // turned into a hang until CI's timeout.
      ['--import', 'tsx', '--test', '--test-force-exit', '--test-reporter=spec', `--test-concurrency=${CONCURRENCY}`, ...nodeFlags, ...files],
      { cwd: PROJECT_DIR, env: testEnv(server), stdio: 'inherit' },
    );
    const spawned = child;
    const code = await new Promise<number>((resolve) => {
      spawned.once('error', (err) => {
        console.error(`Could not run the test runner: ${err.message}`);
        resolve(1);
      });
      spawned.once('exit', (exitCode, signal) => resolve(exitCodeOf(exitCode, signal)));
    });
    if (interruptedBy) {
      console.error(`Interrupted by ${interruptedBy}; stopping the Temporal dev server.`);
      return exitCodeOf(null, interruptedBy);
    }
    if (code !== 0) console.error(`Tests failed (exit code ${code}); Temporal dev server log: ${SERVER_LOG}`);
    return code;
  } finally {
    await server.stop();
    log.end();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
