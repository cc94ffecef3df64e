/**
 * The write path of a page of contacts (db/contact-upsert.ts). On SQLite the store writes
 * a page with one prepared statement per row on the raw better-sqlite3 handle; without the handle
 * with one multi-row statement through Kysely; on PostgreSQL the page, its change number and its
 * checkpoint in one statement. All must write the same rows, count the same `written`, stamp the
 * same change numbers, and commit or roll back with the page's checkpoint as one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { createStore } from '../db/contact-store';
import { openStore } from '../db/index';
import { migrationProvider } from '../db/migrations';
import type { StoreDatabase } from '../db/schema';
import type { ContactRecord, PageSave, Store } from '../db/types';
import { EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import { storeCases, uniqueId } from './support/harness';

const TENANT = 'write-path';

function person(n: number, etag = `e${n}`): ContactRecord {
  return {
    externalId: `people/c${n}`,
    etag,
    displayName: `Person ${n}`,
    email: n % 2 ? `p${n}@example.com` : null,
    phone: null,
    organization: n % 3 ? 'Example Ltd' : null,
    phoneE164: n % 2 ? `+1555000000${n}` : undefined,
    raw: { resourceName: `people/c${n}`, etag, tags: ['a', n], nested: { quote: 'say "hi"' } },
  };
}

function checkpoint(importKey: string, pages: number): PageSave {
  return { importKey, checkpoint: { ...EMPTY_CHECKPOINT, cursor: `page-${pages + 1}`, fetched: pages * 10, saved: pages * 10, pages } };
}

/** What the scenario leaves: each call's `written`, and the user's rows without their write times. */
interface Outcome {
  written: number[];
  rows: unknown[];
  checkpointWrites: number | undefined;
}

/**
 * Every rule of the upsert in one sequence: a repeated id in a page (the last wins, counted once),
 * an unchanged page (nothing written), a changed etag (that row only), tombstones revived by an
 * unchanged etag, and a change number per write.
 */
async function scenario(store: Store, userId: string): Promise<Outcome> {
  const contacts = store.tenant(TENANT);
  const importKey = uniqueId('import');
  const written: number[] = [];
  written.push((await contacts.savePage(userId, 'google', [0, 1, 2, 3, 4].map((n) => person(n)).concat(person(2, 'e2-later')), checkpoint(importKey, 1))).written);
  written.push((await contacts.savePage(userId, 'google', [0, 1, 2, 3, 4].map((n) => person(n)), checkpoint(importKey, 2))).written);
  written.push((await contacts.savePage(userId, 'google', [0, 1, 2, 3, 4].map((n) => person(n)), checkpoint(importKey, 3))).written);
  written.push(await contacts.tombstoneContacts(userId, 'google', ['people/c0', 'people/c1']));
  written.push((await contacts.upsertContacts(userId, 'google', [person(0), person(1, 'e1-new'), person(3)])).written);
  written.push((await contacts.savePage(userId, 'google', [], checkpoint(importKey, 4))).written);
  const changes = await contacts.listChanges(userId, { limit: 100, since: '0' });
  const rows = changes.items.map((item) => {
    if (item.change === 'delete') return item;
    const { createdAt, updatedAt, ...rest } = item;
    assert.ok(createdAt <= updatedAt, 'a row is updated no earlier than it was created');
    return rest;
  });
  const stored = await contacts.readCheckpoint(importKey);
  return { written, rows, checkpointWrites: stored?.writes };
}

const EXPECTED_WRITTEN = [
  5, // five ids, c2 twice: its later entry wins and is counted once
  1, // c2's etag went back from e2-later to e2
  0, // the same page again
  2, // two tombstones
  2, // c0 revived though its etag is unchanged, c1 with a new etag; c3 unchanged
  0, // an empty page writes no contact, but its checkpoint
];

/** The change feed's order after the scenario: c3 and c4 as page 1 left them, c2 from page 2, then the revived c0 and c1. */
const FEED_ORDER = ['people/c3', 'people/c4', 'people/c2', 'people/c0', 'people/c1'];

/** Opens SQLite the way openStore does, but with or without handing the store the raw handle. */
async function openSqliteStore(file: string, rawHandle: boolean): Promise<{ store: Store; sqlite: Sqlite.Database }> {
  const sqlite = new Sqlite(file);
  sqlite.pragma('journal_mode = WAL');
  const db = new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error !== undefined) throw error;
  return { store: createStore(db, 'sqlite', rawHandle ? { sqlite } : {}), sqlite };
}

describe('the SQLite page writer', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-write-path-'));
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('writes, counts and numbers exactly as the multi-row statement does', async () => {
    const prepared = await openSqliteStore(path.join(folder, 'prepared.db'), true);
    const multiRow = await openSqliteStore(path.join(folder, 'multi-row.db'), false);
    try {
      const one = await scenario(prepared.store, 'user');
      const other = await scenario(multiRow.store, 'user');
      assert.deepEqual(one.written, EXPECTED_WRITTEN, 'the prepared path counted its writes differently');
      assert.deepEqual(other.written, EXPECTED_WRITTEN, 'the multi-row path counted its writes differently');
      assert.deepEqual(one.rows, other.rows, 'both paths must leave the same rows with the same change numbers');
      assert.equal(one.checkpointWrites, 4, 'every page transaction, the empty one too, committed its checkpoint once');
      assert.deepEqual(one.rows.map((row) => (row as { externalId: string }).externalId), FEED_ORDER);
    } finally {
      await prepared.store.close();
      await multiRow.store.close();
    }
  });

  it('writes rawJson as it is, on both paths, when a decode thread serialised raw', async () => {
    const prepared = await openSqliteStore(path.join(folder, 'raw-json-prepared.db'), true);
    const multiRow = await openSqliteStore(path.join(folder, 'raw-json-multi-row.db'), false);
    try {
      for (const { store } of [prepared, multiRow]) {
        const contacts = store.tenant(TENANT);
        await contacts.savePage('user', 'google', [{ ...person(1), raw: undefined, rawJson: '{"from":"thread"}' }], checkpoint('raw-json', 1));
        const [stored] = (await contacts.listContacts('user', { limit: 1 })).items;
        assert.deepEqual(stored?.raw, { from: 'thread' }, 'rawJson is the stored text; raw is not read');
      }
    } finally {
      await prepared.store.close();
      await multiRow.store.close();
    }
  });

  it('rolls the contacts back with a checkpoint that fails to write', async () => {
    const { store } = await openSqliteStore(path.join(folder, 'rollback.db'), true);
    try {
      const contacts = store.tenant(TENANT);
      // import_key is NOT NULL: the checkpoint insert fails after the page's rows were written.
      const broken = { ...checkpoint('x', 1), importKey: null } as unknown as PageSave;
      await assert.rejects(contacts.savePage('user', 'google', [person(1), person(2)], broken), /NOT NULL/);
      assert.equal(await contacts.countContacts('user'), 0, "the page's contacts must go with its failed checkpoint");
      assert.equal(await contacts.currentChangeSeq('user'), 0, 'and so must the change number it took');
      assert.equal((await contacts.savePage('user', 'google', [person(1)], checkpoint('x', 1))).written, 1, 'the connection is usable after the rollback');
    } finally {
      await store.close();
    }
  });

  it('interleaves page writes with reads and other writes on the one connection', async () => {
    const { store } = await openSqliteStore(path.join(folder, 'interleaved.db'), true);
    try {
      const contacts = store.tenant(TENANT);
      const pages = Array.from({ length: 20 }, (_, p) => Array.from({ length: 50 }, (_, i) => person(p * 50 + i)));
      // Started together: Kysely queues them on its one connection, and none may land inside another's transaction.
      const results = await Promise.all([
        ...pages.map((page, p) => contacts.savePage('user', 'google', page, checkpoint('interleaved', p + 1))),
        ...pages.map(() => contacts.countContacts('user')),
        contacts.upsertContacts('other', 'google', [person(1)]),
      ]);
      assert.equal(results.length, 41);
      assert.equal(await contacts.countContacts('user'), 1000);
      assert.equal(await contacts.currentChangeSeq('user'), 20, 'one change number per page');
      assert.equal((await contacts.readCheckpoint('interleaved'))?.writes, 20);
    } finally {
      await store.close();
    }
  });

  it('creates new files with 16 KiB pages and keeps writing to a 4 KiB one', async () => {
    const fresh = path.join(folder, 'fresh.db');
    const store = await openStore({ kind: 'sqlite', file: fresh });
    try {
      await store.tenant(TENANT).upsertContacts('user', 'google', [person(1)]);
    } finally {
      await store.close();
    }
    const check = new Sqlite(fresh, { readonly: true });
    assert.equal(check.pragma('page_size', { simple: true }), 16384);
    assert.equal(check.pragma('journal_mode', { simple: true }), 'wal');
    check.close();

    // A database created before: 4 KiB pages, already in WAL mode, which page_size cannot change.
    const old = path.join(folder, 'old.db');
    const seed = new Sqlite(old);
    seed.pragma('page_size = 4096');
    seed.pragma('journal_mode = WAL');
    seed.exec('CREATE TABLE before_us (a)');
    seed.close();
    const reopened = await openStore({ kind: 'sqlite', file: old });
    try {
      assert.equal((await reopened.tenant(TENANT).upsertContacts('user', 'google', [person(1), person(2)])).written, 2);
    } finally {
      await reopened.close();
    }
    const oldCheck = new Sqlite(old, { readonly: true });
    assert.equal(oldCheck.pragma('page_size', { simple: true }), 4096, 'an existing file keeps its page size');
    oldCheck.close();
  });
});

for (const storeCase of storeCases()) {
  describe(`the page writer's counts, on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    before(async () => {
      store = await storeCase.open();
    });
    after(() => store?.close());

    it('counts written rows by the same rules on every store', async () => {
      const outcome = await scenario(store, uniqueId('user'));
      assert.deepEqual(outcome.written, EXPECTED_WRITTEN);
      assert.deepEqual(outcome.rows.map((row) => (row as { externalId: string }).externalId), FEED_ORDER);
    });

    it("rolls the page's contacts and change number back with a checkpoint that fails to write", async () => {
      const contacts = store.tenant(TENANT);
      const userId = uniqueId('user');
      // import_key is NOT NULL: filing the checkpoint fails, in the page's transaction or statement.
      const broken = { ...checkpoint('x', 1), importKey: null } as unknown as PageSave;
      await assert.rejects(contacts.savePage(userId, 'google', [person(1), person(2)], broken), /null/i);
      assert.equal(await contacts.countContacts(userId), 0, "the page's contacts must go with its failed checkpoint");
      assert.equal(await contacts.currentChangeSeq(userId), 0, 'and so must the change number it took');
      const importKey = uniqueId('import');
      assert.equal((await contacts.savePage(userId, 'google', [person(1)], checkpoint(importKey, 1))).written, 1, 'the store is usable after it');
      assert.equal(await contacts.currentChangeSeq(userId), 1);
      assert.equal((await contacts.readCheckpoint(importKey))?.writes, 1);
    });

    it('keeps every field exactly, whatever characters it holds', async () => {
      // What array literals (PostgreSQL's unnest path) and JSON escape differently: quotes,
      // backslashes, control characters, braces and commas, the word NULL; in raw, a lone surrogate
      // too (JSON text escapes it; a column would hold whatever its driver encodes it as).
      const awkward = 'say "hi" \\ back\\slash, {braces} NULL\n\ttab \u0001 é 漢字 😀 end';
      const odd: ContactRecord = {
        externalId: 'people/"odd",{id}\\',
        etag: 'NULL',
        displayName: awkward,
        email: 'NULL',
        phone: '',
        organization: '{}',
        phoneE164: null,
        raw: { text: awkward, list: [awkward, null, 1.5, true], nested: { 'key "quoted"': 'NULL', lone: 'a\ud800b' } },
      };
      const userId = uniqueId('user');
      const contacts = store.tenant(TENANT);
      assert.equal((await contacts.savePage(userId, 'google', [odd, person(1)], checkpoint(uniqueId('import'), 1))).written, 2);
      const [stored] = (await contacts.listContacts(userId, { limit: 10 })).items;
      assert.ok(stored);
      const { createdAt: _c, updatedAt: _u, provider, ...fields } = stored;
      assert.equal(provider, 'google');
      const serialised = { ...person(2), raw: undefined, rawJson: JSON.stringify(odd.raw) };
      await contacts.upsertContacts(userId, 'google', [serialised]);
      const second = (await contacts.listContacts(userId, { limit: 10 })).items.find((item) => item.externalId === serialised.externalId);
      assert.deepEqual(second?.raw, odd.raw, 'a raw serialised by the source (rawJson) is stored as it is');
      assert.deepEqual(
        fields,
        { ...odd, phoneE164: null },
        'every column and the raw record must come back as they were sent',
      );
    });
  });
}
