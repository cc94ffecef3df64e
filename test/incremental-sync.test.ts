/**
 * Sync modes end to end: the API on a real port, a real worker, the demo provider over
 * HTTP (people edited, deleted and added between imports; sync tokens expired on demand), uploads,
 * once on SQLite and once on PostgreSQL (when `TEST_DATABASE_URL` is set).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { z } from '@hono/zod-openapi';
import type { Worker } from '@temporalio/worker';
import { ChangePage } from '../api/schemas';
import type { ContactStore, Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { expectContactPage, expectError, expectJson, importToCompletion, startApi, type TestApi } from './support/api';
import { startWorker, storeCases, uniqueId } from './support/harness';

const N = 250;
const TENANT = 'sync';

for (const storeCase of storeCases()) {
  describe(`incremental sync on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let contacts: ContactStore;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      store = await storeCase.open();
      const taskQueue = uniqueId(`sync-${storeCase.name}`);
      api = await startApi({ store, taskQueue, tenant: TENANT });
      contacts = store.tenant(TENANT);
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
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

    const google = (userId: string, mode?: string) => ({
      userId,
      source: { provider: 'google-people', accessToken: 'demo-token' },
      ...(mode ? { mode } : {}),
    });

    async function listedIds(userId: string): Promise<Set<string>> {
      const ids = new Set<string>();
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `?limit=1000&cursor=${cursor}` : '?limit=1000';
        const page = expectContactPage(await api.call('GET', `/v1/users/${userId}/contacts${query}`));
        for (const item of page.items) ids.add(item.externalId);
        cursor = page.nextCursor;
      } while (cursor);
      return ids;
    }

    async function feed(userId: string, since: string): Promise<z.infer<typeof ChangePage>> {
      return expectJson(await api.call('GET', `/v1/users/${userId}/contacts?changedSince=${since}&limit=1000`), 200, ChangePage);
    }

    it('reads only the changes the second time: edits and additions upserted, deletions kept as hidden tombstones, and the change feed shows both', async () => {
      // The first test: the provider's people are as generated (later tests count from what they find).
      const userId = uniqueId('inc');
      const first = await importOnce(google(userId));
      assert.equal(first.mode, 'full', 'no token yet: a full read');
      assert.equal(first.saved, N);
      assert.equal(await contacts.countContacts(userId), N);
      assert.ok(await store.syncState.get(TENANT, userId, 'google-people'), 'the full read left a sync token');
      const before = await feed(userId, '0');
      assert.equal(before.items.length, N, 'the feed from 0 lists every contact');
      assert.ok(before.items.every((item) => item.change === 'upsert'));

      const { generation } = provider.sync.change({ edit: [0, 1], delete: [2, 3, 4], add: 5 });
      assert.equal(generation > 0, true);
      provider.resetStats();
      const second = await importOnce(google(userId));
      assert.equal(second.mode, 'incremental', 'a stored token: only the changes');
      assert.equal(second.saved, 2 + 5, 'the two edited and five added people');
      assert.equal(second.deleted, 3);
      assert.equal(provider.stats.contactsServed, 2 + 5 + 3, 'the provider served only the changed people');

      assert.equal(await contacts.countContacts(userId), N - 3 + 5, 'counts leave tombstones out');
      const ids = await listedIds(userId);
      for (const gone of ['people/c2', 'people/c3', 'people/c4']) assert.ok(!ids.has(gone), `${gone} is not listed`);
      assert.ok(ids.has(`people/c${N + 4}`), 'the added people are listed');
      const page = expectContactPage(await api.call('GET', `/v1/users/${userId}/contacts?limit=2`));
      assert.match(page.items[0]?.displayName ?? '', /\(edited 1\)$/, 'people/c0 was rewritten with its edit');

      const changes = await feed(userId, before.cursor);
      const deletions = changes.items.filter((item) => item.change === 'delete').map((item) => item.externalId);
      const upserts = changes.items.filter((item) => item.change === 'upsert').map((item) => item.externalId);
      assert.deepEqual(deletions.sort(), ['people/c2', 'people/c3', 'people/c4']);
      assert.equal(upserts.length, 7, `only the edited and added people: ${upserts.join(', ')}`);
      assert.equal(changes.hasMore, false);
      const nothingNew = await feed(userId, changes.cursor);
      assert.deepEqual(nothingNew.items, [], 'nothing changed since the last cursor');
      assert.equal(nothingNew.cursor, changes.cursor, 'the cursor stays where it was');
      expectError(await api.call('GET', `/v1/users/${userId}/contacts?changedSince=bm90LW91cnM`), 400, 'invalid_cursor');
    });

    it('falls back to a full read when the token has expired (400 EXPIRED_SYNC_TOKEN, and 410), sweeping away who is gone', async () => {
      const userId = uniqueId('expired');
      const first = await importOnce(google(userId));
      assert.equal(first.mode, 'full');
      for (const [expiredStatus, gone] of [
        [400, 10],
        [410, 11],
      ] as const) {
        provider.sync.expiredStatus = expiredStatus;
        provider.sync.change({ delete: [gone], expireSyncTokens: true });
        const again = await importOnce(google(userId));
        assert.equal(again.mode, 'full', `an expired token (${expiredStatus}) reads everything`);
        assert.equal(again.deleted, 1, `the full read swept away the one person deleted meanwhile (${expiredStatus})`);
        assert.ok(!(await listedIds(userId)).has(`people/c${gone}`));
      }
      provider.sync.expiredStatus = 400;
      assert.equal(await contacts.countContacts(userId), first.saved - 2);
      const next = await importOnce(google(userId));
      assert.equal(next.mode, 'incremental', 'the full read left a fresh token');
      assert.equal(next.saved, 0);
    });

    it('mode full reads everything and sweeps; mode incremental without a token is refused; a token made for another request is not used', async () => {
      const userId = uniqueId('modes');
      expectError(await api.call('POST', '/v1/imports', google(userId, 'incremental')), 422, 'no_sync_state');
      const first = await importOnce(google(userId));
      provider.sync.change({ delete: [20] });
      const full = await importOnce(google(userId, 'full'));
      assert.equal(full.mode, 'full');
      assert.equal(full.saved, first.saved - 1);
      assert.equal(full.deleted, 1);
      assert.equal(await contacts.countContacts(userId), first.saved - 1);

      // A token is good only with the request it was made with (other personFields): auto reads everything.
      const state = await store.syncState.get(TENANT, userId, 'google-people');
      assert.ok(state);
      await store.syncState.save(TENANT, userId, 'google-people', { token: state.token, params: 'google-people;personFields=names' });
      const mismatch = await importOnce(google(userId));
      assert.equal(mismatch.mode, 'full', 'a token made with other request parameters is not used');
      assert.equal(mismatch.deleted ?? 0, 0);
      assert.equal((await store.syncState.get(TENANT, userId, 'google-people'))?.params, state.params, 'the full read left a token for our request');
    });

    it('a newer upload imported with mode full sweeps away the contacts not in it; auto adds', async () => {
      const userId = uniqueId('file');
      const card = (uid: string, name: string) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${name}\r\nEND:VCARD\r\n`;
      async function upload(text: string): Promise<string> {
        const res = await fetch(`${api.url}/v1/uploads?userId=${userId}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${api.key}`, 'content-type': 'text/vcard' },
          body: text,
        });
        assert.equal(res.status, 201, await res.clone().text());
        return ((await res.json()) as { uploadId: string }).uploadId;
      }
      const fileImport = (uploadId: string, mode?: string) => ({ userId, source: { provider: 'file', uploadId }, ...(mode ? { mode } : {}) });

      const a = await upload(card('a', 'Ada') + card('b', 'Bea') + card('c', 'Cy'));
      expectError(await api.call('POST', '/v1/imports', fileImport(a, 'incremental')), 422, 'incremental_unavailable');
      assert.equal((await importOnce(fileImport(a))).saved, 3);
      const d = await upload(card('d', 'Di'));
      const added = await importOnce(fileImport(d));
      assert.equal(added.deleted ?? 0, 0, 'auto adds a file to the earlier ones');
      assert.equal(await contacts.countContacts(userId), 4);

      const newer = await upload(card('a', 'Ada') + card('b', 'Bea Changed') + card('e', 'Eve'));
      const swept = await importOnce(fileImport(newer, 'full'));
      assert.equal(swept.mode, 'full');
      assert.equal(swept.deleted, 2, 'c and d are not in the newer file');
      const ids = [...(await listedIds(userId))].sort();
      assert.equal(ids.length, 3, `only the newer file's contacts are listed: ${ids.join(', ')}`);
    });
  });
}
