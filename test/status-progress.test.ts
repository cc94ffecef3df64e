/**
 * A status never steps back: the workflow's counts (its query answer and its memo) move a batch at a
 * time, the store's checkpoint with every committed page (db/checkpoints.ts). When no worker
 * answers the query in time the API answers from the memo, which may be a batch behind the store;
 * it then takes the stored checkpoint's counts, so a progress bar does not go back by a batch, nor
 * when the import ended before its workflow heard of its last pages. And a budget a provider closed
 * (db/rate-budgets.ts) shows in the status of every import on it, cached or not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import { importKey } from '../workflows/contract';
import { createTestApp, expectImport } from './support/api';
import { storeCases, temporal, uniqueId } from './support/harness';
import { plainContact } from './support/records';

const TENANT = 'status-progress';

for (const storeCase of storeCases()) {
  describe(`a status answered without a worker, on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    let key: string;
    let app: Awaited<ReturnType<typeof createTestApp>>['app'];

    before(async () => {
      store = await storeCase.open();
      ({ key } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'status-progress' }));
      // No worker polls this queue: every status read times out on the query and answers from Temporal's records.
      ({ app } = await createTestApp({
        store,
        taskQueue: uniqueId('no-worker'),
        imports: { queryTimeoutMs: 200, statusFreshMs: 0, statusStaleMs: 0 },
      }));
    });
    after(() => store?.close());

    const callOn = async (target: typeof app, path: string, body?: unknown) => {
      const res = await target.request(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, headers: res.headers, json: (await res.json()) as unknown };
    };
    const call = (path: string, body?: unknown) => callOn(app, path, body);

    it('takes the counts of the checkpoint stored with the last page when the memo is behind it', async () => {
      const userId = uniqueId('user');
      const started = expectImport(await call('/v1/imports', { userId, source: { provider: 'google-people', accessToken: 'token' } }), 202);
      const before = expectImport(await call(`/v1/imports/${started.importId}`), 200);
      assert.deepEqual(
        { state: before.state, saved: before.saved, pages: before.pages },
        { state: 'running', saved: 0, pages: 0 },
        'nothing saved yet: the memo and the store agree',
      );
      assert.equal(before.waiting?.reason, 'worker_unavailable');

      // A page committed by a batch the workflow has not heard the end of yet.
      const contacts = [1, 2, 3].map(plainContact);
      await store.tenant(TENANT).savePage(userId, 'google-people', contacts, {
        importKey: importKey(started.workflowId, started.runId),
        checkpoint: { ...EMPTY_CHECKPOINT, cursor: 'next', fetched: 3, saved: 3, pages: 1, total: 10 },
      });

      const afterPage = expectImport(await call(`/v1/imports/${started.importId}`), 200);
      assert.deepEqual(
        { state: afterPage.state, fetched: afterPage.fetched, saved: afterPage.saved, pages: afterPage.pages, total: afterPage.total },
        { state: 'running', fetched: 3, saved: 3, pages: 1, total: 10 },
        'the stored checkpoint is a page ahead of the memo: its counts are the answer',
      );

      // Another import of another user is not this one: its checkpoint key differs.
      const other = expectImport(
        await call('/v1/imports', { userId: uniqueId('other'), source: { provider: 'google-people', accessToken: 'token' } }),
        202,
      );
      assert.equal(expectImport(await call(`/v1/imports/${other.importId}`), 200).saved, 0, "another import's status is its own");
    });

    it('keeps the stored counts after the import ended: a terminated import does not fall back to its memo', async () => {
      const { client } = await temporal();
      const userId = uniqueId('user');
      const started = expectImport(await call('/v1/imports', { userId, source: { provider: 'google-people', accessToken: 'token' } }), 202);
      const handle = client.workflow.getHandle(started.workflowId, started.runId);
      try {
        await store.tenant(TENANT).savePage(userId, 'google-people', [1, 2, 3].map(plainContact), {
          importKey: importKey(started.workflowId, started.runId),
          checkpoint: { ...EMPTY_CHECKPOINT, cursor: 'next', fetched: 3, saved: 3, pages: 1, total: 10 },
        });
        const running = expectImport(await call(`/v1/imports/${started.importId}`), 200);
        assert.deepEqual({ state: running.state, saved: running.saved, pages: running.pages }, { state: 'running', saved: 3, pages: 1 });

        // An operator stops it before its workflow heard of the page: the memo still says nothing saved.
        await handle.terminate('status-progress test: stopped by an operator');
        const ended = expectImport(await call(`/v1/imports/${started.importId}`), 200);
        assert.deepEqual(
          { state: ended.state, fetched: ended.fetched, saved: ended.saved, pages: ended.pages, total: ended.total },
          { state: 'failed', fetched: 3, saved: 3, pages: 1, total: 10 },
          'the page committed before it ended still counts',
        );
      } finally {
        await handle.terminate('test over').catch(() => undefined);
      }
    });

    it('brings a cached answer up to the stored checkpoint, so API processes with their own caches never answer behind each other', async () => {
      // One process's cache holds an answer for a minute: what a second process said since must not be undone by it.
      const { app: cachingApp } = await createTestApp({
        store,
        taskQueue: uniqueId('no-worker'),
        imports: { queryTimeoutMs: 200, statusFreshMs: 60_000, statusStaleMs: 60_000 },
      });
      const read = async (importId: string) => expectImport(await callOn(cachingApp, `/v1/imports/${importId}`), 200);
      const userId = uniqueId('user');
      const started = expectImport(await callOn(cachingApp, '/v1/imports', { userId, source: { provider: 'google-people', accessToken: 'token' } }), 202);
      assert.equal((await read(started.importId)).saved, 0, 'read once: now cached');
      await store.tenant(TENANT).savePage(userId, 'google-people', [1, 2].map(plainContact), {
        importKey: importKey(started.workflowId, started.runId),
        checkpoint: { ...EMPTY_CHECKPOINT, cursor: 'next', fetched: 2, saved: 2, pages: 1, total: 10 },
      });
      const cached = await read(started.importId);
      assert.deepEqual(
        { saved: cached.saved, pages: cached.pages, total: cached.total },
        { saved: 2, pages: 1, total: 10 },
        'the cached answer took the counts stored since',
      );
    });

    it('says rate_limited until the Retry-After ends while a budget key of the import is closed, however cached the rest is', async () => {
      const { app: cachingApp } = await createTestApp({
        store,
        taskQueue: uniqueId('no-worker'),
        imports: { queryTimeoutMs: 200, statusFreshMs: 60_000, statusStaleMs: 60_000 },
      });
      const read = async (importId: string) => expectImport(await callOn(cachingApp, `/v1/imports/${importId}`), 200);
      const source = { provider: 'google-people', accessToken: 'token' };
      const [ours, theirs] = [
        expectImport(await callOn(cachingApp, '/v1/imports', { userId: uniqueId('user'), source }), 202),
        expectImport(await callOn(cachingApp, '/v1/imports', { userId: uniqueId('user'), source }), 202),
      ];
      const app = uniqueId('app-key');
      // What a batch files when it opens its source: the import's user key and the app's.
      await store.budgets.registerImport(TENANT, ours.userId, importKey(ours.workflowId, ours.runId), [uniqueId('user-key'), app]);
      await store.budgets.registerImport(TENANT, theirs.userId, importKey(theirs.workflowId, theirs.runId), [uniqueId('user-key'), app]);
      assert.equal((await read(ours.importId)).waiting?.reason, 'worker_unavailable', 'cached: no worker, nothing closed');

      await store.budgets.close(app, { forMs: 5_000, by: 429, learn: false, epoch: 0, increaseFraction: 0.1 });
      for (const view of [await read(ours.importId), await read(theirs.importId)]) {
        assert.equal(view.waiting?.reason, 'rate_limited', 'every import on the closed key says so');
        const until = Date.parse(view.waiting.until ?? '');
        assert.ok(until > Date.now() + 4_000 && until <= Date.now() + 5_000, `until the Retry-After ends: ${view.waiting.until}`);
        assert.equal(view.etaSeconds, undefined, 'no estimate while it waits');
      }
      const elsewhere = expectImport(await callOn(cachingApp, '/v1/imports', { userId: uniqueId('user'), source }), 202);
      assert.notEqual((await read(elsewhere.importId)).waiting?.reason, 'rate_limited', 'an import on other keys is not held');
    });
  });
}
