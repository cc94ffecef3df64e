/**
 * The `importBatch` activity on its own, through `MockActivityEnvironment`: a real demo provider of
 * {@link CONTACTS} contacts and a real SQLite store, no Temporal server. Heartbeats, retries from
 * heartbeat details (the attempt number) and cancellation are driven by hand, so each test can stop
 * a batch at an exact page.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities/index';
import type { ContactStore, Store } from '../../db/types';
import { type DemoProvider, startDemoProvider } from '../../demo-provider/server';
import { readProviderSettings } from '../../providers';
import { BatchHeartbeat, EMPTY_CHECKPOINT } from '../../workflows/checkpoint';
import type { ImportBatchInput, ImportBatchResult } from '../../workflows/contract';
import { googleCredentials, storeCases, testSealer, uniqueId } from './harness';

/** How many contacts the provider holds: three pages of {@link PAGE_SIZE}, the last one short. */
export const CONTACTS = 2345;
/** Every batch here imports for this tenant (not the default one), so the store's tenant scoping is on the path. */
export const TENANT = 'activities';
const PAGE_SIZE = 1000;
/** What every batch here reads with: a full read (an empty store has nothing to sweep), nothing deleted. */
export const FULL_READ = { mode: 'full', deleted: 0 } as const;
export const DONE = { done: true, checkpoint: { cursor: null, fetched: 2345, saved: 2345, rejected: 0, pages: 3, total: 2345, ...FULL_READ } };

export type ImportBatch = ReturnType<typeof createActivities>['importBatch'];

/** Resolves to what the promise rejects with, failing the test when it resolves instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the activity to fail, but it completed');
}

export async function applicationFailureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await rejectionOf(promise);
  assert.ok(error instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

/** A fresh user with a sealed token for them, and their import; `token` is the clear one the provider sees. */
export function newUser() {
  const userId = uniqueId('activity-user');
  const token = `ya29.${userId}`;
  return { userId, token, sealedCredentials: testSealer.seal(googleCredentials(token)), importKey: uniqueId('import') };
}

/** One attempt of `importBatch` in its own mock environment, and what it heartbeated and logged. */
export interface BatchRun {
  env: MockActivityEnvironment;
  result: Promise<ImportBatchResult>;
  warnings: LogEntry[];
  /** Every heartbeat so far, read with the contract's schema as a retry would read it. */
  readonly heartbeats: BatchHeartbeat[];
}

export interface ImportBatchBench {
  provider: DemoProvider;
  store: Store;
  /** The store as the batches' tenant sees it. */
  contacts: ContactStore;
  deps: ActivityDeps;
  /**
   * Runs one attempt of `importBatch` (or of `batch`, built from other deps) in its own mock
   * environment, collecting every heartbeat and every warning it logs. `info` stands in for what
   * the server would hand a retry (`heartbeatDetails`, `attempt`).
   */
  runBatch(
    input: Pick<ImportBatchInput, 'userId' | 'sealedCredentials' | 'importKey'> & Partial<ImportBatchInput>,
    info?: Partial<Info>,
    batch?: ImportBatch,
  ): BatchRun;
  /** The provider's page tokens served so far, each with how many times it was served. */
  pagesServed(): Array<[string, number]>;
}

/**
 * Registers the calling suite's hooks: the provider, store and activities before it, closed after
 * it; every test starts with the full provider, no faults and fresh request counts, and leaves no
 * page held. The fields are filled by the suite's `before`: read them when a test runs.
 */
export function importBatchBench(): ImportBatchBench {
  let importBatch: ImportBatch;
  const bench = {
    runBatch(input, info = {}, batch = importBatch) {
      const warnings: LogEntry[] = [];
      // Collected rather than printed: expected failures would otherwise each log a stack trace.
      const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('WARN', (entry) => warnings.push(entry)) });
      const details: unknown[] = [];
      env.on('heartbeat', (detail: unknown) => details.push(detail));
      const batchInput: ImportBatchInput = {
        tenant: TENANT,
        provider: 'google-people',
        pageSize: PAGE_SIZE,
        maxPages: 10,
        checkpoint: EMPTY_CHECKPOINT,
        mode: 'full',
        ...input,
      };
      const result: Promise<ImportBatchResult> = env.run(batch, batchInput);
      return {
        env,
        result,
        warnings,
        get heartbeats(): BatchHeartbeat[] {
          return details.map((detail) => BatchHeartbeat.parse(detail));
        },
      };
    },
    pagesServed: () => [...bench.provider.stats.pageTokensServed],
  } as ImportBatchBench;

  before(async () => {
    const sqlite = storeCases()[0];
    assert.ok(sqlite, 'the harness offers no SQLite store case');
    bench.provider = await startDemoProvider({ contacts: CONTACTS });
    bench.store = await sqlite.open();
    bench.contacts = bench.store.tenant(TENANT);
    bench.deps = {
      store: bench.store,
      sealer: testSealer,
      sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: bench.provider.url }) },
      // Far above any test's length: the only heartbeats are the per-page ones, so they can be counted exactly.
      keepAliveHeartbeatMs: 600_000,
    };
    ({ importBatch } = createActivities(bench.deps));
  });

  after(async () => {
    await bench.store?.close();
    await bench.provider?.close();
  });

  beforeEach(() => {
    bench.provider.configure({ contacts: CONTACTS, faults: {} });
    bench.provider.resetStats();
  });

  // A test that fails while a page is held must not leave it held for the next one.
  afterEach(() => {
    bench.provider.configure({ faults: {} });
  });

  return bench;
}
