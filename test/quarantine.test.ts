/**
 * A malformed record does not stop an import: a People API page with people missing their `etag`
 * (a whole page refused would fail every retry as `ProviderBadResponse`) completes, counts them as
 * `rejected`, and lists them at `GET /v1/imports/{importId}/rejects`.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { createApp } from '../api/app';
import { ErasureView, RejectPage } from '../api/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { expectError, expectImport, expectJson, type ApiResponse, createTestApp } from './support/api';
import { startWorker, storeCases, temporal, uniqueId, waitFor } from './support/harness';

const CONTACTS = 500;
const MALFORMED = [3, 250, 499];
const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;

describe('quarantine of records a source cannot read', () => {
  let provider: DemoProvider;
  let store: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let app: ReturnType<typeof createApp>;
  const keys = { a: '', b: '' };
  const tenantA = uniqueId('qa').toLowerCase();

  async function call(who: 'a' | 'b', method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${keys[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, json: await res.json() };
  }

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('quarantine');
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    keys.a = (await store.apiKeys.create({ scope: 'tenant', tenant: tenantA, name: 'a' })).key;
    keys.b = (await store.apiKeys.create({ scope: 'tenant', tenant: uniqueId('qb').toLowerCase(), name: 'b' })).key;
    ({ app } = await createTestApp({ store, taskQueue, imports: { statusFreshMs: 0, statusStaleMs: 0 } }));
  });
  afterEach(() => provider.configure({ faults: {} }));
  after(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await provider?.close();
    await store?.close();
  });

  it('completes an import whose pages hold people without an etag, and lists exactly those as rejects', async () => {
    provider.configure({ faults: { malformedPeople: MALFORMED } });
    const userId = uniqueId('quarantine');
    const started = expectImport(await call('a', 'POST', '/v1/imports', { userId, source: SOURCE }), 202);
    const done = await waitFor(async () => {
      const view = expectImport(await call('a', 'GET', `/v1/imports/${started.importId}`), 200);
      return ['completed', 'failed'].includes(view.state) && view;
    }, 'the import to finish');
    assert.equal(done.state, 'completed', `one bad person must not fail the import: ${done.error ?? ''}`);
    assert.equal(done.saved, CONTACTS - MALFORMED.length);
    assert.equal(done.rejected, MALFORMED.length);
    assert.equal(done.fetched, CONTACTS, 'fetched counts every record read, saved or set aside');
    assert.equal(done.pages, 5, 'no page was fetched twice: a bad person is not a reason to retry its page');

    // Two at a time, so the listing's cursor is exercised too.
    const first = expectJson(await call('a', 'GET', `/v1/imports/${started.importId}/rejects?limit=2`), 200, RejectPage);
    assert.ok(first.nextCursor, 'a second page of rejects follows');
    const second = expectJson(
      await call('a', 'GET', `/v1/imports/${started.importId}/rejects?limit=2&cursor=${first.nextCursor}`),
      200,
      RejectPage,
    );
    assert.equal(second.nextCursor, null);
    const rejects = [...first.items, ...second.items];
    assert.deepEqual(
      rejects.map((r) => r.position).sort(),
      MALFORMED.map((i) => `people/c${i}`).sort(),
      'each reject is filed under the id of the person it was',
    );
    for (const reject of rejects) {
      assert.equal(reject.reason, 'invalid_record');
      assert.match(reject.message, /etag/, 'the message says which field was wrong');
      assert.ok(Buffer.byteLength(reject.excerpt) <= 2048, 'an excerpt is at most 2 KiB');
      assert.ok(reject.excerpt.includes(reject.position), 'the excerpt is the record as it came');
    }
    assert.equal(await store.tenant(tenantA).countContacts(userId), CONTACTS - MALFORMED.length);

    // Another tenant cannot read them, and an erasure removes them with the contacts.
    expectError(await call('b', 'GET', `/v1/imports/${started.importId}/rejects`), 404, 'import_not_found');
    const erasure = expectJson(await call('a', 'DELETE', `/v1/users/${userId}`), 202, ErasureView);
    await (await temporal()).client.workflow.getHandle(erasure.workflowId).result();
    const afterErasure = expectJson(await call('a', 'GET', `/v1/imports/${started.importId}/rejects`), 200, RejectPage);
    assert.deepEqual(afterErasure.items, [], "an erased user's rejects are gone too");
  });

  it('refuses a cursor it did not issue with 400', async () => {
    const userId = uniqueId('cursor');
    const started = expectImport(await call('a', 'POST', '/v1/imports', { userId, source: SOURCE }), 202);
    expectError(await call('a', 'GET', `/v1/imports/${started.importId}/rejects?cursor=bm90LWEtY3Vyc29y`), 400, 'invalid_cursor');
  });
});
