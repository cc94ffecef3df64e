/**
 * The store on PostgreSQL, when TEST_DATABASE_URL is set: stores that open the same database at
 * once migrate it once and all write. The behaviour both databases share is in
 * store-behaviour.test.ts.
 *
 *   TEST_DATABASE_URL=postgres://contacts:contacts@127.0.0.1:5432/contacts_test npm test -- test/store-postgres.test.ts
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { openStore } from '../db/index';
import { contacts } from './support/records';
import { POSTGRES_SUITE, postgresStore } from './support/store-dialects';

void describe('PostgreSQL store', POSTGRES_SUITE, () => {
  const { location, prefix } = postgresStore();

  void it('migrates once when stores open at the same time', async () => {
    const stores = await Promise.all([openStore(location), openStore(location), openStore(location)]);
    try {
      const user = `${prefix}${randomUUID()}`;
      const written = await Promise.all(stores.map((s, i) => s.tenant('t').upsertContacts(user, `p${i}`, contacts(0, 100))));
      assert.deepEqual(written.map((r) => r.written), [100, 100, 100]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
