/**
 * The whole path through HTTP: the API on a real port, a real worker, the demo provider over HTTP,
 * and the store, once on SQLite and once on PostgreSQL (when `TEST_DATABASE_URL` is set).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { ImportService } from '../api/import-service';
import type { ContactStore } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { startApi, type TestApi } from './support/api';
import {
  storeCases,
  startWorker,
  temporal,
  TEST_TOKEN_KEY,
  temporalAddress,
  testSealer,
  uniqueId,
  waitFor,
} from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const N = 1_500;
const TUNING = { pageSize: 100, pagesPerBatch: 2, maxBatchesPerRun: 100 };

for (const storeCase of storeCases()) {
  describe(`import through HTTP on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: ContactStore;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;
    let taskQueue: string;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      store = await storeCase.open();
      taskQueue = uniqueId(`e2e-${storeCase.name}`);
      api = await startApi({ store, taskQueue });
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
      workerRun = worker.run();
    });
    after(async () => {
      provider.configure({ faults: {} });
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api.close();
      await provider.close();
      await store.close();
    });

    const startBody = (userId: string, accessToken = 'demo-token') => ({
      userId,
      source: { provider: 'google-people', accessToken },
    });

    async function statusOf(importId: string) {
      const res = await api.call('GET', `/v1/imports/${importId}`);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      return res.json;
    }

    const finished = (importId: string, state = 'completed') =>
      waitFor(async () => {
        const status = await statusOf(importId);
        return status.state === state && status;
      }, `import ${state}`);

    async function allContacts(userId: string) {
      const items: Array<{ externalId: string; displayName: string | null; email: string | null }> = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `?limit=400&cursor=${encodeURIComponent(cursor)}` : '?limit=400';
        const res = await api.call('GET', `/v1/users/${userId}/contacts${query}`);
        assert.equal(res.status, 200);
        items.push(...res.json.items);
        cursor = res.json.nextCursor;
      } while (cursor);
      return items;
    }

    it('starts at once, reports progress while running, completes, and lists the contacts', async () => {
      const userId = uniqueId('alice');
      provider.configure({ faults: { holdFromOffset: 500 } });
      const started = await api.call('POST', '/v1/imports', startBody(userId));
      assert.equal(started.status, 202, JSON.stringify(started.json));
      assert.equal(started.headers.get('location'), `/v1/imports/${started.json.importId}`);
      assert.equal(started.json.state, 'running');
      assert.equal(started.json.userId, userId);
      assert.equal(started.json.workflowId, `import-contacts/google-people/${userId}`);
      assert.ok(!JSON.stringify(started.json).includes('demo-token'), 'the token never comes back');

      const running = await waitFor(async () => {
        const status = await statusOf(started.json.importId);
        return status.saved === 400 && status;
      }, 'progress while running');
      assert.equal(running.state, 'running');
      assert.equal(running.total, N);

      provider.configure({ faults: {} });
      const done = await finished(started.json.importId);
      assert.equal(done.saved, N);
      assert.equal(done.fetched, N);
      assert.equal(done.pages, 15);
      assert.ok(done.completedAt);

      const contacts = await allContacts(userId);
      assert.equal(contacts.length, N);
      assert.equal(new Set(contacts.map((c) => c.externalId)).size, N, 'no duplicates');
      assert.ok(contacts.every((c) => c.displayName && c.email), 'name and email are kept');
      assert.equal(await store.countContacts(userId), N);
    });

    it('returns the running import when started twice, and a new one after it finished', async () => {
      const userId = uniqueId('bob');
      provider.configure({ faults: { holdFromOffset: 200 } });
      const first = await api.call('POST', '/v1/imports', startBody(userId));
      assert.equal(first.status, 202);
      const again = await Promise.all([1, 2, 3].map(() => api.call('POST', '/v1/imports', startBody(userId))));
      for (const res of again) {
        assert.equal(res.status, 200, 'a refresh gets the import already running');
        assert.equal(res.json.importId, first.json.importId);
      }
      provider.configure({ faults: {} });
      await finished(first.json.importId);

      const second = await api.call('POST', '/v1/imports', startBody(userId));
      assert.equal(second.status, 202, 'a finished import does not block a new one');
      assert.notEqual(second.json.importId, first.json.importId);
      await finished(second.json.importId);
      const old = await statusOf(first.json.importId);
      assert.equal(old.state, 'completed', 'the earlier import keeps answering');
      assert.equal(old.runId, first.json.runId);
      assert.equal(await store.countContacts(userId), N, 'importing twice never doubles contacts');
    });

    it('pauses, resumes and cancels through the API', async () => {
      const userId = uniqueId('carol');
      provider.configure({ faults: { holdFromOffset: 200 } });
      const { json: started } = await api.call('POST', '/v1/imports', startBody(userId));
      await waitFor(async () => (await statusOf(started.importId)).saved === 200, 'first batch');
      const paused = await api.call('POST', `/v1/imports/${started.importId}/pause`);
      assert.equal(paused.status, 202);
      provider.configure({ faults: {} });
      const whilePaused = await finished(started.importId, 'paused');
      assert.equal(whilePaused.saved, 400);

      assert.equal((await api.call('POST', `/v1/imports/${started.importId}/resume`)).status, 202);
      provider.configure({ faults: { holdFromOffset: 800 } });
      await waitFor(async () => (await statusOf(started.importId)).saved === 800, 'progress after resume');
      assert.equal((await api.call('POST', `/v1/imports/${started.importId}/cancel`)).status, 202);
      const cancelled = await finished(started.importId, 'cancelled');
      assert.equal(cancelled.saved, 800);
      assert.equal(await store.countContacts(userId), 800, 'contacts saved before the cancel stay');

      const late = await api.call('POST', `/v1/imports/${started.importId}/cancel`);
      assert.equal(late.status, 409);
      assert.equal(late.json.error.code, 'import_not_running');
      provider.configure({ faults: {} });
    });

    it('ends with exactly N contacts through bursts of 429, 5xx and dropped connections', async () => {
      const userId = uniqueId('dave');
      // One burst hits one batch: its retries back off 1 s, 2 s, 4 s…, and 429/503 wait Retry-After.
      provider.resetStats();
      provider.configure({ faults: { script: ['429', '500', 'drop', '503'], retryAfterSeconds: 1 } });
      const { json: started } = await api.call('POST', '/v1/imports', startBody(userId));
      const done = await finished(started.importId);
      assert.equal(done.saved, N);
      assert.equal(provider.stats.faultsInjected, 4, 'every scripted fault was served');
      assert.equal(await store.countContacts(userId), N);
      provider.configure({ faults: {} });
    });

    it('fails a revoked token with a readable error', async () => {
      const userId = uniqueId('erin');
      provider.configure({ faults: { revokedTokens: ['revoked'] } });
      const { json: started } = await api.call('POST', '/v1/imports', startBody(userId, 'revoked'));
      const failed = await finished(started.importId, 'failed');
      assert.match(failed.error, /401/);
      assert.match(failed.error, /reconnect|access token/i);
      assert.doesNotMatch(failed.error, /revoked\b(?! )/, 'the token is not echoed');
      provider.configure({ faults: {} });
    });

    it('shares one status query between many concurrent readers', async () => {
      const userId = uniqueId('hank');
      provider.configure({ faults: { holdFromOffset: 200 } });
      try {
        const { json: started } = await api.call('POST', '/v1/imports', startBody(userId));
        await waitFor(async () => (await statusOf(started.importId)).saved === 200, 'first batch');
        const { client } = await temporal();
        let queries = 0;
        const counting = new Client({
          connection: client.connection,
          namespace: client.options.namespace,
          workflow: { queryRejectCondition: 'NOT_OPEN' },
          interceptors: { workflow: [{ query: (input, next) => ((queries += 1), next(input)) }] },
        });
        const imports = new ImportService({ client: counting, sealer: testSealer, taskQueue, tuning: TUNING });
        const views = await Promise.all(Array.from({ length: 50 }, () => imports.get(started.importId)));
        assert.equal(queries, 1, '50 concurrent readers, one query');
        assert.ok(views.every((view) => view.saved === 200 && view.state === 'running'));
        // Stop it here: left running, its pages would count in the next test's provider stats.
        assert.equal((await api.call('POST', `/v1/imports/${started.importId}/cancel`)).status, 202);
        await finished(started.importId, 'cancelled');
      } finally {
        provider.configure({ faults: {} });
      }
    });

    it('answers status from Temporal\'s records while no worker is up', async () => {
      const queue = uniqueId(`noworker-${storeCase.name}`);
      const lonelyApi = await startApi({ store, taskQueue: queue });
      const userId = uniqueId('gina');
      try {
        provider.configure({ faults: { holdFromOffset: 400 } });
        const lonelyWorker = await startWorker({ store, providerUrl: provider.url, taskQueue: queue });
        const { json: started } = await lonelyApi.call('POST', '/v1/imports', startBody(userId));
        await lonelyWorker.runUntil(
          waitFor(async () => (await lonelyApi.call('GET', `/v1/imports/${started.importId}`)).json.saved === 400, '2 batches'),
        );
        // The worker is gone; its batch is stuck until a worker returns. Status still answers.
        const res = await lonelyApi.call('GET', `/v1/imports/${started.importId}`);
        assert.equal(res.status, 200);
        assert.equal(res.json.state, 'running');
        assert.equal(res.json.saved, 400);
        assert.equal(res.json.total, N);
        const cancel = await lonelyApi.call('POST', `/v1/imports/${started.importId}/cancel`);
        assert.equal(cancel.status, 202);
      } finally {
        provider.configure({ faults: {} });
        await lonelyApi.close();
      }
    });

    it('survives SIGKILL of the worker mid-import: exactly N contacts, no duplicates', async () => {
      // This test runs its own worker process on its own task queue.
      const killQueue = uniqueId(`kill-${storeCase.name}`);
      const killApi = await startApi({ store, taskQueue: killQueue });
      const userId = uniqueId('frank');
      const spawnWorker = async () =>
        spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
          cwd: ROOT,
          env: {
            ...process.env,
            ...storeCase.env,
            TEMPORAL_ADDRESS: await temporalAddress(),
            TEMPORAL_TASK_QUEUE: killQueue,
            GOOGLE_PEOPLE_BASE_URL: provider.url,
            TOKEN_ENCRYPTION_KEY: TEST_TOKEN_KEY,
            WORKER_HEARTBEAT_THROTTLE_MS: '20',
          },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
      let child: ChildProcess | undefined;
      try {
        provider.configure({ faults: { holdFromOffset: 700 } });
        provider.resetStats();
        child = await spawnWorker();
        const { json: started } = await killApi.call('POST', '/v1/imports', startBody(userId));
        await waitFor(async () => (await store.countContacts(userId)) === 700, '7 pages saved');
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        provider.configure({ faults: {} });

        child = await spawnWorker();
        const done = await waitFor(async () => {
          const res = await killApi.call('GET', `/v1/imports/${started.importId}`);
          return res.json.state === 'completed' && res.json;
        }, 'the import to complete on the new worker');
        assert.equal(done.saved, N);
        assert.equal(await store.countContacts(userId), N, 'exactly N contacts');
        const contacts = await allContacts(userId);
        assert.equal(new Set(contacts.map((c) => c.externalId)).size, N, 'no duplicates');
        const twice = [...provider.stats.pageTokensServed.values()].filter((count) => count > 1).length;
        assert.ok(twice <= 1, `at most one page fetched twice (got ${twice})`);
      } finally {
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child!.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
        await killApi.close();
      }
    });
  });
}
