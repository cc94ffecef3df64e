/**
 * The whole path through HTTP: the API on a real port, a real worker, the demo provider over HTTP,
 * and the store, once on SQLite and once on PostgreSQL (when `TEST_DATABASE_URL` is set).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createTemporalImports } from '../api/imports';
import type { ContactStore, Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { ErasureView } from '../api/schemas';
import { eraseWorkflowId, EraseUserResult } from '../workflows/contract';
import {
  expectContactPage,
  expectError,
  expectImport,
  expectJson,
  startApi,
  type ContactPageBody,
  type ImportView,
  type TestApi,
} from './support/api';
import {
  storeCases,
  startWorker,
  temporal,
  TEST_TOKEN_KEY,
  temporalAddress,
  TEST_TUNING,
  testDataConverter,
  testSealer,
  uniqueId,
  waitFor,
} from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const N = 1_500;
/** The tenant of the API's key: not the default one, so the tenant travels every step of the way. */
const TENANT = 'e2e';
const OTHER_TENANT = 'e2e-other';

for (const storeCase of storeCases()) {
  describe(`import through HTTP on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    /** The store as the API's tenant sees it. */
    let contacts: ContactStore;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;
    let taskQueue: string;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      store = await storeCase.open();
      taskQueue = uniqueId(`e2e-${storeCase.name}`);
      api = await startApi({ store, taskQueue, tenant: TENANT });
      contacts = store.tenant(TENANT);
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
      workerRun = worker.run();
    });
    // A test that fails while the provider holds a page must not leave the hold to the next test.
    beforeEach(() => provider.configure({ faults: {} }));
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

    const statusOf = (importId: string) => api.getImport(importId);

    const finished = (importId: string, state: ImportView['state'] = 'completed') =>
      waitFor(async () => {
        const status = await statusOf(importId);
        return status.state === state && status;
      }, `import ${state}`);

    async function allContacts(userId: string) {
      const items: ContactPageBody['items'] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `?limit=400&cursor=${encodeURIComponent(cursor)}` : '?limit=400';
        const page = expectContactPage(await api.call('GET', `/v1/users/${userId}/contacts${query}`));
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return items;
    }

    it('starts at once, reports progress while running, completes, and lists the contacts', async () => {
      const userId = uniqueId('alice');
      provider.configure({ faults: { holdFromOffset: 500 } });
      const res = await api.call('POST', '/v1/imports', startBody(userId));
      const started = expectImport(res, 202);
      assert.equal(res.headers.get('location'), `/v1/imports/${started.importId}`);
      assert.equal(started.state, 'running');
      assert.equal(started.userId, userId);
      assert.equal(started.workflowId, `import-contacts/${TENANT}/google-people/${userId}`);
      assert.ok(!JSON.stringify(res.json).includes('demo-token'), 'the token never comes back');

      // Pages of 100, two a batch: the workflow has heard of 400 when page 5 is saved and page 6
      // is held, but the status counts what the store committed with each page (500).
      const running = await waitFor(async () => {
        const status = await statusOf(started.importId);
        return status.saved === 500 && status;
      }, 'progress while running');
      assert.equal(running.state, 'running');
      assert.equal(running.total, N);

      provider.configure({ faults: {} });
      const done = await finished(started.importId);
      assert.equal(done.saved, N);
      assert.equal(done.fetched, N);
      assert.equal(done.pages, 15);
      assert.ok(done.completedAt);

      const listed = await allContacts(userId);
      assert.equal(listed.length, N);
      assert.equal(new Set(listed.map((c) => c.externalId)).size, N, 'no duplicates');
      assert.ok(listed.every((c) => c.displayName && c.email), 'name and email are kept');
      assert.equal(await contacts.countContacts(userId), N);
    });

    it('returns the running import when started twice, and a new one after it finished', async () => {
      const userId = uniqueId('bob');
      provider.configure({ faults: { holdFromOffset: 200 } });
      const { json: first } = await api.startImport(startBody(userId));
      const again = await Promise.all([1, 2, 3].map(() => api.call('POST', '/v1/imports', startBody(userId))));
      for (const res of again) {
        assert.equal(expectImport(res, 200).importId, first.importId, 'a refresh gets the import already running');
      }
      provider.configure({ faults: {} });
      await finished(first.importId);

      const { json: second } = await api.startImport(startBody(userId), 202);
      assert.notEqual(second.importId, first.importId, 'a finished import does not block a new one');
      await finished(second.importId);
      const old = await statusOf(first.importId);
      assert.equal(old.state, 'completed', 'the earlier import keeps answering');
      assert.equal(old.runId, first.runId);
      assert.equal(await contacts.countContacts(userId), N, 'importing twice never doubles contacts');
    });

    it('pauses, resumes and cancels through the API', async () => {
      const userId = uniqueId('carol');
      provider.configure({ faults: { holdFromOffset: 200 } });
      const { json: started } = await api.startImport(startBody(userId));
      await waitFor(async () => (await statusOf(started.importId)).saved === 200, 'first batch');
      expectImport(await api.call('POST', `/v1/imports/${started.importId}/pause`), 202);
      // The pause stops the batch at the page it waits for, which is let go only once it has.
      const whilePaused = await finished(started.importId, 'paused');
      assert.equal(whilePaused.saved, 200);
      provider.configure({ faults: {} });

      expectImport(await api.call('POST', `/v1/imports/${started.importId}/resume`), 202);
      provider.configure({ faults: { holdFromOffset: 800 } });
      await waitFor(async () => (await statusOf(started.importId)).saved === 800, 'progress after resume');
      expectImport(await api.call('POST', `/v1/imports/${started.importId}/cancel`), 202);
      const cancelled = await finished(started.importId, 'cancelled');
      assert.equal(cancelled.saved, 800);
      assert.equal(await contacts.countContacts(userId), 800, 'contacts saved before the cancel stay');

      expectError(await api.call('POST', `/v1/imports/${started.importId}/cancel`), 409, 'import_not_running');
    });

    it('ends with exactly N contacts through bursts of 429, 5xx and dropped connections', async () => {
      const userId = uniqueId('dave');
      // One burst hits one batch: its retries back off 1 s, 2 s, 4 s…, and 429/503 wait Retry-After.
      provider.resetStats();
      provider.configure({ faults: { script: ['429', '500', 'drop', '503'], retryAfterSeconds: 1 } });
      const { json: started } = await api.startImport(startBody(userId));
      const done = await finished(started.importId);
      assert.equal(done.saved, N);
      assert.equal(provider.stats.faultsInjected, 4, 'every scripted fault was served');
      assert.equal(await contacts.countContacts(userId), N);
    });

    it('fails a revoked token with a readable error', async () => {
      const userId = uniqueId('erin');
      provider.configure({ faults: { revokedTokens: ['revoked'] } });
      const { json: started } = await api.startImport(startBody(userId, 'revoked'));
      const failed = await finished(started.importId, 'failed');
      assert.ok(failed.error !== undefined, 'a failed import says why');
      assert.match(failed.error, /401/);
      assert.equal(failed.errorType, 'ProviderUnauthenticated', 'a program can tell why without parsing the message');
      assert.match(failed.error, /reconnect|access token/i);
      assert.doesNotMatch(failed.error, /revoked\b(?! )/, 'the token is not echoed');
    });

    it("shows another tenant nothing of this tenant's imports or contacts, and gives the same user id an import of its own", async () => {
      const userId = uniqueId('ivan');
      const other = await startApi({ store, taskQueue, tenant: OTHER_TENANT });
      provider.configure({ faults: { holdFromOffset: 200 } });
      try {
        const { json: ours } = await api.startImport(startBody(userId));
        await waitFor(async () => (await statusOf(ours.importId)).saved === 200, 'first batch');
        expectError(await other.call('GET', `/v1/imports/${ours.importId}`), 404, 'import_not_found');
        for (const action of ['pause', 'resume', 'cancel']) {
          expectError(await other.call('POST', `/v1/imports/${ours.importId}/${action}`), 404, 'import_not_found');
        }
        assert.deepEqual(expectContactPage(await other.call('GET', `/v1/users/${userId}/contacts`)), { items: [], nextCursor: null });

        const { json: theirs } = await other.startImport(startBody(userId), 202);
        assert.notEqual(theirs.importId, ours.importId, "not this tenant's running import");
        assert.equal(theirs.workflowId, `import-contacts/${OTHER_TENANT}/google-people/${userId}`);
        expectError(await api.call('GET', `/v1/imports/${theirs.importId}`), 404, 'import_not_found');

        provider.configure({ faults: {} });
        await finished(ours.importId);
        await waitFor(async () => (await other.getImport(theirs.importId)).state === 'completed', "the other tenant's import");
        assert.equal(await contacts.countContacts(userId), N, 'each tenant has its own N contacts');
        assert.equal(await store.tenant(OTHER_TENANT).countContacts(userId), N);
        assert.equal((await statusOf(ours.importId)).saved, N, "the other tenant's import did not count as ours");
      } finally {
        provider.configure({ faults: {} });
        await other.close();
      }
    });

    it("erases a user: cancels their running import, then deletes their contacts, and only this tenant's", async () => {
      const userId = uniqueId('jade');
      const { client } = await temporal();
      const elsewhere = store.tenant(OTHER_TENANT);
      await elsewhere.upsertContacts(userId, 'google-people', [
        { externalId: 'people/c1', etag: 'e1', displayName: 'Same id, other tenant', email: null, phone: null, organization: null, raw: {} },
      ]);
      provider.configure({ faults: { holdFromOffset: 400 } });
      try {
        const { json: started } = await api.startImport(startBody(userId));
        await waitFor(async () => (await contacts.countContacts(userId)) === 400, 'four pages saved');

        const res = await api.call('DELETE', `/v1/users/${userId}`);
        const erasure = expectJson(res, 202, ErasureView);
        assert.deepEqual(erasure, { userId, workflowId: eraseWorkflowId({ tenant: TENANT, userId }), state: 'accepted' });
        const result = EraseUserResult.parse(await client.workflow.getHandle(erasure.workflowId).result());
        assert.deepEqual(result, { cancelledImports: 1, deletedContacts: 400 });
        assert.equal((await statusOf(started.importId)).state, 'cancelled', 'the import was cancelled first');
        assert.equal(await contacts.countContacts(userId), 0, 'no contact of the user is left');
        assert.deepEqual(expectContactPage(await api.call('GET', `/v1/users/${userId}/contacts`)), { items: [], nextCursor: null });
        assert.equal(await elsewhere.countContacts(userId), 1, "another tenant's user of the same id keeps theirs");

        const again = expectJson(await api.call('DELETE', `/v1/users/${userId}`), 202, ErasureView);
        assert.equal(again.workflowId, erasure.workflowId, 'one erasure workflow id per user');
        const second = EraseUserResult.parse(await client.workflow.getHandle(again.workflowId).result());
        assert.deepEqual(second, { cancelledImports: 0, deletedContacts: 0 }, 'repeating it is harmless');
      } finally {
        provider.configure({ faults: {} });
      }
    });

    it('shares one status query between many concurrent readers', async () => {
      const userId = uniqueId('hank');
      provider.configure({ faults: { holdFromOffset: 200 } });
      try {
        const { json: started } = await api.startImport(startBody(userId));
        await waitFor(async () => (await statusOf(started.importId)).saved === 200, 'first batch');
        const { client } = await temporal();
        let queries = 0;
        const counting = new Client({
          connection: client.connection,
          namespace: client.options.namespace,
          dataConverter: testDataConverter,
          workflow: { queryRejectCondition: 'NOT_OPEN' },
          interceptors: { workflow: [{ query: (input, next) => ((queries += 1), next(input)) }] },
        });
        const imports = createTemporalImports({ client: counting, sealer: testSealer, taskQueue, tuning: TEST_TUNING });
        const views = await Promise.all(Array.from({ length: 50 }, () => imports.get(api.tenant, started.importId)));
        assert.equal(queries, 1, '50 concurrent readers, one query');
        assert.ok(views.every((view) => view.saved === 200 && view.state === 'running'));
        // Stop it here: left running, its pages would count in the next test's provider stats.
        expectImport(await api.call('POST', `/v1/imports/${started.importId}/cancel`), 202);
        await finished(started.importId, 'cancelled');
      } finally {
        provider.configure({ faults: {} });
      }
    });

    it('answers status from Temporal\'s records while no worker is up', async () => {
      const queue = uniqueId(`noworker-${storeCase.name}`);
      const lonelyApi = await startApi({ store, taskQueue: queue, tenant: TENANT });
      const userId = uniqueId('gina');
      try {
        provider.configure({ faults: { holdFromOffset: 400 } });
        const lonelyWorker = await startWorker({ store, providerUrl: provider.url, taskQueue: queue });
        const { json: started } = await lonelyApi.startImport(startBody(userId));
        await lonelyWorker.runUntil(
          waitFor(async () => (await lonelyApi.getImport(started.importId)).saved === 400, '2 batches'),
        );
        // The worker is gone; its batch is stuck until a worker returns. Status still answers.
        const status = await lonelyApi.getImport(started.importId);
        assert.equal(status.state, 'running');
        assert.equal(status.saved, 400);
        assert.equal(status.total, N);
        // The cancel reads the status first, which with no worker waits out the query's timeout:
        // on a loaded machine the call can pass its budget and answer 503 with Retry-After, which a
        // client retries. Anything else fails at once.
        const cancel = await waitFor(async () => {
          const res = await lonelyApi.call('POST', `/v1/imports/${started.importId}/cancel`);
          if (res.status === 503) return undefined;
          return res;
        }, 'a cancel that is not 503', 30_000);
        expectImport(cancel, 202);
      } finally {
        provider.configure({ faults: {} });
        await lonelyApi.close();
      }
    });

    it('survives SIGKILL of the worker mid-import: exactly N contacts, no duplicates', async () => {
      // This test runs its own worker process on its own task queue.
      const killQueue = uniqueId(`kill-${storeCase.name}`);
      const killApi = await startApi({ store, taskQueue: killQueue, tenant: TENANT });
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
        const { json: started } = await killApi.startImport(startBody(userId));
        await waitFor(async () => (await contacts.countContacts(userId)) === 700, '7 pages saved');
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        provider.configure({ faults: {} });

        child = await spawnWorker();
        const done = await waitFor(async () => {
          const status = await killApi.getImport(started.importId);
          return status.state === 'completed' && status;
        }, 'the import to complete on the new worker');
        assert.equal(done.saved, N);
        assert.equal(await contacts.countContacts(userId), N, 'exactly N contacts');
        const listed = await allContacts(userId);
        assert.equal(new Set(listed.map((c) => c.externalId)).size, N, 'no duplicates');
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
