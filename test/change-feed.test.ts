/**
 * The change feed, tombstones and sweeps in the store (db/changes.ts), on SQLite and, when
 * `TEST_DATABASE_URL` is set, on PostgreSQL: commit order under concurrent writers included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidCursorError } from '../db/types';
import type { ChangePage, ContactChange, ContactRecord, ContactStore, Store } from '../db/types';
import { storeCases, uniqueId } from './support/harness';

const TENANT = 'feed';
const PROVIDER = 'google-people';

function contact(n: number, etag = 'e1'): ContactRecord {
  const externalId = `people/c${String(n).padStart(5, '0')}`;
  return { externalId, etag, displayName: `Contact ${n}`, email: `c${n}@example.com`, phone: null, organization: null, raw: { n } };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => contact(from + i));
const ids = (items: readonly ContactChange[]) => items.map((item) => `${item.change} ${item.externalId}`);

/** Every change after `since`, following the cursor in pages of `limit`. */
async function drain(contacts: ContactStore, userId: string, since: string, limit = 1000): Promise<{ items: ContactChange[]; cursor: string }> {
  const items: ContactChange[] = [];
  let page: ChangePage;
  let cursor = since;
  do {
    page = await contacts.listChanges(userId, { limit, since: cursor });
    items.push(...page.items);
    cursor = page.cursor;
  } while (page.hasMore);
  return { items, cursor };
}

for (const storeCase of storeCases()) {
  describe(`change feed on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    let contacts: ContactStore;

    before(async () => {
      store = await storeCase.open();
      contacts = store.tenant(TENANT);
    });
    after(() => store.close());

    it('lists upserts and deletions in commit order and resumes from a cursor; tombstones are hidden from the listing', async () => {
      const userId = uniqueId('feed');
      await contacts.upsertContacts(userId, PROVIDER, range(1, 5));
      const first = await drain(contacts, userId, '0');
      assert.deepEqual(ids(first.items), range(1, 5).map((c) => `upsert ${c.externalId}`));

      assert.equal(await contacts.tombstoneContacts(userId, PROVIDER, ['people/c00002', 'people/c00004', 'people/c99999']), 2);
      assert.equal(await contacts.tombstoneContacts(userId, PROVIDER, ['people/c00002']), 0, 'a tombstone stays one');
      const deletions = await drain(contacts, userId, first.cursor);
      assert.deepEqual(ids(deletions.items), ['delete people/c00002', 'delete people/c00004']);
      const gone = deletions.items[0];
      assert.ok(gone?.change === 'delete' && !Number.isNaN(Date.parse(gone.deletedAt)), 'a deletion says when');

      assert.equal(await contacts.countContacts(userId), 3);
      const listed = await contacts.listContacts(userId, { limit: 100 });
      assert.deepEqual(
        listed.items.map((c) => c.externalId),
        ['people/c00001', 'people/c00003', 'people/c00005'],
      );

      // An unchanged etag is no change; a changed one and a contact that comes back are.
      await contacts.upsertContacts(userId, PROVIDER, [contact(1), contact(3, 'e2'), contact(4)]);
      const later = await drain(contacts, userId, deletions.cursor);
      assert.deepEqual(ids(later.items), ['upsert people/c00003', 'upsert people/c00004']);
      assert.equal(await contacts.countContacts(userId), 4, 'people/c00004 is back');

      const paged = await drain(contacts, userId, '0', 2);
      const whole = await drain(contacts, userId, '0');
      assert.deepEqual(ids(paged.items), ids(whole.items), 'pages of 2 list what one page lists');
      assert.deepEqual(ids(whole.items), [
        'upsert people/c00001',
        'upsert people/c00005',
        'delete people/c00002',
        'upsert people/c00003',
        'upsert people/c00004',
      ]);
      await assert.rejects(contacts.listChanges(userId, { limit: 10, since: 'bm90LWEtY3Vyc29y' }), InvalidCursorError);
    });

    it("merges every provider's changes in commit order, whatever the page size", async () => {
      const userId = uniqueId('providers');
      await contacts.upsertContacts(userId, PROVIDER, range(1, 3));
      await contacts.upsertContacts(userId, 'carddav', range(10, 2));
      await contacts.tombstoneContacts(userId, PROVIDER, ['people/c00001']);
      await contacts.upsertContacts(userId, 'carddav', [contact(12)]);
      await contacts.upsertContacts(userId, PROVIDER, [contact(4)]);
      const expected = [
        'upsert people/c00002',
        'upsert people/c00003',
        'upsert people/c00010',
        'upsert people/c00011',
        'delete people/c00001',
        'upsert people/c00012',
        'upsert people/c00004',
      ];
      for (const limit of [1, 2, 3, 1000]) {
        assert.deepEqual(ids((await drain(contacts, userId, '0', limit)).items), expected, `pages of ${limit}`);
      }
      const providers = (await drain(contacts, userId, '0')).items.map((item) => item.provider);
      assert.deepEqual(providers, [PROVIDER, PROVIDER, 'carddav', 'carddav', PROVIDER, 'carddav', PROVIDER]);
    });

    it('a reader following the cursor while many writers commit misses no change', async () => {
      const userId = uniqueId('race');
      const writers = 8;
      const pagesEach = 12;
      const perPage = 5;
      let writing = true;
      const seen = new Set<string>();
      const reader = (async () => {
        let cursor = '0';
        for (;;) {
          const done = !writing;
          const page = await contacts.listChanges(userId, { limit: 7, since: cursor });
          for (const item of page.items) seen.add(item.externalId);
          cursor = page.cursor;
          // One more full pass after the writers finished, then stop.
          if (done && !page.hasMore) return;
        }
      })();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let p = 0; p < pagesEach; p++) {
            await contacts.upsertContacts(userId, PROVIDER, range((w * pagesEach + p) * perPage, perPage));
          }
        }),
      );
      writing = false;
      await reader;
      const total = writers * pagesEach * perPage;
      assert.equal(seen.size, total, `the reader saw ${seen.size} of ${total} contacts: a change committed behind its cursor`);
    });

    it('a sweep tombstones what the listing neither wrote nor saw, and only that', async () => {
      const userId = uniqueId('sweep');
      await contacts.upsertContacts(userId, PROVIDER, range(1, 4));
      await contacts.upsertContacts(userId, 'carddav', [contact(9)]);
      const upTo = await contacts.currentChangeSeq(userId);
      const mark = uniqueId('import');
      // The listing: 1 unchanged (marked), 2 changed (written), 5 new (written); 3 and 4 are gone.
      await contacts.markSeen(userId, PROVIDER, ['people/c00001', 'people/c00002', 'people/c00005'], mark);
      await contacts.upsertContacts(userId, PROVIDER, [contact(2, 'e2'), contact(5)]);
      assert.equal(await contacts.sweepUnseen(userId, PROVIDER, mark, upTo), 2);
      assert.equal(await contacts.sweepUnseen(userId, PROVIDER, mark, upTo), 0, 'a second sweep finds nothing to do');
      const listed = await contacts.listContacts(userId, { limit: 100 });
      assert.deepEqual(
        listed.items.map((c) => `${c.provider} ${c.externalId}`),
        ['carddav people/c00009', `${PROVIDER} people/c00001`, `${PROVIDER} people/c00002`, `${PROVIDER} people/c00005`],
        "another provider's contacts are not the listing's business",
      );
    });

    it('erasure deletes the sync token and the change counter with the contacts', async () => {
      const userId = uniqueId('erase');
      await contacts.upsertContacts(userId, PROVIDER, range(1, 3));
      await store.syncState.save(TENANT, userId, PROVIDER, { token: 'token-1', params: 'p' });
      assert.equal((await store.syncState.get(TENANT, userId, PROVIDER))?.token, 'token-1');
      assert.equal(await contacts.deleteUser(userId), 3);
      assert.equal(await store.syncState.get(TENANT, userId, PROVIDER), null, 'no token survives erasure');
      assert.equal(await contacts.currentChangeSeq(userId), 0);
      assert.deepEqual((await contacts.listChanges(userId, { limit: 10, since: '0' })).items, []);
      // Written again after erasure, the user's contacts start over.
      await contacts.upsertContacts(userId, PROVIDER, [contact(7)]);
      assert.deepEqual(ids((await drain(contacts, userId, '0')).items), ['upsert people/c00007']);
      assert.equal(await contacts.countContacts(userId, PROVIDER), 1);
    });
  });
}
