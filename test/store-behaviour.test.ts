/**
 * The behaviour the contact store shares on both databases: writes, idempotent upserts, listing,
 * tenants, erasure, migrations run again and API keys. The same suite runs on SQLite (a temporary
 * file) and, when TEST_DATABASE_URL is set, on PostgreSQL (test/support/store-dialects.ts).
 *
 *   npm test -- test/store-behaviour.test.ts
 *   TEST_DATABASE_URL=postgres://contacts:contacts@127.0.0.1:5432/contacts_test npm test -- test/store-behaviour.test.ts
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidCursorError, openStore, type StoreLocation } from '../db/index';
import type { ContactStore, Store, StoredContact } from '../db/types';
import { contact, contacts } from './support/records';
import { POSTGRES_SUITE, postgresStore, sqliteDir } from './support/store-dialects';

async function listAll(store: ContactStore, userId: string, limit: number) {
  const items: StoredContact[] = [];
  const pageSizes: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listContacts(userId, { limit, cursor });
    items.push(...page.items);
    pageSizes.push(page.items.length);
    cursor = page.nextCursor;
    assert.ok(pageSizes.length <= 10_000, 'pagination never ended: nextCursor keeps coming back');
  } while (cursor !== null);
  return { items, pageSizes };
}

interface StoreHarness {
  location: StoreLocation;
  /** A user id no other test uses, so tests never see each other's rows. */
  newUser(): string;
}

/** The behaviour both dialects must share. */
function describeStoreBehaviour(harness: () => StoreHarness): void {
  let db: Store;
  /** The tenant most behaviour runs in; the tenancy tests add a second one. */
  let store: ContactStore;
  let newUser: () => string;

  void before(async () => {
    const h = harness();
    newUser = () => h.newUser();
    db = await openStore(h.location);
    store = db.tenant('tenant-a');
  });

  void after(async () => {
    await db?.close();
  });

  void it('answers ping while open, and refuses it once closed', async () => {
    // A store of its own: closing the shared one would take it from every other test.
    const own = await openStore(harness().location);
    let closed = false;
    try {
      await assert.doesNotReject(own.ping(), 'an open store should answer ping');
      await own.close();
      closed = true;
      await assert.rejects(own.ping(), Error, 'a closed store must not claim to be healthy');
    } finally {
      if (!closed) await own.close();
    }
  });

  void it('stores 2,500 contacts sent in three calls', async () => {
    const user = newUser();
    const written = [
      await store.upsertContacts(user, 'google', contacts(0, 1000)),
      await store.upsertContacts(user, 'google', contacts(1000, 1000)),
      await store.upsertContacts(user, 'google', contacts(2000, 500)),
    ].map((r) => r.written);
    assert.deepEqual(written, [1000, 1000, 500], 'each call should report every new contact as written');
    assert.equal(await store.countContacts(user), 2500);
    assert.equal(await store.countContacts(user, 'google'), 2500);
  });

  void it('writes a call larger than one statement in one go', async () => {
    // Larger than any page: the multi-row path would split it at 2,184 rows (SQLite's parameter
    // limit), the others bind it whole; each must count and write all of it.
    const user = newUser();
    assert.equal((await store.upsertContacts(user, 'google', contacts(0, 6500))).written, 6500);
    assert.equal((await store.upsertContacts(user, 'google', contacts(0, 6501))).written, 1);
    assert.equal(await store.countContacts(user), 6501);
  });

  void it('writes nothing when the same page is upserted again', async () => {
    const user = newUser();
    const page = contacts(0, 1000);
    assert.equal((await store.upsertContacts(user, 'google', page)).written, 1000);
    const before = await listAll(store, user, 1000);
    assert.equal((await store.upsertContacts(user, 'google', page)).written, 0, 'unchanged etags must not count as writes');
    assert.equal(await store.countContacts(user), 1000);
    const again = await listAll(store, user, 1000);
    assert.deepEqual(again.items, before.items, 'an unchanged page must leave every row, updatedAt included, as it was');
  });

  void it('rewrites exactly the contact whose etag changed', async () => {
    const user = newUser();
    const page = contacts(0, 10);
    await store.upsertContacts(user, 'google', page);
    const before = (await store.listContacts(user, { limit: 100 })).items;
    await sleep(5); // updatedAt has millisecond resolution

    const changed = contact(3, { etag: 'etag-2', displayName: 'Renamed', email: null, raw: { renamed: true } });
    const result = await store.upsertContacts(user, 'google', page.map((c, i) => (i === 3 ? changed : c)));
    assert.equal(result.written, 1, 'only the contact with a new etag should be rewritten');

    const after = (await store.listContacts(user, { limit: 100 })).items;
    assert.equal(after.length, 10);
    for (const [i, row] of after.entries()) {
      const old = before[i];
      assert.ok(old);
      if (i !== 3) {
        assert.deepEqual(row, old, `contact ${i} kept its etag and must not change`);
        continue;
      }
      assert.equal(row.etag, 'etag-2');
      assert.equal(row.displayName, 'Renamed');
      assert.equal(row.email, null);
      assert.deepEqual(row.raw, { renamed: true });
      assert.equal(row.createdAt, old.createdAt, 'createdAt must survive a rewrite');
      assert.ok(row.updatedAt > old.updatedAt, `updatedAt should move forward (was ${old.updatedAt}, now ${row.updatedAt})`);
      assert.ok(!Number.isNaN(Date.parse(row.updatedAt)), `updatedAt should be an ISO date (got ${row.updatedAt})`);
    }
  });

  void it('keeps the last of two contacts with the same externalId in one call', async () => {
    const user = newUser();
    const first = await store.upsertContacts(user, 'google', [
      contact(1, { displayName: 'First' }),
      contact(2),
      contact(1, { etag: 'etag-2', displayName: 'Second' }),
    ]);
    assert.equal(first.written, 2);
    // Again over existing rows: the duplicate now collides with a stored row, not just a new one.
    const second = await store.upsertContacts(user, 'google', [
      contact(1, { etag: 'etag-3', displayName: 'Third' }),
      contact(1, { etag: 'etag-4', displayName: 'Fourth' }),
    ]);
    assert.equal(second.written, 1);
    const { items } = await store.listContacts(user, { limit: 10 });
    assert.deepEqual(
      items.map((c) => [c.externalId, c.etag, c.displayName]),
      [
        ['people/c0000001', 'etag-4', 'Fourth'],
        ['people/c0000002', 'etag-1', 'Contact 2'],
      ],
    );
  });

  void it('keeps users and providers apart', async () => {
    const alice = newUser();
    const bob = newUser();
    // The same external ids under every (user, provider): the key must include all three.
    await store.upsertContacts(alice, 'google', contacts(0, 5));
    await store.upsertContacts(alice, 'outlook', contacts(0, 3));
    await store.upsertContacts(bob, 'google', contacts(0, 4).map((c) => ({ ...c, etag: 'bob' })));

    assert.equal(await store.countContacts(alice), 8);
    assert.equal(await store.countContacts(alice, 'google'), 5);
    assert.equal(await store.countContacts(alice, 'outlook'), 3);
    assert.equal(await store.countContacts(alice, 'yahoo'), 0);
    assert.equal(await store.countContacts(bob), 4);
    const bobs = await listAll(store, bob, 100);
    assert.ok(bobs.items.every((c) => c.provider === 'google' && c.etag === 'bob'), 'listing bob must show only his rows');
    const alices = await listAll(store, alice, 100);
    assert.ok(alices.items.every((c) => c.etag === 'etag-1'), "bob's upsert must not touch alice's rows");
  });

  void it('walks every contact once, in key order, seven at a time', async () => {
    const user = newUser();
    // 56 = 8 × 7: the last full page must still end with nextCursor null, not an empty extra page.
    await store.upsertContacts(user, 'outlook', contacts(100, 21));
    await store.upsertContacts(user, 'google', contacts(0, 35));
    const { items, pageSizes } = await listAll(store, user, 7);
    assert.deepEqual(pageSizes, [7, 7, 7, 7, 7, 7, 7, 7]);
    const expected = [
      ...contacts(0, 35).map((c) => `google ${c.externalId}`),
      ...contacts(100, 21).map((c) => `outlook ${c.externalId}`),
    ];
    assert.deepEqual(
      items.map((c) => `${c.provider} ${c.externalId}`),
      expected,
    );
    assert.deepEqual(items[0]?.raw, contact(0).raw, 'raw should come back as the object that went in');
  });

  void it('rejects a cursor it did not issue', async () => {
    const user = newUser();
    await store.upsertContacts(user, 'google', contacts(0, 3));
    const encoded = (value: string) => Buffer.from(value).toString('base64url');
    for (const cursor of ['not a cursor!', 'abc', encoded('{"provider":"google"}'), encoded('[1,2]'), encoded('["google"]')]) {
      await assert.rejects(store.listContacts(user, { limit: 2, cursor }), InvalidCursorError, `cursor ${JSON.stringify(cursor)}`);
    }
  });

  void it('migrates idempotently when opened again on the same database', async () => {
    const user = newUser();
    await store.upsertContacts(user, 'google', contacts(0, 3));
    const again = await openStore(harness().location);
    try {
      const contactsAgain = again.tenant(store.tenant);
      assert.equal(await contactsAgain.countContacts(user), 3, 'a second open must keep the rows, not recreate the table');
      assert.equal((await contactsAgain.upsertContacts(user, 'google', contacts(0, 4))).written, 1);
    } finally {
      await again.close();
    }
  });

  void it('keeps tenants apart: the same user and contact ids in two tenants are two sets of rows', async () => {
    const user = newUser();
    const other = db.tenant('tenant-b');
    assert.equal((await store.upsertContacts(user, 'google', contacts(0, 30))).written, 30);
    assert.equal((await other.upsertContacts(user, 'google', contacts(0, 10))).written, 10, 'tenant B writes its own rows, not "unchanged" ones of A');
    assert.equal(await store.countContacts(user), 30);
    assert.equal(await other.countContacts(user), 10);
    assert.equal((await listAll(other, user, 7)).items.length, 10, "tenant B's listing holds only its own rows");
    assert.equal(await other.deleteUser(user), 10, "deleting B's user deletes B's rows only");
    assert.equal(await store.countContacts(user), 30, "tenant A's rows survive tenant B's erasure");
  });

  void it("deletes a user's contacts, and nobody else's, and deleting again finds nothing", async () => {
    const [user, neighbour] = [newUser(), newUser()];
    await store.upsertContacts(user, 'google', contacts(0, 25));
    await store.upsertContacts(user, 'outlook', contacts(0, 5));
    await store.upsertContacts(neighbour, 'google', contacts(0, 3));
    assert.equal(await store.deleteUser(user), 30);
    assert.equal(await store.countContacts(user), 0);
    assert.equal(await store.countContacts(neighbour), 3, "another user's contacts stay");
    assert.equal(await store.deleteUser(user), 0, 'a repeated erasure is harmless');
  });

  void it('keeps API keys hashed, verifies active ones and refuses revoked ones', async () => {
    const tenant = `t-${randomUUID().slice(0, 8)}`;
    const { key, record } = await db.apiKeys.create({ scope: 'tenant', tenant, name: 'web-app' });
    assert.match(key, /^cik_[A-Za-z0-9_-]{43}$/);
    assert.equal((await db.apiKeys.verify(key))?.tenant, tenant);
    assert.equal(await db.apiKeys.verify(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`), null, 'one character off is not a key');
    const listed = (await db.apiKeys.list()).find((k) => k.id === record.id);
    assert.ok(listed, 'a created key is listed');
    assert.ok(!JSON.stringify(listed).includes(key.slice(4)), 'the listing never holds the secret');
    assert.ok(listed.lastUsedAt, 'verifying a key records when it was last used');
    assert.equal(await db.apiKeys.revoke(record.id), true);
    assert.equal(await db.apiKeys.verify(key), null, 'a revoked key is refused');
    assert.equal(await db.apiKeys.revoke('key_nosuchkey000'), false);
    const operator = await db.apiKeys.create({ scope: 'operator', name: 'ops' });
    assert.match(operator.key, /^cio_/);
    assert.equal((await db.apiKeys.verify(operator.key))?.scope, 'operator');
    await db.apiKeys.revoke(operator.record.id);
  });
}

void describe('SQLite store', () => {
  const dir = sqliteDir();
  // A parent folder that does not exist yet: openStore creates it.
  const location: StoreLocation = { kind: 'sqlite', file: path.join(dir, 'nested', 'contacts.db') };

  void describe('behaviour', () => {
    describeStoreBehaviour(() => ({ location, newUser: () => `user-${randomUUID()}` }));
  });
});

void describe('PostgreSQL store', POSTGRES_SUITE, () => {
  const { location, prefix } = postgresStore();
  describeStoreBehaviour(() => ({ location, newUser: () => `${prefix}${randomUUID()}` }));
});
