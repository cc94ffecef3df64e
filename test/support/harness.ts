/**
 * Test harness: one real Temporal dev server per run (started by `scripts/run-tests.ts`, or here
 * when a file is run on its own), workflow code bundled once, a fresh worker per test on its own
 * task queue, and real stores (SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { dataConverter } from '../../encryption/data-converter';
import type { ConnectionGate } from '../../activities/connection-gate';
import { DEFAULT_GIVE_UP_AFTER_SECONDS, type OutboundLimits } from '../../config/defaults';
import { parsePayloadKeys } from '../../config/parse';
import { createTokenSealer, type TokenSealer } from '../../encryption/token-seal';
import { openStore } from '../../db';
import type { Store } from '../../db/types';
import { bundleWorkflowsInThread } from '../../worker/bundle-workflows';
import { createImportWorker } from '../../worker/create-worker';
import type { HeapHeadroom } from '../../worker/heap-headroom';
import { SEARCH_ATTRIBUTE_DEFINITIONS, type ImportTuning } from '../../workflows/contract';
import { startDevServer, type DevServer } from '../../scripts/temporal-cli';
import { readProviderSettings } from '../../providers';
import type { OAuthCredentials } from '../../providers/kit/oauth-source';

export const NAMESPACE = process.env.TEMPORAL_NAMESPACE || 'default';

// Workers log every state change at INFO; tests only want to see what went wrong.
Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * Clean-ups for what the harness opened lazily. Registered once on the file's root test (this
 * module is imported at the top of each test file), so they run after every suite of the file.
 */
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A fresh id, unique across tests and runs, safe in user ids and task queue names. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

let serverPromise: Promise<{ address: string; server?: DevServer }> | undefined;

/** The run's dev server; starts one only when this file runs outside `npm test`. */
export function temporalAddress(): Promise<string> {
  serverPromise ??= process.env.TEMPORAL_ADDRESS
    ? Promise.resolve({ address: process.env.TEMPORAL_ADDRESS })
    : startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS }).then((server) => {
        cleanups.push(() => server.stop());
        return { address: server.address, server };
      });
  return serverPromise.then((s) => s.address);
}

export interface TemporalHandles {
  address: string;
  client: Client;
  nativeConnection: NativeConnection;
}

let temporalPromise: Promise<TemporalHandles> | undefined;

/** Client and worker connections to the run's server, shared by the tests of one file. */
export function temporal(): Promise<TemporalHandles> {
  temporalPromise ??= (async () => {
    const address = await temporalAddress();
    const connection = await Connection.connect({ address });
    const nativeConnection = await NativeConnection.connect({ address });
    cleanups.push(async () => {
      await connection.close();
      await nativeConnection.close();
    });
    const client = new Client({
      connection,
      namespace: NAMESPACE,
      dataConverter: testDataConverter,
      workflow: { queryRejectCondition: 'NOT_OPEN' },
    });
    return { address, client, nativeConnection };
  })();
  return temporalPromise;
}

let bundlePromise: Promise<{ code: string } | { codePath: string }> | undefined;

/** Workflow code bundled once per run (`TEST_WORKFLOW_BUNDLE`) or once per file. */
export function workflowBundle(): Promise<{ code: string } | { codePath: string }> {
  const prebuilt = process.env.TEST_WORKFLOW_BUNDLE;
  bundlePromise ??=
    prebuilt && fs.existsSync(prebuilt) ? Promise.resolve({ codePath: prebuilt }) : bundleWorkflowsInThread();
  return bundlePromise;
}


/**
 * How imports started by tests are cut: small pages, so a few thousand contacts make several
 * batches; no re-auth window, so rejected credentials fail the import at once.
 */
export const TEST_TUNING: ImportTuning = {
  pageSize: 100,
  pagesPerBatch: 2,
  maxBatchesPerRun: 100,
  reauthTimeoutSeconds: 0,
  giveUpAfterSeconds: DEFAULT_GIVE_UP_AFTER_SECONDS,
};

export const testSealer: TokenSealer = createTokenSealer(Buffer.alloc(32, 7));

/** The credentials the API seals for a Google source with this access token and no refresh token. */
export function googleCredentials(accessToken: string): string {
  return JSON.stringify({ accessToken, refreshToken: null } satisfies OAuthCredentials);
}
export const TEST_TOKEN_KEY = Buffer.alloc(32, 7).toString('base64');

/** The payload keyring of every test client and worker (`PAYLOAD_ENCRYPTION_KEYS` for child processes). */
export const TEST_PAYLOAD_KEYS = `test:${Buffer.alloc(32, 9).toString('base64')}`;
/** The service's data converter (encrypted payloads and failures) over the test keyring. */
export const testDataConverter = dataConverter(parsePayloadKeys('TEST_PAYLOAD_KEYS', TEST_PAYLOAD_KEYS));
/** What a spawned worker or API needs to share keys with the in-process test clients. */
export const TEST_KEYS_ENV: NodeJS.ProcessEnv = {
  TOKEN_ENCRYPTION_KEY: TEST_TOKEN_KEY,
  PAYLOAD_ENCRYPTION_KEYS: TEST_PAYLOAD_KEYS,
  // Not a key, but what every spawned test worker needs too: its sources are on loopback.
  SOURCES_ALLOW_PRIVATE_ADDRESSES: 'true',
};

export interface StoreCase {
  name: 'sqlite' | 'postgres';
  /** `DATABASE_URL`/`DATA_DIR` for child processes using the same store. */
  env: NodeJS.ProcessEnv;
  open(): Promise<Store>;
}

/** SQLite always; PostgreSQL when `TEST_DATABASE_URL` is set (`.ci/run` sets it). */
export function storeCases(): Array<StoreCase & { skip?: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-test-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const sqliteFile = path.join(dataDir, 'contacts.db');
  const pgUrl = process.env.TEST_DATABASE_URL;
  return [
    {
      name: 'sqlite',
      env: { DATA_DIR: dataDir, DATABASE_URL: '', ...TEST_KEYS_ENV },
      open: () => openStore({ kind: 'sqlite', file: sqliteFile }),
    },
    {
      name: 'postgres',
      env: { DATA_DIR: dataDir, DATABASE_URL: pgUrl ?? '', ...TEST_KEYS_ENV },
      open: () => openStore({ kind: 'postgres', url: pgUrl ?? '' }),
      ...(pgUrl ? {} : { skip: 'set TEST_DATABASE_URL=postgres://… to run against PostgreSQL (.ci/run does)' }),
    },
  ];
}

export interface WorkerSetup {
  store: Store;
  /** The Google People base URL (the demo provider's). */
  providerUrl: string;
  taskQueue: string;
  heartbeatThrottleMs?: number;
  /** The worker's outbound limits (short ones, for a test of them); the defaults when absent. */
  outboundLimits?: OutboundLimits;
  /** The worker's connection gate; one of the default size when absent. */
  connectionGate?: ConnectionGate;
  /** A heap headroom to count the worker's batches (`worker/heap-headroom.ts`); none by default. */
  heapHeadroom?: HeapHeadroom;
  /** More provider settings, as environment variables (`MICROSOFT_GRAPH_BASE_URL`, an OAuth client). */
  providerEnv?: NodeJS.ProcessEnv;
}

/** A fresh worker on the test's own task queue, with real activities. */
export async function startWorker(setup: WorkerSetup): Promise<Worker> {
  const { nativeConnection, client } = await temporal();
  return createImportWorker({
    connection: nativeConnection,
    namespace: NAMESPACE,
    taskQueue: setup.taskQueue,
    workflowBundle: await workflowBundle(),
    heartbeatThrottleMs: setup.heartbeatThrottleMs ?? 20,
    dataConverter: testDataConverter,
    ...(setup.heapHeadroom ? { heapHeadroom: setup.heapHeadroom } : {}),
    deps: {
      store: setup.store,
      client,
      sealer: testSealer,
      // The test servers (demo provider, Radicale) are on loopback.
      sources: {
        providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: setup.providerUrl, ...setup.providerEnv }),
        allowPrivateAddresses: true,
        ...(setup.outboundLimits ? { outboundLimits: setup.outboundLimits } : {}),
      },
      ...(setup.connectionGate ? { connectionGate: setup.connectionGate } : {}),
      keepAliveHeartbeatMs: 500,
    },
  });
}

/**
 * Polls `check` until it returns a value other than `undefined`/`false`. The timeout is a safety
 * net for a broken build, not a speed assumption: it is generous.
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
