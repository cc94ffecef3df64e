/**
 * The store on SQLite files: a database a pre-release version made is refused and left as it was,
 * and stores and processes that open one file at once all migrate and write. The behaviour both
 * databases share is in store-behaviour.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { openStore, type StoreLocation } from '../db/index';
import { contacts } from './support/records';
import { sqliteDir } from './support/store-dialects';

const STORE_MODULE = path.resolve(__dirname, '../db/index.ts');

void describe('SQLite store', () => {
  const dir = sqliteDir();

  void it('refuses a database a pre-release version made, saying to delete it, and leaves it as it was', async () => {
    const file = path.join(dir, 'pre-release.db');
    // What the pre-release migrations left: their names in Kysely's table, and tables of their own.
    const old = new Sqlite(file);
    old.exec(`CREATE TABLE kysely_migration (name varchar(255) NOT NULL PRIMARY KEY, timestamp varchar(255) NOT NULL);
      INSERT INTO kysely_migration VALUES ('0001_create_contacts', '2025-01-01T00:00:00.000Z'), ('0001_schema', '2026-12-01T00:00:00.000Z'), ('0002_tenants_and_api_keys', '2025-01-01T00:00:00.000Z');
      CREATE TABLE contacts (user_id text, provider text, external_id text)`);
    old.close();
    await assert.rejects(openStore({ kind: 'sqlite', file }), (error: unknown) => {
      assert.ok(error instanceof Error, String(error));
      assert.match(error.message, /pre-release version/);
      assert.match(error.message, /0001_create_contacts, 0001_schema, 0002_tenants_and_api_keys/, 'it names the migrations it does not know, an earlier initial schema too');
      assert.ok(error.message.includes(file), `it names the file: ${error.message}`);
      assert.match(error.message, /Delete it/, 'and says what to do');
      return true;
    });
    const after = new Sqlite(file, { readonly: true });
    try {
      const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      assert.deepEqual(tables, ['contacts', 'kysely_migration'], 'nothing was created or dropped');
    } finally {
      after.close();
    }
  });

  void it('lets two stores opened at once on one file both write', async () => {
    const shared: StoreLocation = { kind: 'sqlite', file: path.join(dir, 'shared.db') };
    const [a, b] = await Promise.all([openStore(shared), openStore(shared)]);
    try {
      const [ta, tb] = [a.tenant('t'), b.tenant('t')];
      const written = await Promise.all([
        ta.upsertContacts('user-a', 'google', contacts(0, 1000)),
        tb.upsertContacts('user-b', 'google', contacts(0, 1000)),
        ta.upsertContacts('user-a', 'google', contacts(1000, 1000)),
        tb.upsertContacts('user-b', 'google', contacts(1000, 1000)),
      ]);
      assert.deepEqual(written.map((r) => r.written), [1000, 1000, 1000, 1000]);
      assert.equal(await ta.countContacts('user-b'), 2000, 'store a should see what store b wrote');
      assert.equal(await tb.countContacts('user-a'), 2000, 'store b should see what store a wrote');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  void it('lets processes that start together on a fresh file all migrate and write', async () => {
    // The API and the worker open the same file as they start: run that race for real.
    const file = path.join(dir, 'processes.db');
    const child = (user: string) =>
      new Promise<void>((resolve, reject) => {
        const code = `
          const { openStore } = require(${JSON.stringify(STORE_MODULE)});
          (async () => {
            const store = await openStore({ kind: 'sqlite', file: ${JSON.stringify(file)} });
            for (let page = 0; page < 5; page++) {
              const rows = Array.from({ length: 1000 }, (_, i) => ({ externalId: 'people/c' + (page * 1000 + i),
                etag: 'e', displayName: null, email: null, phone: null, organization: null, raw: {} }));
              await store.tenant('t').upsertContacts(${JSON.stringify(user)}, 'google', rows);
            }
            await store.close();
          })().catch((error) => { console.error(error); process.exit(1); });`;
        const proc = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        proc.on('error', reject);
        proc.on('exit', (status) =>
          status === 0 ? resolve() : reject(new Error(`writer process for ${user} exited with ${status}:\n${stderr}`)),
        );
      });
    const users = ['proc-1', 'proc-2', 'proc-3'];
    await Promise.all(users.map(child));
    const store = await openStore({ kind: 'sqlite', file });
    try {
      for (const user of users) assert.equal(await store.tenant('t').countContacts(user), 5000, `rows written by ${user}`);
    } finally {
      await store.close();
    }
  });
});
