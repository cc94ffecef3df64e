/**
 * The checkpoint a page's transaction stores (db/checkpoints.ts) carries the import's sync fields
 * too: a batch resumed from the store after a crash must read on in the mode, with the sweep and
 * the token, that the last saved page left, not those of an older heartbeat.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { storeCases, uniqueId } from './support/harness';
import { plainContact } from './support/records';

const TENANT = 'checkpoints';

const contact = plainContact;

for (const storeCase of storeCases()) {
  describe(`checkpoints stored with pages, on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    before(async () => {
      store = await storeCase.open();
    });
    after(() => store?.close());

    it('keeps the sync fields of the last page, and none for an import without a mode', async () => {
      const contacts = store.tenant(TENANT);
      const userId = uniqueId('user');
      const key = uniqueId('import');
      const counts = { fetched: 1, saved: 1, rejected: 0, total: null };
      await contacts.savePage(userId, 'google-people', [contact(1)], { importKey: key, cursor: 'p2', pages: 1, ...counts, mode: 'incremental', syncToken: 'tok-1', deleted: 2 });
      // A refused token made the next page the first of a full read that sweeps: the fields change with it.
      await contacts.savePage(userId, 'google-people', [contact(2)], { importKey: key, cursor: 'p3', pages: 2, ...counts, saved: 2, mode: 'full', sweepAt: 7, deleted: 2 });
      const stored = await contacts.readCheckpoint(key);
      assert.deepEqual(
        stored && { cursor: stored.cursor, pages: stored.pages, saved: stored.saved, writes: stored.writes, mode: stored.mode, sweepAt: stored.sweepAt, syncToken: stored.syncToken, deleted: stored.deleted },
        { cursor: 'p3', pages: 2, saved: 2, writes: 2, mode: 'full', sweepAt: 7, syncToken: undefined, deleted: 2 },
        'the second page replaced the sync fields as a whole: no token of the incremental read is left',
      );

      const plainKey = uniqueId('import');
      await contacts.savePage(userId, 'google-people', [contact(3)], { importKey: plainKey, cursor: null, pages: 1, ...counts });
      const plain = await contacts.readCheckpoint(plainKey);
      assert.ok(plain, 'the plain import has a checkpoint');
      assert.deepEqual([plain.mode, plain.sweepAt, plain.syncToken, plain.deleted], [undefined, undefined, undefined, undefined]);
    });
  });
}
