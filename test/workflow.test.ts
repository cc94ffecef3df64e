/**
 * ImportContacts with a real worker against the run's Temporal dev server, a real demo provider
 * over HTTP and a real SQLite store.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import type { ContactStore } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { ImportContacts } from '../workflows';
import {
  importWorkflowId,
  searchAttributes,
  statusQuery,
  pauseSignal,
  resumeSignal,
  type ImportInput,
  type ImportTuning,
  MEMO_PROGRESS_KEY,
  type ImportStatus,
} from '../workflows/contract';
import { storeCases, startWorker, temporal, testSealer, uniqueId, waitFor, workflowBundle } from './support/harness';

/** Histories recorded from earlier versions of the workflow code, committed. */
const FIXTURES = path.join(__dirname, 'fixtures');
/** The history this run records, git-ignored. */
const LATEST = path.join(__dirname, 'artifacts', 'import-contacts.latest.history.json');

function input(userId: string, tuning: Partial<ImportTuning> = {}, token = 'token'): ImportInput {
  return {
    userId,
    provider: 'google-people',
    sealedAccessToken: testSealer.seal(token),
    tuning: { pageSize: 100, pagesPerBatch: 2, maxBatchesPerRun: 100, ...tuning },
    startedAt: new Date().toISOString(),
  };
}

describe('ImportContacts workflow', () => {
  let provider: DemoProvider;
  let store: ContactStore;

  before(async () => {
    provider = await startDemoProvider({ contacts: 2_500 });
    store = await storeCases()[0]!.open();
  });
  after(async () => {
    await provider.close();
    await store.close();
  });

  /** Starts an import on a fresh task queue; the test body runs while the worker does. */
  async function withImport<T>(
    tuning: Partial<ImportTuning>,
    body: (ctx: { userId: string; handle: Awaited<ReturnType<typeof start>>; worker: Worker }) => Promise<T>,
    token = 'token',
  ): Promise<T> {
    const taskQueue = uniqueId('wf');
    const userId = uniqueId('user');
    const worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    const handle = await start(userId, taskQueue, tuning, token);
    return worker.runUntil(body({ userId, handle, worker }));
  }

  async function start(userId: string, taskQueue: string, tuning: Partial<ImportTuning>, token: string) {
    const { client } = await temporal();
    return client.workflow.start(ImportContacts, {
      taskQueue,
      workflowId: importWorkflowId('google-people', userId),
      args: [input(userId, tuning, token)],
      typedSearchAttributes: [
        { key: searchAttributes.userId, value: userId },
        { key: searchAttributes.provider, value: 'google-people' },
        { key: searchAttributes.state, value: 'running' },
        { key: searchAttributes.contactsSaved, value: 0 },
      ],
    });
  }

  it('imports every contact once and returns counts, not contacts', async () => {
    await withImport({ pageSize: 1000, pagesPerBatch: 10 }, async ({ userId, handle }) => {
      const summary = await handle.result();
      assert.equal(summary.state, 'completed');
      assert.equal(summary.saved, 2_500);
      assert.equal(summary.fetched, 2_500);
      assert.equal(summary.pages, 3);
      assert.equal(summary.total, 2_500);
      assert.ok(summary.completedAt, 'a completed import says when it completed');
      assert.equal(await store.countContacts(userId, 'google-people'), 2_500);

      const history = await handle.fetchHistory();
      const serialized = JSON.stringify(history);
      assert.ok(!serialized.includes('Lovelace'), 'no contact data in workflow history');
      assert.ok(!serialized.includes('"token"'), 'the access token travels sealed, never in clear');
      fs.mkdirSync(path.dirname(LATEST), { recursive: true });
      fs.writeFileSync(LATEST, historyToJSON(history));
    });
  });

  it('gives the same result when it continues as new after every batch', async () => {
    await withImport({ pageSize: 100, pagesPerBatch: 3, maxBatchesPerRun: 1 }, async ({ userId, handle }) => {
      const { client } = await temporal();
      // `result()` follows the continue-as-new chain to its last run.
      const summary = await handle.result();
      assert.deepEqual(
        { state: summary.state, saved: summary.saved, fetched: summary.fetched, pages: summary.pages },
        { state: 'completed', saved: 2_500, fetched: 2_500, pages: 25 },
      );
      assert.equal(await store.countContacts(userId, 'google-people'), 2_500);
      const runs = await client.workflow.count(`WorkflowId = '${handle.workflowId}'`);
      assert.equal(runs.count, 9, '25 pages in batches of 3 make 9 runs of one batch each');
      const last = await client.workflow.getHandle(handle.workflowId).describe();
      assert.notEqual(last.runId, handle.firstExecutionRunId);
      assert.equal(last.typedSearchAttributes.get(searchAttributes.userId), userId, 'operators still find it by user');
      assert.equal(last.typedSearchAttributes.get(searchAttributes.provider), 'google-people');
      assert.equal(last.typedSearchAttributes.get(searchAttributes.contactsSaved), 2_500);
      assert.equal((last.memo?.[MEMO_PROGRESS_KEY] as ImportStatus).saved, 2_500);
    });
  });

  it('stops at a page boundary when cancelled, keeping what it saved', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    try {
      await withImport({ pageSize: 100, pagesPerBatch: 10 }, async ({ userId, handle }) => {
        await waitFor(async () => (await store.countContacts(userId, 'google-people')) === 300, '3 pages saved');
        await handle.cancel();
        const err = await handle.result().then(
          () => assert.fail('a cancelled import must not complete'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
        const description = await handle.describe();
        assert.equal(description.status.name, 'CANCELLED');
        const progress = description.memo?.[MEMO_PROGRESS_KEY] as ImportStatus;
        assert.equal(progress.state, 'cancelled');
        assert.equal(progress.saved, 300, 'the counts stay exact: the batch reported where it stopped');
        assert.equal(description.typedSearchAttributes.get(searchAttributes.state), 'cancelled');
        assert.equal(await store.countContacts(userId, 'google-people'), 300);
      });
    } finally {
      provider.configure({ faults: {} });
    }
  });

  it('pauses between batches without holding an activity, and resumes to completion', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    try {
      await withImport({ pageSize: 100, pagesPerBatch: 2 }, async ({ userId, handle }) => {
        // Batch 2 is stuck on page 3: ask for a pause, then let the batch finish.
        await waitFor(async () => (await handle.query(statusQuery)).saved === 200, 'the first batch saved');
        await handle.signal(pauseSignal);
        provider.configure({ faults: {} });
        const paused = await waitFor(async () => {
          const status = await handle.query(statusQuery);
          return status.state === 'paused' && status;
        }, 'the paused state');
        assert.equal(paused.saved, 400, 'the batch in flight finished before the pause took effect');
        const description = await handle.describe();
        assert.equal(description.raw.pendingActivities?.length ?? 0, 0, 'a paused import runs no activity');
        assert.equal(description.typedSearchAttributes.get(searchAttributes.state), 'paused');
        assert.equal(await store.countContacts(userId, 'google-people'), 400);

        await handle.signal(resumeSignal);
        const summary = await handle.result();
        assert.equal(summary.state, 'completed');
        assert.equal(summary.saved, 2_500);
        assert.equal(await store.countContacts(userId, 'google-people'), 2_500);
      });
    } finally {
      provider.configure({ faults: {} });
    }
  });

  it('fails with a readable, non-retried error when the token is revoked', async () => {
    provider.configure({ faults: { revokedTokens: ['revoked-token'] } });
    try {
      await withImport(
        {},
        async ({ userId, handle }) => {
          const err = await handle.result().then(
            () => assert.fail('a revoked token must fail the import'),
            (e: unknown) => e,
          );
          assert.ok(err instanceof WorkflowFailedError, String(err));
          assert.ok(err.cause instanceof ApplicationFailure);
          assert.equal(err.cause.type, 'ProviderUnauthenticated');
          assert.match(err.cause.message, /401/);
          assert.doesNotMatch(err.cause.message, /revoked-token/, 'the token never appears in errors');
          const progress = (await handle.describe()).memo?.[MEMO_PROGRESS_KEY] as ImportStatus;
          assert.equal(progress.state, 'failed');
          assert.equal(progress.error, err.cause.message);
          assert.equal(await store.countContacts(userId, 'google-people'), 0);
        },
        'revoked-token',
      );
    } finally {
      provider.configure({ faults: {} });
    }
  });

  it('keeps exact counts when a token is revoked in the middle of a batch', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    try {
      await withImport(
        { pageSize: 100, pagesPerBatch: 10 },
        async ({ userId, handle }) => {
          await waitFor(async () => (await store.countContacts(userId, 'google-people')) === 300, '3 pages saved');
          provider.configure({ faults: { revokedTokens: ['expiring-token'] } });
          await handle.result().then(
            () => assert.fail('a revoked token must fail the import'),
            () => undefined,
          );
          const description = await handle.describe();
          const progress = description.memo?.[MEMO_PROGRESS_KEY] as ImportStatus;
          assert.equal(progress.state, 'failed');
          // The held page 4 was authorised before the revocation; page 5 got the 401.
          assert.equal(await store.countContacts(userId, 'google-people'), 400);
          assert.equal(progress.saved, 400, 'the pages the failed batch saved are counted');
          assert.equal(progress.pages, 4);
          assert.equal(description.typedSearchAttributes.get(searchAttributes.contactsSaved), 400);
        },
        'expiring-token',
      );
    } finally {
      provider.configure({ faults: {} });
    }
  });

  it('replays recorded histories without a determinism error', async () => {
    const files = fs
      .readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.history.json'))
      .map((f) => path.join(FIXTURES, f));
    assert.ok(files.length >= 1, 'at least one recorded history is committed');
    assert.ok(fs.existsSync(LATEST), 'the first test recorded this run\'s history');
    const bundle = await workflowBundle();
    for (const file of [...files, LATEST]) {
      const history = historyFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, path.basename(file));
    }
  });
});
