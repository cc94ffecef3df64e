/**
 * The worker's heap headroom (`worker/heap-headroom.ts`): how far V8 may grow the heap between full
 * collections, shared by the import batches running. First the share on its own, then counted by a
 * real worker's activity interceptor during imports that complete and that fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { createHeapHeadroom, heapGrowingPercent, MIN_SHARE_PERCENT } from '../worker/heap-headroom';
import { startApi, type TestApi } from './support/api';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';

describe('heap headroom', () => {
  it('gives one batch the whole headroom, shares it between several, and leaves V8 its own factor below the floor', () => {
    assert.equal(heapGrowingPercent(0, 100), 0, 'an idle worker: V8 decides');
    assert.equal(heapGrowingPercent(1, 100), 100);
    assert.equal(heapGrowingPercent(2, 100), 50);
    assert.equal(heapGrowingPercent(3, 100), 33);
    assert.equal(heapGrowingPercent(4, 100), 0, `a share under ${MIN_SHARE_PERCENT} % is V8's own factor`);
    assert.equal(heapGrowingPercent(20, 100), 0);
    assert.equal(heapGrowingPercent(1, 0), 0, '0 turns it off');
  });

  it('sets the V8 flag only when the share changes, and back to V8 when the last batch ends', () => {
    const set: string[] = [];
    const headroom = createHeapHeadroom(100, (flags) => set.push(flags));
    headroom.batchStarted();
    headroom.batchStarted();
    headroom.batchStarted();
    headroom.batchStarted();
    headroom.batchStarted();
    assert.equal(headroom.current(), 0, 'five batches: V8 decides');
    headroom.batchEnded();
    headroom.batchEnded();
    headroom.batchEnded();
    assert.equal(headroom.current(), 50);
    headroom.batchEnded();
    headroom.batchEnded();
    headroom.batchEnded();
    assert.equal(headroom.current(), 0, 'an end without a start does not go below nothing');
    assert.deepEqual(set, [
      '--heap-growing-percent=100',
      '--heap-growing-percent=50',
      '--heap-growing-percent=33',
      '--heap-growing-percent=0',
      '--heap-growing-percent=33',
      '--heap-growing-percent=50',
      '--heap-growing-percent=100',
      '--heap-growing-percent=0',
    ]);
  });

  describe('counted by the worker', () => {
    let store: Store;
    let provider: DemoProvider;
    let api: TestApi;
    const taskQueue = uniqueId('heap-headroom');

    before(async () => {
      store = await storeCases()[0]!.open();
      provider = await startDemoProvider({ contacts: 3_000 });
      api = await startApi({ store, taskQueue, tuning: { pageSize: 1000, pagesPerBatch: 2 } });
    });
    after(async () => {
      await api.close();
      await provider.close();
      await store.close();
    });

    it('counts each import batch while it runs, and ends with none counted whether the import completes or fails', async () => {
      const set: string[] = [];
      const headroom = createHeapHeadroom(100, (flags) => set.push(flags));
      const worker = await startWorker({ store, providerUrl: provider.url, taskQueue, heapHeadroom: headroom });
      await worker.runUntil(async () => {
        const { json: done } = await api.startImport({ userId: uniqueId('user'), source: { provider: 'google-people', accessToken: 'token' } });
        await waitFor(async () => (await api.getImport(done.importId)).state === 'completed', 'the import to complete');
        // Three pages, two per batch: two batches, each counted from its start to its end.
        assert.deepEqual(set, ['--heap-growing-percent=100', '--heap-growing-percent=0', '--heap-growing-percent=100', '--heap-growing-percent=0']);

        // A revoked token fails the batch for good: the import waits for new credentials.
        provider.configure({ faults: { revokedTokens: ['revoked'] } });
        const { json: refused } = await api.startImport({ userId: uniqueId('user'), source: { provider: 'google-people', accessToken: 'revoked' } });
        try {
          const stopped = await waitFor(async () => {
            const view = await api.getImport(refused.importId);
            return view.state !== 'running' && view;
          }, 'the refused import to stop');
          assert.equal(stopped.errorType, 'ProviderUnauthenticated', `the import stopped for another reason: ${JSON.stringify(stopped)}`);
          assert.equal(headroom.current(), 0, 'a failed batch is no longer counted');
          assert.equal(set.at(-1), '--heap-growing-percent=0');
        } finally {
          await api.call('POST', `/v1/imports/${refused.importId}/cancel`);
          provider.configure({ faults: {} });
        }
      });
    });
  });
});
