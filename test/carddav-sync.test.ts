/**
 * CardDAV incremental imports against a real Radicale (`sync-collection`, RFC 6578): a full import
 * leaves a token; the next one reads only the cards changed or removed since; a token the server
 * refuses (403 `valid-sync-token`) turns the import into a full one that sweeps away removed cards.
 * The API on a real port, a real worker, the run's Temporal dev server, SQLite and PostgreSQL (when
 * `TEST_DATABASE_URL` is set). Skipped, saying why, without Debian's `radicale`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { ContactStore, Store } from '../db/types';
import { expectImport, startApi, type ImportView, type TestApi } from './support/api';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';
import { radicaleMissing, seedCard, startRadicale, type RadicaleServer } from './support/radicale';

const CARDS = 30;
const TENANT = 'carddav-sync';

void describe('CardDAV incremental sync against Radicale', { skip: radicaleMissing() ?? false }, () => {
  for (const storeCase of storeCases()) {
    describe(`on ${storeCase.name}`, { skip: storeCase.skip }, () => {
      let dav: RadicaleServer;
      let store: Store;
      let contacts: ContactStore;
      let api: TestApi;
      let worker: Worker;
      let workerRun: Promise<void>;

      before(async () => {
        dav = await startRadicale({ cards: CARDS });
        store = await storeCase.open();
        const taskQueue = uniqueId(`carddav-sync-${storeCase.name}`);
        api = await startApi({ store, taskQueue, tenant: TENANT, tuning: { pageSize: 10, pagesPerBatch: 2 } });
        contacts = store.tenant(TENANT);
        worker = await startWorker({ store, providerUrl: 'http://127.0.0.1:9', taskQueue });
        workerRun = worker.run();
      });
      after(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await workerRun;
        await api.close();
        await store.close();
        await dav.stop();
      });

      const auth = () => `Basic ${Buffer.from(`${dav.username}:${dav.password}`).toString('base64')}`;
      const bookPath = () => new URL(dav.addressBookUrl).pathname;

      /** Changes the address book over HTTP, as another client would. */
      async function dav_(method: 'PUT' | 'DELETE', href: string, body?: string): Promise<void> {
        const res = await fetch(new URL(href, dav.url), {
          method,
          headers: { authorization: auth(), ...(body ? { 'content-type': 'text/vcard; charset=utf-8' } : {}) },
          body,
        });
        assert.ok(res.ok, `${method} ${href}: ${res.status} ${await res.text()}`);
      }

      async function importOnce(userId: string): Promise<ImportView> {
        const body = { userId, source: { provider: 'carddav', url: dav.url, username: dav.username, password: dav.password } };
        const started = expectImport(await api.call('POST', '/v1/imports', body), 202);
        return waitFor(async () => {
          const status = await api.getImport(started.importId);
          assert.ok(status.state !== 'failed', `the import failed: ${status.error ?? ''}`);
          return status.state === 'completed' && status;
        }, 'the CardDAV import to complete');
      }

      async function storedHrefs(userId: string): Promise<Map<string, string | null>> {
        const page = await contacts.listContacts(userId, { limit: 1000 });
        return new Map(page.items.map((contact) => [contact.externalId, contact.displayName]));
      }

      it('reads only what changed, deletes removed cards, and falls back to a sweeping full read when the token is refused', async () => {
        const userId = uniqueId('dav');
        const first = await importOnce(userId);
        assert.equal(first.mode, 'full');
        assert.equal(first.saved, dav.cards.length);
        const token = await store.syncState.get(TENANT, userId, 'carddav');
        assert.ok(token, 'the full read left the sync-collection token');

        // Another client edits one card, removes one, adds one.
        const edited = dav.cards[0];
        const removed = dav.cards[1];
        assert.ok(edited && removed);
        await dav_('PUT', edited.href, edited.vcard.replace(`FN:${edited.displayName}`, 'FN:Edited Name'));
        await dav_('DELETE', removed.href);
        const added = seedCard(dav.cards.length + 1, bookPath());
        await dav_('PUT', added.href, added.vcard);

        const second = await importOnce(userId);
        assert.equal(second.mode, 'incremental');
        assert.equal(second.saved, 2, 'the edited and the added card, nothing else');
        assert.equal(second.deleted, 1);
        let stored = await storedHrefs(userId);
        assert.equal(stored.size, dav.cards.length);
        assert.equal(stored.get(edited.href), 'Edited Name');
        assert.ok(!stored.has(removed.href), 'the removed card is not listed');
        assert.ok(stored.has(added.href));

        // A token the server does not know: Radicale answers 403 valid-sync-token.
        const again = await store.syncState.get(TENANT, userId, 'carddav');
        assert.ok(again && again.token !== token.token, 'the incremental read left a newer token');
        await store.syncState.save(TENANT, userId, 'carddav', { token: `${again.token}-unknown`, params: again.params });
        const gone = dav.cards[2];
        assert.ok(gone);
        await dav_('DELETE', gone.href);
        const third = await importOnce(userId);
        assert.equal(third.mode, 'full', 'a refused token reads everything');
        assert.equal(third.deleted, 1, 'the full read swept away the card removed meanwhile');
        stored = await storedHrefs(userId);
        assert.equal(stored.size, dav.cards.length - 1);
        assert.ok(!stored.has(gone.href));
        assert.equal(await contacts.countContacts(userId, 'carddav'), dav.cards.length - 1);
      });
    });
  }
});
