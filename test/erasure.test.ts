/**
 * `DELETE /v1/users/{userId}`: the `EraseUser` workflow cancels the user's running import, waits
 * until it has stopped, then deletes the user's contacts, and nobody else's. A real worker on the
 * run's dev server, the demo provider, and the API through `app.request()`.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { createApp } from '../api/app';
import { ErasureView } from '../api/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { EraseUserResult } from '../workflows/contract';
import { expectImport, expectJson, type ApiResponse, type ImportView, createTestApp } from './support/api';
import { startWorker, storeCases, temporal, uniqueId, waitFor } from './support/harness';

const CONTACTS = 600;
const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;

describe('erasing a user', () => {
  let provider: DemoProvider;
  let store: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let app: ReturnType<typeof createApp>;
  const tenant = uniqueId('erasure').toLowerCase();
  let key = '';

  async function call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, json: await res.json() };
  }
  const statusOf = async (importId: string) => expectImport(await call('GET', `/v1/imports/${importId}`), 200);
  const importUntil = (importId: string, done: (view: ImportView) => boolean, what: string) =>
    waitFor(async () => {
      const view = await statusOf(importId);
      return done(view) && view;
    }, what);

  /** Starts the erasure and waits for its workflow's result, read with the contract's schema. */
  async function erase(userId: string) {
    const accepted = expectJson(await call('DELETE', `/v1/users/${userId}`), 202, ErasureView);
    assert.equal(accepted.userId, userId);
    const { client } = await temporal();
    return EraseUserResult.parse(await client.workflow.getHandle(accepted.workflowId).result());
  }

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('erasure');
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    key = (await store.apiKeys.create({ scope: 'tenant', tenant, name: 'erasure test' })).key;
    ({ app } = await createTestApp({ store, taskQueue, imports: { statusFreshMs: 0, statusStaleMs: 0 } }));
  });
  afterEach(() => provider.configure({ faults: {} }));
  after(async () => {
    provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await provider?.close();
    await store?.close();
  });

  it('cancels the running import, waits for it to stop, then deletes every contact of that user only', async () => {
    const [userId, neighbour] = [uniqueId('erase-me'), uniqueId('neighbour')];
    const contacts = store.tenant(tenant);

    const other = expectImport(await call('POST', '/v1/imports', { userId: neighbour, source: SOURCE }), 202);
    await importUntil(other.importId, (v) => v.state === 'completed', "the neighbour's import to complete");

    // The user's import stops at an exact page: 300 contacts saved, the fourth page held.
    provider.configure({ faults: { holdFromOffset: 300 } });
    const running = expectImport(await call('POST', '/v1/imports', { userId, source: SOURCE }), 202);
    await waitFor(async () => (await contacts.countContacts(userId)) === 300, 'three pages saved');

    const result = await erase(userId);
    assert.deepEqual(result, { cancelledImports: 1, deletedContacts: 300 });
    const view = await statusOf(running.importId);
    // Closed as cancelled means its batch has ended too (the workflow waits for that), so the
    // delete cannot have raced a page still being saved.
    assert.equal(view.state, 'cancelled', 'the import was cancelled, not left running');
    assert.equal(await contacts.countContacts(userId), 0, 'no contact of the erased user is left');
    assert.equal(await contacts.countContacts(neighbour), CONTACTS, "another user's contacts are untouched");
  });

  it('is harmless to repeat, and works for a user with nothing to erase', async () => {
    const userId = uniqueId('erase-twice');
    const done = expectImport(await call('POST', '/v1/imports', { userId, source: SOURCE }), 202);
    await importUntil(done.importId, (v) => v.state === 'completed', 'the import to complete');
    assert.deepEqual(await erase(userId), { cancelledImports: 0, deletedContacts: CONTACTS });
    assert.deepEqual(await erase(userId), { cancelledImports: 0, deletedContacts: 0 });
    assert.deepEqual(await erase(uniqueId('never-imported')), { cancelledImports: 0, deletedContacts: 0 });
  });
});
