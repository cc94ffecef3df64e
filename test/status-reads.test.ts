/**
 * A status costs one store read while the import moves: the store's record of the import (its
 * checkpoint, when a batch attempt last failed, a closed budget; db/import-state.ts) says whether
 * it may be waiting, and only then is Temporal asked why (`describe`, counted at the client). A
 * batch that fails after pages were saved is noted in the store, so its waiting reason shows at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { mayBeWaiting } from '../api/imports/status-reader';
import { ImportView } from '../api/schemas';
import type { Store, StoredImportState } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import { startEventsApi, type EventsApi } from './support/events';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';
import { plainContact } from './support/records';

const TENANT = 'status-reads';

describe('whether a running import may be waiting, from its stored state', () => {
  const now = Date.parse('2026-12-07T20:00:10.000Z');
  const state = (updatedAt: string, failedSinceSave: boolean): StoredImportState => ({
    progress: { checkpoint: EMPTY_CHECKPOINT, writes: 1, updatedAt, failedSinceSave },
    wait: null,
  });

  it('is moving when a page was saved within the quiet time and no attempt failed since', () => {
    assert.equal(mayBeWaiting(state('2026-12-07T20:00:05.000Z', false), now, 10_000), false);
  });

  it('may be waiting when an attempt failed since the last saved page, however recent that page', () => {
    assert.equal(mayBeWaiting(state('2026-12-07T20:00:09.000Z', true), now, 10_000), true);
  });

  it('may be waiting when no page was saved for longer than the quiet time, or none yet, or the store did not answer', () => {
    assert.equal(mayBeWaiting(state('2026-12-07T19:59:59.000Z', false), now, 10_000), true);
    assert.equal(mayBeWaiting({ progress: null, wait: null }, now, 10_000), true);
    assert.equal(mayBeWaiting(undefined, now, 10_000), true);
  });
});

for (const storeCase of storeCases()) {
  describe(`an import's stored state on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    before(async () => {
      store = await storeCase.open();
    });
    after(() => store?.close());

    const savePage = (userId: string, key: string, pages: number) =>
      store.tenant(TENANT).savePage(userId, 'google-people', [plainContact(pages)], {
        importKey: key,
        checkpoint: { ...EMPTY_CHECKPOINT, cursor: `after-${pages}`, fetched: pages, saved: pages, pages },
      });

    it('reads the checkpoint, whether an attempt failed since its last page, and a closed budget in one read', async () => {
      const userId = uniqueId('user');
      const key = uniqueId('import');
      assert.deepEqual(await store.importStates.read(TENANT, key), { progress: null, wait: null }, 'nothing before the first page');
      await store.importStates.noteBatchFailure(TENANT, key);
      assert.deepEqual(await store.importStates.read(TENANT, key), { progress: null, wait: null }, 'a failure before the first page has no row to go on');

      await savePage(userId, key, 1);
      const first = await store.importStates.read(TENANT, key);
      assert.equal(first.progress?.checkpoint.pages, 1);
      assert.equal(first.progress?.failedSinceSave, false, 'no failure noted yet');

      await store.importStates.noteBatchFailure(TENANT, key);
      const failed = (await store.importStates.read(TENANT, key)).progress;
      assert.equal(failed?.failedSinceSave, true, 'failed since the last saved page');
      assert.equal(await store.importStates.read(TENANT, uniqueId('import')).then((s) => s.progress), null, 'another import is not this one');
      assert.equal((await store.importStates.read('another-tenant', key)).progress, null, "another tenant's import of the same key reads nothing");

      await savePage(userId, key, 2);
      const moved = (await store.importStates.read(TENANT, key)).progress;
      assert.equal(moved?.checkpoint.pages, 2);
      assert.equal(moved?.failedSinceSave, false, 'a page saved after the failure puts it behind');
      await store.importStates.noteBatchFailure(TENANT, key);
      assert.equal((await store.importStates.read(TENANT, key)).progress?.failedSinceSave, true, 'and a later failure counts again');

      const budgetKey = uniqueId('budget');
      await store.budgets.registerImport(TENANT, userId, key, [budgetKey]);
      await store.budgets.close(budgetKey, { forMs: 5_000, by: 429, learn: false, epoch: 0, increaseFraction: 0 });
      const { wait, progress } = await store.importStates.read(TENANT, key);
      assert.equal(wait?.cause, 'throttled');
      assert.ok(wait && Date.parse(wait.until) > Date.now() + 3_000, `closed until ${wait?.until}`);
      assert.equal(progress?.checkpoint.pages, 2, 'with the checkpoint, in the same read');
      const closedOnly = uniqueId('import');
      await store.budgets.registerImport(TENANT, userId, closedOnly, [budgetKey]);
      assert.equal((await store.importStates.read(TENANT, closedOnly)).wait?.cause, 'throttled', 'a closure shows before the first page too');
    });
  });
}

describe('status reads of a running import', () => {
  const storeCase = storeCases()[0]!;
  let provider: DemoProvider;
  let store: Store;
  let api: EventsApi;
  let worker: Worker;
  let workerRun: Promise<void>;

  before(async () => {
    provider = await startDemoProvider({ contacts: 1_000 });
    store = await storeCase.open();
    const taskQueue = uniqueId('status-reads');
    // No shared answers, and a quiet time no test reaches: every read asks, and only a noted failure explains a describe.
    api = await startEventsApi({ store, taskQueue, imports: { statusFreshMs: 0, statusStaleMs: 0, statusQuietMs: 600_000 } });
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
  });
  after(async () => {
    provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await api?.close();
    await provider?.close();
    await store?.close();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(api.url + path, {
      method,
      headers: { authorization: `Bearer ${api.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as unknown };
  };
  const status = async (importId: string) => ImportView.parse((await call('GET', `/v1/imports/${importId}`)).json);

  it('asks Temporal nothing but the query while pages are saved, and describes once a batch fails after them', async () => {
    provider.configure({ faults: { holdFromOffset: 200 } });
    const started = await call('POST', '/v1/imports', { userId: uniqueId('reads'), source: { provider: 'google-people', accessToken: 'demo-token' } });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    const { importId } = ImportView.parse(started.json);
    await waitFor(async () => (await status(importId)).saved === 200, 'the first two pages');

    const before = { ...api.counts };
    for (let i = 0; i < 5; i += 1) {
      const view = await status(importId);
      assert.equal(view.state, 'running');
      assert.equal(view.waiting, undefined, 'a moving import waits for nothing');
    }
    assert.equal(api.counts.describe - before.describe, 0, 'no describe while the store shows the import moving');
    assert.equal(api.counts.query - before.query, 5, 'one query a read');

    // The held page and every request after it fail: the batch fails after its saved pages.
    provider.configure({ faults: { every: { every: 1, kind: '500' } } });
    const waiting = await waitFor(async () => (await status(importId)).waiting, 'a waiting reason');
    assert.equal(waiting.reason, 'provider_unavailable', JSON.stringify(waiting));
    assert.ok(api.counts.describe > before.describe, 'the reason comes from Temporal once a failure is noted');

    provider.configure({ faults: {} });
    const done = await waitFor(async () => {
      const view = await status(importId);
      return view.state === 'completed' && view;
    }, 'the import to complete');
    assert.equal(done.saved, 1_000);
    assert.equal(done.waiting, undefined);
  });
});
