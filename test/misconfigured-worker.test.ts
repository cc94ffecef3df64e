/**
 * A configuration fault is not an import failure. A worker whose token key is not the
 * API's takes imports from the shared task queue and cannot open their credentials: it fails each
 * attempt retryably as `WorkerMisconfigured`, naming both keys, and stops polling after a few. A
 * worker with the right key then completes every import, with exact counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { createTokenSealer } from '../encryption/token-seal';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { createImportWorker } from '../worker/create-worker';
import { createMisconfigurationGuard, MISCONFIGURED_FAILURES_BEFORE_STOP } from '../worker/misconfiguration-guard';
import { DEFAULT_TENANT, FAILURE_TYPES } from '../workflows/contract';
import { startApi, type ImportView, type TestApi } from './support/api';
import {
  NAMESPACE,
  startWorker,
  storeCases,
  temporal,
  testDataConverter,
  testSealer,
  uniqueId,
  waitFor,
  workflowBundle,
} from './support/harness';
import { readProviderSettings } from '../providers';

const IMPORTS = 20;
const N = 300;

describe('a worker with the wrong token key beside one with the right key', () => {
  let provider: DemoProvider;
  let store: Awaited<ReturnType<ReturnType<typeof storeCases>[number]['open']>>;
  let api: TestApi;
  let taskQueue: string;

  before(async () => {
    provider = await startDemoProvider({ contacts: N });
    store = await storeCases()[0]!.open();
    taskQueue = uniqueId('misconfigured');
    api = await startApi({ store, taskQueue });
  });
  after(async () => {
    await api?.close();
    await provider?.close();
    await store?.close();
  });

  it('completes all 20 imports with exact counts; the wrong worker stops polling and says which key it lacks', async () => {
    // As the harness's `startWorker` builds one, with another token key and a guard.
    const { nativeConnection, client } = await temporal();
    const wrongSealer = createTokenSealer(Buffer.alloc(32, 9));
    const problems: string[] = [];
    let stoppedBecause: string | undefined;
    const guard = createMisconfigurationGuard({
      stop: (reason) => {
        stoppedBecause = reason;
        wrong.shutdown();
      },
    });
    const wrong = await createImportWorker({
      connection: nativeConnection,
      namespace: NAMESPACE,
      taskQueue,
      workflowBundle: await workflowBundle(),
      identity: 'wrong-key-worker',
      dataConverter: testDataConverter,
      deps: {
        store,
        client,
        sealer: wrongSealer,
        sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }) },
        keepAliveHeartbeatMs: 500,
        onMisconfigured: (problem) => {
          problems.push(problem);
          guard.report(problem);
        },
      },
    });
    const wrongRun = wrong.run();
    let right: Worker | undefined;
    try {
      const users = Array.from({ length: IMPORTS }, (_, i) => uniqueId(`keyed-${i}`));
      const started: ImportView[] = [];
      for (const userId of users) {
        const { json } = await api.startImport({ userId, source: { provider: 'google-people', accessToken: `token-${userId}` } });
        started.push(json);
      }

      // Alone on the queue, it takes batches, cannot open them, and stops by itself.
      await waitFor(() => wrong.getState() === 'STOPPED', 'the wrong-key worker to stop polling on its own', 120_000);
      await wrongRun;
      assert.ok(guard.count >= MISCONFIGURED_FAILURES_BEFORE_STOP, `it stopped after ${guard.count} failures`);
      assert.match(stoppedBecause ?? '', /import batches failed because this worker is misconfigured/);
      assert.match(problems[0] ?? '', new RegExp(`sealed with another key \\(key ${testSealer.keyId}\\); this process has key ${wrongSealer.keyId}`));
      assert.match(problems[0] ?? '', /TOKEN_ENCRYPTION_KEY/, 'it says what to share');
      assert.notEqual(testSealer.keyId, wrongSealer.keyId);

      // No import failed: the batches it took wait for a retry, marked as this worker's fault (or,
      // for a task it held while stopping, timed out by the server: a retry all the same).
      let misconfigured = 0;
      for (const view of started) {
        const status = await api.getImport(view.importId);
        assert.equal(status.state, 'running', `${view.userId} is ${status.state}: ${status.error ?? ''}`);
        const { raw } = await client.workflow.getHandle(view.workflowId).describe();
        for (const { lastFailure } of raw.pendingActivities ?? []) {
          if (!lastFailure?.applicationFailureInfo) {
            assert.ok(!lastFailure || lastFailure.timeoutFailureInfo, `an unexpected failure: ${JSON.stringify(lastFailure)}`);
            continue;
          }
          assert.equal(lastFailure.applicationFailureInfo.type, FAILURE_TYPES.workerMisconfigured);
          assert.equal(lastFailure.applicationFailureInfo.nonRetryable ?? false, false, 'retryable');
          misconfigured += 1;
        }
      }
      assert.ok(misconfigured >= 1, 'at least one batch waits for a retry after WorkerMisconfigured');

      right = await startWorker({ store, providerUrl: provider.url, taskQueue });
      const rightWorker = right;
      await rightWorker.runUntil(
        waitFor(
          async () => {
            for (const view of started) if ((await api.getImport(view.importId)).state === 'running') return false;
            return true;
          },
          'every import to end on the right worker',
          180_000,
        ),
      );
      for (const [i, view] of started.entries()) {
        const status = await api.getImport(view.importId);
        assert.equal(status.state, 'completed', `${users[i]} ended ${status.state}: ${status.error ?? ''}`);
        assert.equal(status.saved, N, `${users[i]} saved exactly N`);
        assert.equal(await store.tenant(DEFAULT_TENANT).countContacts(users[i]!), N, `${users[i]} has exactly N contacts stored`);
      }
    } finally {
      if (wrong.getState() === 'RUNNING') wrong.shutdown();
      await wrongRun.catch(() => undefined);
      if (right && right.getState() === 'RUNNING') right.shutdown();
    }
  });
});
