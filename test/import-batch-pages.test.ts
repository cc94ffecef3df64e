/**
 * The `importBatch` activity reading pages (test/support/import-batch.ts): every page of a batch
 * with one heartbeat per saved page, a stop at `maxPages` that the next batch finishes from, and a
 * source chosen by `deps.openSource` with cursors of its own.
 * How each provider answer is classified is `google-people.test.ts`'s job; here, what the batch
 * does with it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActivities } from '../activities/index';
import { SealedTokenVault } from '../activities/token-vault';
import type { ContactRecord } from '../db/types';
import type { ContactSource, PageRequest, SourcePage } from '../providers';
import { DEFAULT_TENANT } from '../workflows/contract';
import { googleCredentials } from './support/harness';
import { DONE, FULL_READ, importBatchBench, newUser } from './support/import-batch';

function contactRecord(n: number): ContactRecord {
  return {
    externalId: `fake/${n}`,
    etag: `etag-${n}`,
    displayName: `Fake ${n}`,
    email: null,
    phone: null,
    organization: null,
    raw: { n },
  };
}

void describe('importBatch activity', () => {
  const bench = importBatchBench();
  const { runBatch, pagesServed } = bench;

  void it('imports every page of a batch, heartbeating the checkpoint after each saved page', async () => {
    const user = newUser();
    const batch = runBatch(user);

    assert.deepEqual(await batch.result, DONE);
    assert.equal(await bench.contacts.countContacts(user.userId), 2345);
    assert.equal(await bench.contacts.countContacts(user.userId, 'google-people'), 2345);
    assert.equal(await bench.store.tenant(DEFAULT_TENANT).countContacts(user.userId), 0, "the contacts are the batch's tenant's only");

    const heartbeats = batch.heartbeats;
    assert.deepEqual(
      heartbeats.map((h) => [h.pagesThisBatch, h.checkpoint.pages, h.checkpoint.saved, h.checkpoint.fetched]),
      [
        [1, 1, 1000, 1000],
        [2, 2, 2000, 2000],
        [3, 3, 2345, 2345],
      ],
      'expected exactly one heartbeat per saved page, in order',
    );
    assert.ok(heartbeats.every((h) => h.checkpoint.total === 2345), 'every heartbeat should carry the provider total');
    assert.notEqual(heartbeats[0]?.checkpoint.cursor, null);
    assert.notEqual(heartbeats[1]?.checkpoint.cursor, null);
    assert.equal(heartbeats[2]?.checkpoint.cursor, null);
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1], ['2000', 1]], 'each page should be fetched exactly once');
    assert.equal(bench.provider.stats.requests, 3);
  });

  void it('stops at maxPages without prefetching past the batch, and the next batch finishes from its checkpoint', async () => {
    const user = newUser();

    const first = await runBatch({ ...user, maxPages: 2 }).result;
    assert.equal(first.done, false);
    assert.equal(first.checkpoint.pages, 2);
    assert.equal(first.checkpoint.fetched, 2000);
    assert.equal(first.checkpoint.saved, 2000);
    assert.equal(first.checkpoint.total, 2345);
    assert.notEqual(first.checkpoint.cursor, null, 'a batch that stops early must hand back a cursor');
    assert.equal(await bench.contacts.countContacts(user.userId), 2000);
    // The prefetch of page k+1 must not run past the batch's last page.
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1]], 'the batch fetched a page beyond maxPages');
    assert.equal(bench.provider.stats.requests, 2, 'the batch sent a request beyond maxPages');

    const second = await runBatch({ ...user, maxPages: 2, checkpoint: first.checkpoint }).result;
    assert.deepEqual(second, DONE);
    assert.equal(await bench.contacts.countContacts(user.userId), 2345);
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1], ['2000', 1]], 'a page was fetched twice across batches');
  });

  void it('reads from the source that deps.openSource picks for the provider, saving its pages and checkpointing its cursors', async () => {
    const user = newUser();
    // Three pages of 2, 2 and 1 contacts, linked by cursors only this source understands.
    const pages = new Map<string | null, SourcePage>([
      [null, { contacts: [contactRecord(1), contactRecord(2)], nextCursor: 'fake-cursor-a', total: 5 }],
      ['fake-cursor-a', { contacts: [contactRecord(3), contactRecord(4)], nextCursor: 'fake-cursor-b', total: null }],
      ['fake-cursor-b', { contacts: [contactRecord(5)], nextCursor: null, total: null }],
    ]);
    const requests: Array<Omit<PageRequest, 'signal'>> = [];
    const fake: ContactSource = {
      fetchPage({ cursor, pageSize }) {
        requests.push({ cursor, pageSize });
        const page = pages.get(cursor);
        return page ? Promise.resolve(page) : Promise.reject(new Error(`the fake source issued no cursor ${cursor}`));
      },
    };
    const opened: unknown[] = [];
    const { importBatch: withFake } = createActivities({
      ...bench.deps,
      openSource: (chosen, credentials, settings) => {
        opened.push({ provider: chosen, credentials, settings });
        return fake;
      },
    });

    const batch = runBatch({ ...user, pageSize: 2 }, {}, withFake);

    assert.deepEqual(await batch.result, { done: true, checkpoint: { cursor: null, fetched: 5, saved: 5, rejected: 0, pages: 3, total: 5, ...FULL_READ } });
    // The process's governor rides along with the settings; it is the governor tests' to check.
    const governors = opened.map((open) => {
      const { governor, ...settings } = (open as { settings: { governor?: { run?: unknown } } }).settings;
      Object.assign(open as object, { settings });
      return typeof governor?.run;
    });
    assert.deepEqual(governors, ['function'], 'the source gets the process governor');
    assert.deepEqual(
      opened,
      [
        {
          provider: 'google-people',
          credentials: googleCredentials(user.token),
          settings: { uploads: bench.deps.store.uploads, tokens: new SealedTokenVault(bench.deps.store.connections, bench.deps.sealer), ...bench.deps.sources },
        },
      ],
      'the source is opened once, for the batch provider, with the credentials unsealed',
    );
    assert.deepEqual(requests, [
      { cursor: null, pageSize: 2 },
      { cursor: 'fake-cursor-a', pageSize: 2 },
      { cursor: 'fake-cursor-b', pageSize: 2 },
    ]);
    assert.deepEqual(
      batch.heartbeats.map((h) => [h.checkpoint.cursor, h.checkpoint.saved, h.checkpoint.total]),
      [
        ['fake-cursor-a', 2, 5],
        ['fake-cursor-b', 4, 5],
        [null, 5, 5],
      ],
      "every checkpoint carries the source's own cursor, and the total it last reported",
    );
    const saved = await bench.contacts.listContacts(user.userId, { limit: 10 });
    assert.deepEqual(
      saved.items.map((c) => [c.provider, c.externalId, c.displayName]),
      [1, 2, 3, 4, 5].map((n) => ['google-people', `fake/${n}`, `Fake ${n}`]),
    );
    assert.equal(bench.provider.stats.requests, 0, 'the Google People source was not used');
  });
});
