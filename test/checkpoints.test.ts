/**
 * The checkpoint (workflows/checkpoint.ts): the pure functions over it, and the store that keeps it
 * whole with every saved page (db/checkpoints.ts), so a batch resumed from the store after a crash
 * reads on in the mode, with the sweep and the token, that the last saved page left.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import {
  advance,
  afterStoppedBatch,
  EMPTY_CHECKPOINT,
  fallBackToFullRead,
  furthest,
  resumeFrom,
  statusCounts,
  type ImportCheckpoint,
} from '../workflows/checkpoint';
import { storeCases, uniqueId } from './support/harness';
import { plainContact } from './support/records';

const TENANT = 'checkpoints';

const contact = plainContact;

/** An incremental import three pages in. */
const incremental: ImportCheckpoint = {
  cursor: 'p4',
  fetched: 300,
  saved: 290,
  rejected: 10,
  pages: 3,
  total: 1_000,
  mode: 'incremental',
  deleted: 4,
  syncToken: 'tok-1',
};

describe('the checkpoint', () => {
  it('advances by a saved page, carrying the sync fields on', () => {
    assert.deepEqual(advance(incremental, { saved: 95, rejected: 5, nextCursor: 'p5', total: null, deleted: 2 }), {
      ...incremental,
      cursor: 'p5',
      fetched: 400,
      saved: 385,
      rejected: 15,
      pages: 4,
      total: 1_000,
      deleted: 6,
    });
    assert.equal(advance(incremental, { saved: 1, rejected: 0, nextCursor: null, total: 1_200, deleted: 0 }).total, 1_200, 'a total the page reports is the newest');
  });

  it('falls back to a full read that sweeps, without the refused token', () => {
    const { syncToken: _refused, ...withoutToken } = incremental;
    assert.deepEqual(fallBackToFullRead(incremental, 42), { ...withoutToken, mode: 'full', sweepAt: 42 });
  });

  it('gives the status its counts, leaving out a mode not yet resolved and a deleted count of 0', () => {
    assert.deepEqual(statusCounts(incremental), { fetched: 300, saved: 290, rejected: 10, pages: 3, total: 1_000, mode: 'incremental', deleted: 4 });
    assert.deepEqual(statusCounts(EMPTY_CHECKPOINT), { fetched: 0, saved: 0, rejected: 0, pages: 0, total: null });
  });

  it('brings a status up to a stored checkpoint only when that has more pages', () => {
    const status = { state: 'running' as const, ...statusCounts({ ...incremental, pages: 2, saved: 190, total: null }) };
    assert.deepEqual(furthest(status, incremental), { state: 'running', ...statusCounts(incremental) });
    assert.equal(furthest(status, { ...incremental, total: null }).total, null);
    const ahead = { ...status, pages: 5 };
    assert.equal(furthest(ahead, incremental), ahead, 'a status ahead of the store stays as it is');
    assert.equal(furthest(status, null), status);
  });

  it('takes the checkpoint a stopped batch reported, unless it is behind or does not parse', () => {
    const further = advance(incremental, { saved: 10, rejected: 0, nextCursor: 'p5', total: null, deleted: 0 });
    assert.deepEqual(afterStoppedBatch(incremental, [further]), { checkpoint: further });
    assert.deepEqual(afterStoppedBatch(further, [incremental]), { checkpoint: further });
    assert.deepEqual(afterStoppedBatch(incremental, undefined), { checkpoint: incremental });
    assert.deepEqual(afterStoppedBatch(incremental, ['ACTIVITY_ID_NOT_STARTED']), { checkpoint: incremental }, 'the server\'s details of a batch cancelled before it ran are no problem');
    const unreadable = afterStoppedBatch(incremental, [{ pages: 'many' }]);
    assert.equal(unreadable.checkpoint, incremental);
    assert.match(unreadable.problem ?? '', /./, 'says why the details were not read');
  });

  describe('resumeFrom', () => {
    const start = { ...incremental, pages: 2, cursor: 'p3' };
    const heartbeat = { checkpoint: incremental, pagesThisBatch: 1 };

    it('continues from the batch start without a heartbeat, and from a readable heartbeat', () => {
      assert.deepEqual(resumeFrom(start, 5, undefined, null).point, { checkpoint: start, pagesThisBatch: 0 });
      assert.equal(resumeFrom(start, 5, undefined, null).from, 'batch start');
      const resumed = resumeFrom(start, 5, heartbeat, null);
      assert.deepEqual([resumed.from, resumed.point], ['heartbeat', heartbeat]);
    });

    it('passes over a heartbeat that does not parse, or is behind the batch start, saying why', () => {
      const unreadable = resumeFrom(start, 5, { bogus: 1 }, null);
      assert.deepEqual([unreadable.from, unreadable.point.pagesThisBatch], ['batch start', 0]);
      assert.match(unreadable.unreadableHeartbeat ?? '', /checkpoint/);
      const behind = resumeFrom(incremental, 5, { checkpoint: start, pagesThisBatch: 0 }, null);
      assert.deepEqual([behind.from, behind.point.checkpoint], ['batch start', incremental]);
      assert.equal(behind.unreadableHeartbeat, undefined);
    });

    it('continues from the stored checkpoint when it is further and inside the batch', () => {
      const stored = advance(incremental, { saved: 10, rejected: 0, nextCursor: 'p5', total: null, deleted: 0 });
      const resumed = resumeFrom(start, 5, heartbeat, stored);
      assert.deepEqual([resumed.from, resumed.point], ['stored checkpoint', { checkpoint: stored, pagesThisBatch: 2 }]);
      assert.equal(resumeFrom(start, 5, heartbeat, incremental).from, 'heartbeat', 'a stored checkpoint level with the heartbeat adds nothing');
      assert.equal(resumeFrom(start, 1, heartbeat, stored).from, 'heartbeat', "a stored checkpoint past the batch's pages is not its own");
      assert.equal(resumeFrom(start, 5, { bogus: 1 }, stored).from, 'stored checkpoint', 'whatever the heartbeat');
    });
  });
});

for (const storeCase of storeCases()) {
  describe(`checkpoints stored with pages, on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    before(async () => {
      store = await storeCase.open();
    });
    after(() => store?.close());

    it('keeps the checkpoint of the last page whole, and counts the page transactions', async () => {
      const contacts = store.tenant(TENANT);
      const userId = uniqueId('user');
      const importKey = uniqueId('import');
      const first: ImportCheckpoint = { ...EMPTY_CHECKPOINT, cursor: 'p2', fetched: 1, saved: 1, pages: 1, mode: 'incremental', syncToken: 'tok-1', deleted: 2 };
      await contacts.savePage(userId, 'google-people', [contact(1)], { importKey, checkpoint: first });
      // A refused token made the next page the first of a full read that sweeps: the fields change with it.
      const second = advance(fallBackToFullRead(first, 7), { saved: 1, rejected: 0, nextCursor: 'p3', total: null, deleted: 0 });
      await contacts.savePage(userId, 'google-people', [contact(2)], { importKey, checkpoint: second });
      const stored = await contacts.readCheckpoint(importKey);
      assert.deepEqual(stored?.checkpoint, second, 'the second page replaced the checkpoint as a whole: no token of the incremental read is left');
      assert.equal(stored.writes, 2);
      assert.equal(await contacts.readCheckpoint(uniqueId('import')), null, 'no checkpoint before the first saved page');
    });

    it('reads a stored checkpoint that does not parse as none, with a warning', async (t) => {
      const contacts = store.tenant(TENANT);
      const importKey = uniqueId('import');
      const broken = { ...EMPTY_CHECKPOINT, pages: 1, saved: -1 };
      await contacts.savePage(uniqueId('user'), 'google-people', [contact(1)], { importKey, checkpoint: broken });
      const warn = t.mock.method(console, 'warn', () => undefined);
      assert.equal(await contacts.readCheckpoint(importKey), null);
      assert.match(String(warn.mock.calls[0]?.arguments[0]), /does not parse \(saved: /);
    });
  });
}
