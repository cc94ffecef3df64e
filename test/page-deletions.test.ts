/**
 * A page's deletions are saved in the page's own transaction: when the save fails after them and
 * the batch is retried, the import's `deleted` counts them once, exactly. The store on its own
 * (a failed save leaves no tombstone behind), then end to end (the API on a real port, a real
 * worker, the demo provider deleting people between imports), on SQLite and on PostgreSQL (when
 * `TEST_DATABASE_URL` is set).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { ContactRecord, ContactStore, PageSave, Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { advance, EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import { importToCompletion, startApi, type TestApi } from './support/api';
import { startWorker, storeCases, uniqueId } from './support/harness';
import { withSavePage } from './support/store-wrap';

const N = 40;
const TENANT = 'page-deletions';
const PROVIDER = 'google-people';

function person(n: number): ContactRecord {
  return { externalId: `people/c${n}`, etag: `e${n}`, displayName: `Person ${n}`, email: null, phone: null, organization: null, raw: { n } };
}

/** A record the contacts table refuses (its etag is NOT NULL): a save that carries it fails inside its transaction, after the page's tombstones. */
const POISON = { ...person(-1), etag: null } as unknown as ContactRecord;

/** `store` whose next page save for `armed.userId` (once armed) carries {@link POISON}, so it fails after its deletions; it fails once. */
function failingOnce(store: Store, armed: { userId?: string; failures: number }): Store {
  return withSavePage(store, (real, userId, provider, page, saved) => {
    if (armed.userId !== userId) return real.savePage(userId, provider, page, saved);
    armed.userId = undefined;
    armed.failures++;
    return real.savePage(userId, provider, [...page, POISON], saved);
  });
}

for (const storeCase of storeCases()) {
  describe(`a page's deletions on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    let contacts: ContactStore;

    before(async () => {
      store = await storeCase.open();
      contacts = store.tenant(TENANT);
    });
    after(async () => {
      await store.close();
    });

    it('rolls back its tombstones and sweep with a save that fails, and counts them when the save is retried', async () => {
      const userId = uniqueId('store');
      const importKey = uniqueId('import');
      await contacts.upsertContacts(userId, PROVIDER, [0, 1, 2, 3, 4].map(person));
      const upTo = await contacts.currentChangeSeq(userId);
      // A full listing that saw 0 and 1 (and writes 2 again): 3 is reported deleted, 4 is swept.
      await contacts.markSeen(userId, PROVIDER, ['people/c0', 'people/c1'], 'listing');
      const checkpoint = advance({ ...EMPTY_CHECKPOINT, mode: 'full', sweepAt: upTo }, { saved: 1, rejected: 0, nextCursor: null, total: null, deleted: 0 });
      const saved: PageSave = { importKey, checkpoint, deletions: { externalIds: ['people/c3', 'people/c99'], sweep: { mark: 'listing', upTo } } };

      await assert.rejects(contacts.savePage(userId, PROVIDER, [{ ...person(2), etag: 'e2-new' }, POISON], saved), /null/i);
      assert.equal(await contacts.countContacts(userId), 5, 'a failed save leaves every contact live');
      assert.equal(await contacts.readCheckpoint(importKey), null, 'a failed save files no checkpoint');

      const result = await contacts.savePage(userId, PROVIDER, [{ ...person(2), etag: 'e2-new' }], saved);
      assert.deepEqual(result, { written: 1, deleted: 2 }, 'the retry tombstones 3 (reported) and 4 (swept), and rewrites 2');
      assert.equal((await contacts.readCheckpoint(importKey))?.checkpoint.deleted, 2, 'the filed checkpoint counts the page\'s deletions');
      const live = (await contacts.listContacts(userId, { limit: 10 })).items.map((item) => item.externalId);
      assert.deepEqual(live, ['people/c0', 'people/c1', 'people/c2']);

      const again = await contacts.savePage(userId, PROVIDER, [{ ...person(2), etag: 'e2-new' }], saved);
      assert.deepEqual(again, { written: 0, deleted: 0 }, 'a page saved twice deletes nothing the second time');
    });
  });

  describe(`a retried page's deletions end to end on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;
    const armed: { userId?: string; failures: number } = { failures: 0 };

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      store = await storeCase.open();
      const taskQueue = uniqueId(`deletions-${storeCase.name}`);
      api = await startApi({ store, taskQueue, tenant: TENANT });
      worker = await startWorker({ store: failingOnce(store, armed), providerUrl: provider.url, taskQueue });
      workerRun = worker.run();
    });
    after(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api.close();
      await provider.close();
      await store.close();
    });

    const importOnce = (body: Record<string, unknown>) => importToCompletion(api, body);

    const google = (userId: string, mode?: string) => ({ userId, source: { provider: PROVIDER, accessToken: 'demo-token' }, ...(mode ? { mode } : {}) });

    it('counts the deletions an incremental page reports exactly when its save failed once and was retried', async () => {
      const userId = uniqueId('incremental');
      assert.equal((await importOnce(google(userId))).saved, N);
      provider.sync.change({ edit: [0], delete: [2, 3, 4] });
      armed.userId = userId;
      const failuresBefore = armed.failures;
      const second = await importOnce(google(userId));
      assert.equal(armed.failures, failuresBefore + 1, 'the page\'s first save failed');
      assert.equal(second.mode, 'incremental');
      assert.equal(second.deleted, 3, 'the retried page counts its three deletions');
      assert.equal(await store.tenant(TENANT).countContacts(userId), N - 3);
    });

    it('counts what a full read sweeps exactly when its last page\'s save failed once and was retried', async () => {
      const userId = uniqueId('sweep');
      const first = await importOnce(google(userId));
      provider.sync.change({ delete: [7] });
      armed.userId = userId;
      const failuresBefore = armed.failures;
      const full = await importOnce(google(userId, 'full'));
      assert.equal(armed.failures, failuresBefore + 1, 'the page\'s first save failed');
      assert.equal(full.mode, 'full');
      assert.equal(full.deleted, 1, 'the retried last page counts the one contact it swept');
      assert.equal(await store.tenant(TENANT).countContacts(userId), first.saved - 1);
    });
  });
}
