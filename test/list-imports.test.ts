/**
 * `GET /v1/imports`: a tenant's imports through Temporal visibility, by user, provider and state, a
 * page at a time, open ones first. Imports here continue as new after every batch, so each is a
 * chain of several runs: it is listed once, under the id `POST /v1/imports` gave it. Visibility is
 * eventually consistent: the test waits for the listing, never for a fixed time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { ImportPage } from '../api/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { expectError, expectJson, startApi, type TestApi } from './support/api';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';

const CONTACTS = 300;
/** Pages of 100, a batch a page, a run a batch: three runs per import. */
const TUNING = { pageSize: 100, pagesPerBatch: 1, maxBatchesPerRun: 1 };

describe('listing imports', () => {
  let provider: DemoProvider;
  let store: Store;
  let api: TestApi;
  let other: TestApi;
  let worker: Worker;
  let workerRun: Promise<void>;
  const users = [uniqueId('ann'), uniqueId('ben'), uniqueId('cat')];
  const held = uniqueId('dan');
  const ids = new Map<string, string>();

  const list = async (query = '', on: TestApi = api) => expectJson(await on.call('GET', `/v1/imports${query}`), 200, ImportPage);
  /** The listing once every import of `expected` is in it, as `query` filters it. */
  const listed = (query: string, expected: string[]) =>
    waitFor(async () => {
      const page = await list(query);
      const found = page.items.map((item) => item.importId);
      return expected.every((id) => found.includes(id)) && found.length === expected.length && page;
    }, `the listing ${query || '(all)'} to show ${expected.length} imports`);

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('list-imports');
    api = await startApi({ store, taskQueue, tenant: 'list-a', tuning: TUNING });
    other = await startApi({ store, taskQueue, tenant: 'list-b', tuning: TUNING });
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    for (const userId of users) {
      const { json } = await api.startImport({ userId, source: { provider: 'google-people', accessToken: 'demo-token' } });
      ids.set(userId, json.importId);
      await waitFor(async () => (await api.getImport(json.importId)).state === 'completed', `${userId}'s import to complete`);
    }
    await other.startImport({ userId: users[0], source: { provider: 'google-people', accessToken: 'demo-token' } });
    // One import left running: held at its second page.
    provider.configure({ faults: { holdFromOffset: 100 } });
    const { json } = await api.startImport({ userId: held, source: { provider: 'google-people', accessToken: 'demo-token' } });
    ids.set(held, json.importId);
  });
  after(async () => {
    provider?.configure({ faults: {} });
    const running = ids.get(held);
    if (running) await api?.call('POST', `/v1/imports/${running}/cancel`);
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await api?.close();
    await other?.close();
    await provider?.close();
    await store?.close();
  });

  it("lists the tenant's imports once each, under their ids, open ones first", async () => {
    const page = await listed('', [...ids.values()]);
    assert.equal(page.items[0]?.importId, ids.get(held), 'the running import comes first');
    assert.equal(page.items[0]?.state, 'running');
    for (const item of page.items.slice(1)) {
      assert.equal(item.state, 'completed');
      assert.equal(item.saved, CONTACTS, 'the counts the chain last published');
      assert.equal(item.provider, 'google-people');
    }
    const [, ...completed] = page.items.map((item) => item.importId);
    assert.deepEqual(completed, [...users].reverse().map((userId) => ids.get(userId)), 'then the most recently ended first');
    const status = await api.getImport(ids.get(users[0] ?? '') ?? '');
    const item = page.items.find((candidate) => candidate.importId === status.importId);
    assert.deepEqual(
      { workflowId: item?.workflowId, runId: item?.runId, startedAt: item?.startedAt },
      { workflowId: status.workflowId, runId: status.runId, startedAt: status.startedAt },
      'each item is the import as GET /v1/imports/{importId} shows it: its current run, its first start',
    );
  });

  it('filters by user, provider and state', async () => {
    const [ann, ben] = users;
    await listed(`?userId=${ann}`, [ids.get(ann ?? '') ?? '']);
    await listed(`?userId=${ben}&provider=google-people&state=completed`, [ids.get(ben ?? '') ?? '']);
    await listed('?state=completed', users.map((userId) => ids.get(userId) ?? ''));
    await listed('?state=running', [ids.get(held) ?? '']);
    assert.deepEqual((await list('?provider=carddav')).items, []);
    assert.deepEqual((await list('?state=failed')).items, []);
    expectError(await api.call('GET', '/v1/imports?state=sleeping'), 422, 'validation_failed');
    expectError(await api.call('GET', '/v1/imports?tenant=list-b'), 422, 'validation_failed');
  });

  it('pages with an opaque cursor: every import once, the last page without one', async () => {
    await listed('', [...ids.values()]);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: ImportPage = await list(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.items.length <= 3);
      seen.push(...page.items.map((item) => item.importId));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    assert.deepEqual([...seen].sort(), [...ids.values()].sort(), 'every import, once');
    assert.ok(pages >= 2, 'more than one page');
    expectError(await api.call('GET', '/v1/imports?cursor=bm90LWEtY3Vyc29y'), 400, 'invalid_cursor');
    // A cursor continues the listing it came from: not another filter's, not another tenant's.
    const first = await list('?limit=1');
    assert.ok(first.nextCursor);
    expectError(await api.call('GET', `/v1/imports?limit=1&state=completed&cursor=${first.nextCursor}`), 400, 'invalid_cursor');
    expectError(await other.call('GET', `/v1/imports?limit=1&cursor=${first.nextCursor}`), 400, 'invalid_cursor');
  });

  it("never lists another tenant's imports", async () => {
    const theirs = await waitFor(async () => {
      const page = await list('', other);
      return page.items.length === 1 && page;
    }, "the other tenant's one import");
    assert.ok(!theirs.items.some((item) => [...ids.values()].includes(item.importId)));
    assert.ok(!(await list(`?userId=${users[0]}`)).items.some((item) => item.importId === theirs.items[0]?.importId));
  });
});
