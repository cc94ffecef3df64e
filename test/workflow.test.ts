/**
 * ImportContacts with a real worker against the run's Temporal dev server, a real demo provider
 * over HTTP and a real SQLite store.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { WorkflowFailedError, type WorkflowExecutionDescription } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { decodeFromPayloadsAtIndex, encodeToPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { ContactStore, Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { ImportContacts } from '../workflows';
import {
  DEFAULT_TENANT,
  FAILURE_TYPES,
  ImportMemo,
  importWorkflowId,
  pauseSignal,
  resumeSignal,
  searchAttributes,
  statusQuery,
  WORKFLOW_TYPE,
  type ImportInput,
  type ImportStatus,
  type ImportTuning,
} from '../workflows/contract';
import {
  googleCredentials,
  storeCases,
  startWorker,
  temporal,
  TEST_TUNING,
  testDataConverter,
  testSealer,
  uniqueId,
  waitFor,
  workflowBundle,
} from './support/harness';

const CONTACTS = 2_500;
/** The tenant every import here belongs to: not the default one, so it has to travel to the store. */
const TENANT = 'workflow-tests';
/** Recorded histories of the workflow, committed: each must replay against the workflow code as it is. */
const FIXTURES = path.join(__dirname, 'fixtures');
/**
 * This run's history of a plain import, git-ignored: copy it into `test/fixtures/` to keep a new
 * version of the workflow replaying. Never replayed by the run that wrote it.
 */
const LATEST = path.join(__dirname, 'artifacts', 'import-contacts.latest.history.json');

function input(userId: string, tuning: Partial<ImportTuning> = {}, token = 'token'): ImportInput {
  return {
    tenant: TENANT,
    userId,
    provider: 'google-people',
    sealedCredentials: testSealer.seal(googleCredentials(token)),
    tuning: { ...TEST_TUNING, ...tuning },
    startedAt: new Date().toISOString(),
    mode: 'auto',
  };
}

/** The memo's progress, read with the contract's schema as the API reads it. */
function progressOf(description: WorkflowExecutionDescription): ImportStatus {
  const memo = ImportMemo.parse(description.memo ?? {});
  assert.ok(memo.progress, `run ${description.runId} has no progress in its memo`);
  return memo.progress;
}

/** The ApplicationFailure a workflow failed with; fails the test when it completed or ended otherwise. */
async function failureOf(result: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await result.then(
    () => assert.fail('expected the import to fail, but it completed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected a WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected an ApplicationFailure as the cause, got ${String(err.cause)}`);
  return err.cause;
}

/** The argument a recorded history's run was started with, decoded as the test clients decode it. */
async function startInputOf(history: proto.api.history.v1.IHistory): Promise<Record<string, unknown>> {
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  assert.ok(payloads?.length, 'the history starts with a WorkflowExecutionStarted event that has an input');
  const { client } = await temporal();
  return decodeFromPayloadsAtIndex<Record<string, unknown>>(client.options.loadedDataConverter, 0, payloads);
}

function readFixtures(): Array<{ name: string; history: proto.api.history.v1.IHistory }> {
  return fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.history.json'))
    .sort()
    .map((name) => ({ name, history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'))) }));
}

describe('ImportContacts workflow', () => {
  let provider: DemoProvider;
  let store: Store;
  /** The store as {@link TENANT} sees it. */
  let contacts: ContactStore;

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await storeCases()[0]!.open();
    contacts = store.tenant(TENANT);
  });
  after(async () => {
    await provider.close();
    await store.close();
  });
  // Every test starts with a provider that serves everything, and a failing one releases its holds.
  beforeEach(() => {
    provider.configure({ contacts: CONTACTS, faults: {} });
    provider.resetStats();
  });
  afterEach(() => {
    provider.configure({ faults: {} });
  });

  /** A fresh worker on its own task queue and a fresh user; the test body runs while the worker does. */
  async function withWorker<T>(body: (ctx: { taskQueue: string; userId: string }) => Promise<T>): Promise<T> {
    const taskQueue = uniqueId('wf');
    const userId = uniqueId('user');
    const worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    return worker.runUntil(body({ taskQueue, userId }));
  }

  /** Starts an import on a fresh task queue; the test body runs while the worker does. */
  function withImport<T>(
    tuning: Partial<ImportTuning>,
    body: (ctx: { userId: string; handle: Awaited<ReturnType<typeof start>> }) => Promise<T>,
    token = 'token',
  ): Promise<T> {
    return withWorker(async ({ taskQueue, userId }) => body({ userId, handle: await start(userId, taskQueue, tuning, token) }));
  }

  async function start(userId: string, taskQueue: string, tuning: Partial<ImportTuning>, token: string) {
    const { client } = await temporal();
    return client.workflow.start(ImportContacts, {
      taskQueue,
      workflowId: importWorkflowId({ tenant: TENANT, userId }, 'google-people'),
      args: [input(userId, tuning, token)],
      typedSearchAttributes: [
        { key: searchAttributes.tenant, value: TENANT },
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
      assert.equal(await contacts.countContacts(userId, 'google-people'), 2_500);
      assert.equal(await store.tenant(DEFAULT_TENANT).countContacts(userId), 0, "the contacts are the import's tenant's only");

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
      assert.equal(await contacts.countContacts(userId, 'google-people'), 2_500);
      const runs = await client.workflow.count(`WorkflowId = '${handle.workflowId}'`);
      assert.equal(runs.count, 9, '25 pages in batches of 3 make 9 runs of one batch each');
      const last = await client.workflow.getHandle(handle.workflowId).describe();
      assert.notEqual(last.runId, handle.firstExecutionRunId);
      assert.equal(last.typedSearchAttributes.get(searchAttributes.userId), userId, 'operators still find it by user');
      assert.equal(last.typedSearchAttributes.get(searchAttributes.tenant), TENANT, 'and by tenant');
      assert.equal(last.typedSearchAttributes.get(searchAttributes.provider), 'google-people');
      assert.equal(last.typedSearchAttributes.get(searchAttributes.contactsSaved), 2_500);
      assert.equal(progressOf(last).saved, 2_500);
    });
  });

  it('stops at a page boundary when cancelled, keeping what it saved', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    await withImport({ pageSize: 100, pagesPerBatch: 10 }, async ({ userId, handle }) => {
      await waitFor(async () => (await contacts.countContacts(userId, 'google-people')) === 300, '3 pages saved');
      await handle.cancel();
      const err = await handle.result().then(
        () => assert.fail('a cancelled import must not complete'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
      const description = await handle.describe();
      assert.equal(description.status.name, 'CANCELLED');
      const progress = progressOf(description);
      assert.equal(progress.state, 'cancelled');
      assert.equal(progress.saved, 300, 'the counts stay exact: the batch reported where it stopped');
      assert.equal(description.typedSearchAttributes.get(searchAttributes.state), 'cancelled');
      assert.equal(await contacts.countContacts(userId, 'google-people'), 300);
    });
  });

  it('pauses at the next page without holding an activity, and resumes to completion', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    await withImport({ pageSize: 100, pagesPerBatch: 2 }, async ({ userId, handle }) => {
      // Batch 2 is stuck on page 4 with page 3 saved: the pause stops it there, not at its end.
      await waitFor(async () => (await contacts.countContacts(userId, 'google-people')) === 300, '3 pages saved');
      await handle.signal(pauseSignal);
      const paused = await waitFor(async () => {
        const status = await handle.query(statusQuery);
        return status.state === 'paused' && status;
      }, 'the paused state');
      assert.deepEqual({ saved: paused.saved, pages: paused.pages }, { saved: 300, pages: 3 }, 'the batch in flight stopped at the page it was on');
      provider.configure({ faults: {} });
      const description = await handle.describe();
      assert.equal(description.raw.pendingActivities?.length ?? 0, 0, 'a paused import runs no activity');
      assert.equal(description.typedSearchAttributes.get(searchAttributes.state), 'paused');
      assert.equal(await contacts.countContacts(userId, 'google-people'), 300);

      await handle.signal(resumeSignal);
      const summary = await handle.result();
      assert.equal(summary.state, 'completed');
      assert.equal(summary.saved, 2_500);
      assert.equal(await contacts.countContacts(userId, 'google-people'), 2_500);
    });
  });

  it('stays paused when it continues as new while paused, and resume completes it with exact counts', async () => {
    // One batch of 2 pages per run: run 1 saves pages 1–2, run 2 saves page 3 and waits on page 4
    // until the pause stops it, run 3 imports pages 4–6 once resumed.
    provider.configure({ contacts: 600, faults: { holdFromOffset: 300 } });
    await withImport({ pageSize: 100, pagesPerBatch: 2, maxBatchesPerRun: 1 }, async ({ userId, handle }) => {
      const { client } = await temporal();
      await waitFor(async () => (await contacts.countContacts(userId, 'google-people')) === 300, '3 pages saved');
      const pausedRun = await handle.describe();
      assert.notEqual(pausedRun.runId, handle.firstExecutionRunId, 'the first run continued as new after its batch');
      await client.workflow.getHandle(handle.workflowId, pausedRun.runId).signal(pauseSignal);
      // The batch stops at page 4, and the run continues as new right after it: the pause must go along.

      const paused = await waitFor(async () => {
        const status = await handle.query(statusQuery);
        return status.state === 'paused' && status.runId !== pausedRun.runId && status;
      }, 'the next run to be paused');
      assert.deepEqual({ saved: paused.saved, pages: paused.pages }, { saved: 300, pages: 3 }, 'the batch in flight stopped at the page it was on');
      const closed = await client.workflow.getHandle(handle.workflowId, pausedRun.runId).describe();
      assert.equal(closed.status.name, 'CONTINUED_AS_NEW', 'the run that got the pause continued as new');
      const description = await client.workflow.getHandle(handle.workflowId, paused.runId).describe();
      assert.equal(description.status.name, 'RUNNING');
      assert.deepEqual(
        { state: progressOf(description).state, saved: progressOf(description).saved },
        { state: 'paused', saved: 300 },
        'the new run says paused in its memo, for when no worker answers the query',
      );
      assert.equal(description.typedSearchAttributes.get(searchAttributes.state), 'paused');
      assert.equal(description.raw.pendingActivities?.length ?? 0, 0, 'the new run starts no batch while paused');
      assert.equal(await contacts.countContacts(userId, 'google-people'), 300);

      provider.configure({ faults: {} });
      await handle.signal(resumeSignal);
      const summary = await handle.result();
      assert.deepEqual(
        { state: summary.state, fetched: summary.fetched, saved: summary.saved, pages: summary.pages, total: summary.total },
        { state: 'completed', fetched: 600, saved: 600, pages: 6, total: 600 },
      );
      assert.equal(await contacts.countContacts(userId, 'google-people'), 600);
      assert.equal(provider.stats.pageTokensServed.size, 6, 'every page was fetched');
      // The page the pause stopped a fetch of is asked for again; no other one is.
      const servedTwice = [...provider.stats.pageTokensServed].filter(([, n]) => n > 1).map(([offset]) => offset);
      assert.ok(
        servedTwice.length === 0 || (servedTwice.length === 1 && servedTwice[0] === '300' && provider.stats.pageTokensServed.get('300') === 2),
        `only the page in flight at the pause may be fetched twice: ${JSON.stringify([...provider.stats.pageTokensServed])}`,
      );
    });
  });

  it('fails with a readable, non-retried error when the token is revoked', async () => {
    provider.configure({ faults: { revokedTokens: ['revoked-token'] } });
    await withImport(
      {},
      async ({ userId, handle }) => {
        const failure = await failureOf(handle.result());
        assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
        assert.match(failure.message, /401/);
        assert.doesNotMatch(failure.message, /revoked-token/, 'the token never appears in errors');
        const progress = progressOf(await handle.describe());
        assert.equal(progress.state, 'failed');
        assert.equal(progress.error, failure.message);
        assert.equal(await contacts.countContacts(userId, 'google-people'), 0);
        assert.equal(provider.stats.requests, 1, 'a revoked token is not retried');
      },
      'revoked-token',
    );
  });

  it('keeps exact counts when a token is revoked in the middle of a batch', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    await withImport(
      { pageSize: 100, pagesPerBatch: 10 },
      async ({ userId, handle }) => {
        await waitFor(async () => (await contacts.countContacts(userId, 'google-people')) === 300, '3 pages saved');
        // Page 4 is asked for before page 3 is saved, but may reach the provider after: wait for it.
        await waitFor(() => provider.stats.requests === 4, 'the request for page 4 to reach the provider');
        provider.configure({ faults: { revokedTokens: ['expiring-token'] } });
        const failure = await failureOf(handle.result());
        assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
        const description = await handle.describe();
        const progress = progressOf(description);
        assert.equal(progress.state, 'failed');
        // The held page 4 was authorised before the revocation; page 5 got the 401.
        assert.equal(await contacts.countContacts(userId, 'google-people'), 400);
        assert.equal(progress.saved, 400, 'the pages the failed batch saved are counted');
        assert.equal(progress.pages, 4);
        assert.equal(description.typedSearchAttributes.get(searchAttributes.contactsSaved), 400);
      },
      'expiring-token',
    );
  });

  it('fails at once with InvalidImportInput when started with input that does not match the contract', async () => {
    await withWorker(async ({ taskQueue, userId }) => {
      const { client } = await temporal();
      const { tuning: _tuning, ...withoutTuning } = input(userId);
      // By type name, as an older API or an operator's `temporal workflow start` would.
      const handle = await client.workflow.start(WORKFLOW_TYPE, {
        taskQueue,
        workflowId: importWorkflowId({ tenant: TENANT, userId }, 'google-people'),
        args: [{ ...withoutTuning, provider: 'myspace' }],
      });
      const failure = await failureOf(handle.result());
      assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /does not match the contract/);
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(!events.some((e) => e.activityTaskScheduledEventAttributes), 'no batch runs for input the contract refuses');
      assert.equal(provider.stats.requests, 0);
    });
  });

  it('replays the committed histories without a determinism error', async () => {
    const fixtures = readFixtures();
    assert.ok(fixtures.length >= 1, `at least one recorded history is committed in ${FIXTURES}`);
    const bundle = await workflowBundle();
    for (const { name, history } of fixtures) {
      // With the service's converter: recorded through the test clients, their payloads are encrypted with the test keyring.
      await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter: testDataConverter }, history, name);
    }
  });

  it('fails the replay of a recorded history whose input the workflow would now refuse', async () => {
    // The replay test above can fail: a committed history, its credentials removed, must not replay.
    const [recorded] = readFixtures();
    assert.ok(recorded, `a recorded history is committed in ${FIXTURES}`);
    const { sealedCredentials: _sealed, ...withoutCredentials } = await startInputOf(recorded.history);
    const started = recorded.history.events?.[0]?.workflowExecutionStartedEventAttributes;
    assert.ok(started?.input);
    const { client } = await temporal();
    started.input.payloads = await encodeToPayloads(client.options.loadedDataConverter, withoutCredentials);
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: testDataConverter }, recorded.history, recorded.name),
      (err: unknown) => {
        assert.ok(err instanceof Error, String(err));
        assert.match(err.name, /DeterminismViolationError|ReplayError/, `expected a replay failure, got ${err.name}: ${err.message}`);
        return true;
      },
    );
  });
});
