/**
 * An import worker as a process of its own, for tests that SIGKILL it (test/kill-recovery.test.ts)
 * and for the bench's long form of that test. The same `createImportWorker` and activities as
 * `worker/main.ts`, but it loads a workflow bundle the parent built once (`KILL_WORKER_BUNDLE`),
 * so a restart takes a second instead of a webpack run. Keys are the tests' (harness.ts).
 *
 * Environment: `TEMPORAL_ADDRESS`, `KILL_WORKER_QUEUE`, `KILL_WORKER_BUNDLE`, `KILL_WORKER_PROVIDER`,
 * and `DATABASE_URL` (PostgreSQL) or `KILL_WORKER_SQLITE` (a file); `KILL_WORKER_STANDBY=1` waits
 * for a line on stdin before it polls; `IMPORT_FETCH_AHEAD` (1 or 0, default the worker's) and
 * `WORKER_PAGES_IN_FLIGHT` as for `npm run worker`; `KILL_WORKER_PROVIDER_ENV`, a JSON object of
 * more provider variables (`{"GOOGLE_PEOPLE_APP_RATE":"1"}`). Prints `kill-worker: polling`.
 */
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createPageGate } from '../../activities/page-gate';
import { dataConverter } from '../../encryption/data-converter';
import { WORKER_DEFAULTS } from '../../config/defaults';
import { parseInteger } from '../../config/parse';
import { parsePayloadKeys } from '../../config/parse';
import { createTokenSealer } from '../../encryption/token-seal';
import { openStore } from '../../db';
import { createImportWorker } from '../../worker/create-worker';
import { readProviderSettings } from '../../providers';

/** The tests' keys (test/support/harness.ts), not imported from there: that module registers test hooks. */
const TEST_TOKEN_KEY = Buffer.alloc(32, 7);
const TEST_PAYLOAD_KEYS = `test:${Buffer.alloc(32, 9).toString('base64')}`;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const postgresUrl = process.env.DATABASE_URL;
  const store = await openStore(postgresUrl ? { kind: 'postgres', url: postgresUrl } : { kind: 'sqlite', file: required('KILL_WORKER_SQLITE') });
  const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
  const converter = dataConverter(parsePayloadKeys('TEST_PAYLOAD_KEYS', TEST_PAYLOAD_KEYS));
  const worker = await createImportWorker({
    connection,
    namespace: 'default',
    taskQueue: required('KILL_WORKER_QUEUE'),
    workflowBundle: { codePath: required('KILL_WORKER_BUNDLE') },
    heartbeatThrottleMs: 20,
    dataConverter: converter,
    deps: {
      store,
      client: new Client({ connection, namespace: 'default', dataConverter: converter }),
      sealer: createTokenSealer(TEST_TOKEN_KEY),
      sources: {
        providers: readProviderSettings({
          ...(JSON.parse(process.env.KILL_WORKER_PROVIDER_ENV ?? '{}') as NodeJS.ProcessEnv),
          GOOGLE_PEOPLE_BASE_URL: required('KILL_WORKER_PROVIDER'),
        }),
        allowPrivateAddresses: true,
      },
      keepAliveHeartbeatMs: 500,
      pageGate: createPageGate(parseInteger('WORKER_PAGES_IN_FLIGHT', process.env.WORKER_PAGES_IN_FLIGHT, WORKER_DEFAULTS.pagesInFlight[store.kind], { min: 1, max: 10_000 })),
      fetchAhead: parseInteger('IMPORT_FETCH_AHEAD', process.env.IMPORT_FETCH_AHEAD, WORKER_DEFAULTS.fetchAhead, { min: 0, max: 1 }) === 1,
    },
  });
  // A standby (KILL_WORKER_STANDBY=1) is ready but does not poll until it reads a line: the test
  // starts the next worker before it kills this one, so a restart costs no module loading.
  if (process.env.KILL_WORKER_STANDBY === '1') {
    console.log('kill-worker: standing by');
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  }
  const running = worker.run();
  console.log('kill-worker: polling');
  await running;
}

main().catch((err: unknown) => {
  console.error(`kill-worker: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
