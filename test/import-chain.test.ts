/**
 * An `importId` keeps naming its own import after a newer import for the same user has taken over
 * the workflow ID: the API's Temporal-backed imports (`createTemporalImports`) and `GET
 * /v1/imports/{importId}` through `app.request()`, a real worker on the run's dev server, and the
 * demo provider.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { createApp } from '../api/app';
import type { Imports } from '../api/imports';
import type { ImportView } from '../api/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { expectImport, createTestApp } from './support/api';
import { storeCases, startWorker, temporal, uniqueId, waitFor } from './support/harness';

const A_CONTACTS = 500;
const B_CONTACTS = 300;
const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;
const TENANT = 'chain';

describe('an import replaced by a newer one for the same user', () => {
  let provider: DemoProvider;
  let store: Store;
  let key: string;
  let worker: Worker;
  let workerRun: Promise<void>;
  let imports: Imports;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    provider = await startDemoProvider({ contacts: A_CONTACTS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('import-chain');
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    ({ key } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'import-chain' }));
    ({ app, imports } = await createTestApp({
      store,
      taskQueue,
      // Pages of 100, two per batch, one batch per run: 500 contacts make a chain of 3 runs.
      tuning: { maxBatchesPerRun: 1 },
      // Every read asks Temporal: this is about what Temporal's records say, not a remembered answer.
      imports: { statusFreshMs: 0, statusStaleMs: 0 },
    }));
  });
  after(async () => {
    provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await provider?.close();
    await store?.close();
  });
  beforeEach(() => provider.configure({ contacts: A_CONTACTS, faults: {} }));
  afterEach(() => provider.configure({ faults: {} }));

  /** `GET /v1/imports/{importId}`, expecting 200 and an import. */
  async function getImport(importId: string): Promise<ImportView> {
    const res = await app.request(`/v1/imports/${importId}`, { headers: { authorization: `Bearer ${key}` } });
    return expectImport({ status: res.status, headers: res.headers, json: await res.json() }, 200);
  }

  const importSays = (importId: string, state: ImportView['state'], what: string) =>
    waitFor(async () => {
      const view = await getImport(importId);
      return view.state === state && view;
    }, what);

  const countsOf = (view: ImportView) => ({
    state: view.state,
    fetched: view.fetched,
    saved: view.saved,
    pages: view.pages,
    total: view.total,
    runId: view.runId,
  });

  it("answers the older import's own status and last run, not the newer import's, while and after the newer one runs", async () => {
    const { client } = await temporal();
    const userId = uniqueId('chain-user');

    const a = await imports.start(TENANT, { userId, source: SOURCE });
    assert.equal(a.created, true);
    const aDone = await importSays(a.view.importId, 'completed', 'import A to complete');
    const aLastRun = await client.workflow.getHandle(a.view.workflowId).describe();
    assert.equal(aLastRun.status.name, 'COMPLETED');
    assert.notEqual(aLastRun.runId, a.view.runId, 'import A continued as new: its last run is not its first');
    const expectedA = { state: 'completed', fetched: 500, saved: 500, pages: 5, total: 500, runId: aLastRun.runId };
    assert.deepEqual(countsOf(aDone), expectedA);

    // B: the same user and provider, so the same workflow ID. It has fewer contacts, and waits on
    // its first page until let go. A full read: by default B would read only what changed since A.
    provider.configure({ contacts: B_CONTACTS, faults: { holdFromOffset: 0 } });
    provider.resetStats();
    const b = await imports.start(TENANT, { userId, source: SOURCE, mode: 'full' });
    assert.equal(b.created, true, 'a finished import may be followed by a new one');
    assert.equal(b.view.workflowId, a.view.workflowId);
    assert.notEqual(b.view.importId, a.view.importId, 'each import has its own id');
    await waitFor(() => provider.stats.requests === 1, 'import B to ask for its first page');
    assert.equal(provider.stats.pagesServed, 0, 'import B waits on its first page');

    // While B runs, the status query reaches B's run: A's answer must come from A's own chain.
    const aWhileB = await getImport(a.view.importId);
    assert.deepEqual(countsOf(aWhileB), expectedA, "A's status while B runs");
    assert.equal(aWhileB.importId, a.view.importId);
    assert.ok(aWhileB.completedAt, 'A still says when it completed');
    assert.equal((await getImport(b.view.importId)).state, 'running', 'B, meanwhile, is running');

    provider.configure({ faults: {} });
    const bDone = await importSays(b.view.importId, 'completed', 'import B to complete');
    assert.deepEqual({ saved: bDone.saved, pages: bDone.pages, total: bDone.total }, { saved: 300, pages: 3, total: 300 });
    const latest = await client.workflow.getHandle(a.view.workflowId).describe();
    assert.equal(latest.runId, bDone.runId, "the workflow ID's newest run is B's last");

    const aAfterB = await getImport(a.view.importId);
    assert.deepEqual(countsOf(aAfterB), expectedA, "A's status after B completed");
    assert.equal(aAfterB.completedAt, aWhileB.completedAt, 'A keeps the time it completed');
  });
});
