/**
 * No tenant's source slows, starves or crashes another's imports: two tenants on one real worker
 * (short outbound limits, a small connection gate) against the run's Temporal server, through the
 * API. Tenant A's CardDAV imports point at a server that dribbles or never ends its answer; tenant
 * B imports 2,500 contacts from the demo provider meanwhile. A's imports show why they wait, hold
 * no more than their tenant's share of connections, and give up once their source has failed for
 * the whole of `IMPORT_GIVE_UP_AFTER`; an outage shorter than that resumes.
 *
 * The speed figures (B's time with and without A) come from test/isolation-npm-start.test.ts under
 * `npm start`; nothing here is timed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { createConnectionGate, type ConnectionGate } from '../activities/connection-gate';
import { OUTBOUND_DEFAULTS, type OutboundLimits } from '../config/defaults';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { FAILURE_TYPES } from '../workflows/contract';
import { startApi, type TestApi } from './support/api';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';
import { startHostileServer, type HostileServer } from '../demo-provider/hostile-server';

const CONTACTS = 2_500;
const LIMITS: OutboundLimits = { ...OUTBOUND_DEFAULTS, firstByteTimeoutMs: 1_000, idleTimeoutMs: 1_000, requestTimeoutMs: 1_500, maxResponseBytes: 1 << 20 };
const CONNECTIONS = { connections: 4, perTenant: 2 };
const GIVE_UP_AFTER_SECONDS = 4;

describe('isolation between tenants on one worker', () => {
  let provider: DemoProvider;
  let hostile: HostileServer;
  let store: Store;
  let worker: Worker;
  let running: Promise<void>;
  let gate: ConnectionGate;
  /** The most connections each tenant held at once, as the gate saw it. */
  const mostHeld = new Map<string, number>();
  let noisy: TestApi;
  let quiet: TestApi;
  /** Tenant A again, with a short give-up window. */
  let impatient: TestApi;

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    hostile = await startHostileServer();
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('isolation');
    noisy = await startApi({ store, taskQueue, tenant: 'tenant-a' });
    quiet = await startApi({ store, taskQueue, tenant: 'tenant-b' });
    impatient = await startApi({ store, taskQueue, tenant: 'tenant-a', tuning: { giveUpAfterSeconds: GIVE_UP_AFTER_SECONDS } });
    gate = createConnectionGate(CONNECTIONS, () => {
      for (const tenant of ['tenant-a', 'tenant-b']) mostHeld.set(tenant, Math.max(mostHeld.get(tenant) ?? 0, gate.heldBy(tenant)));
    });
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue, outboundLimits: LIMITS, connectionGate: gate });
    running = worker.run();
  });
  after(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    for (const api of [noisy, quiet, impatient]) await api?.close();
    await hostile?.close();
    await provider?.close();
    await store?.close();
  });

  const carddav = (path: string) => ({ provider: 'carddav', url: `${hostile.url}${path}`, username: 'alice', password: 'secret-password' });
  const google = { provider: 'google-people', accessToken: 'demo-token' };

  /** Starts an import of `source` through `api` and resolves to its status once it has ended. */
  async function importToEnd(api: TestApi, source: unknown) {
    const started = await api.startImport({ userId: uniqueId(api.tenant), source });
    return waitFor(async () => {
      const view = await api.getImport(started.json.importId);
      return view.state !== 'running' && view;
    }, `the import of ${api.tenant} to end`);
  }

  async function cancelAll(api: TestApi, importIds: string[]): Promise<void> {
    for (const importId of importIds) await api.call('POST', `/v1/imports/${importId}/cancel`);
    for (const importId of importIds) await waitFor(async () => (await api.getImport(importId)).state === 'cancelled', `import ${importId} to cancel`);
  }

  it("completes tenant B's import while eight of tenant A's imports wait on a server that dribbles", async () => {
    const stuck: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      stuck.push((await noisy.startImport({ userId: uniqueId(`dribble-${i}`), source: carddav('/dribble/?every=200') })).json.importId);
    }
    try {
      await waitFor(() => gate.heldBy('tenant-a') === CONNECTIONS.perTenant, "tenant A's imports to take their share of connections");
      const done = await importToEnd(quiet, google);
      assert.equal(done.state, 'completed', JSON.stringify(done));
      assert.equal(done.saved, CONTACTS);
      const waiting = await waitFor(async () => (await noisy.getImport(stuck[0]!)).waiting, "tenant A's import to say why it waits");
      assert.equal(waiting.reason, 'provider_too_slow', JSON.stringify(waiting));
      assert.ok((mostHeld.get('tenant-a') ?? 0) <= CONNECTIONS.perTenant, `tenant A held ${mostHeld.get('tenant-a')} connections`);
      assert.ok(hostile.requests.dribble! >= 2, 'the dribbling server was asked');
    } finally {
      await cancelAll(noisy, stuck);
    }
    assert.equal(gate.heldBy('tenant-a'), 0, 'a cancelled import kept a connection');
  });

  it("parks an import whose server never ends its answer with response_too_large while the other tenant's completes", async () => {
    const endless = (await noisy.startImport({ userId: uniqueId('endless'), source: carddav('/endless/') })).json.importId;
    try {
      const waiting = await waitFor(async () => (await noisy.getImport(endless)).waiting, 'the endless import to say why it waits');
      assert.equal(waiting.reason, 'response_too_large', JSON.stringify(waiting));
      const done = await importToEnd(quiet, google);
      assert.equal(done.state, 'completed', JSON.stringify(done));
      assert.equal(done.saved, CONTACTS);
      const endlessView = await noisy.getImport(endless);
      assert.equal(endlessView.state, 'running', 'the endless import is parked, retrying, not failed');
      assert.equal(endlessView.saved, 0);
    } finally {
      await cancelAll(noisy, [endless]);
    }
  });

  it('gives up on a source that fails for the whole of IMPORT_GIVE_UP_AFTER, naming why', async () => {
    const ended = await importToEnd(impatient, carddav('/dribble/?every=200'));
    assert.equal(ended.state, 'failed');
    assert.equal(ended.errorType, FAILURE_TYPES.providerTooSlow);
    assert.match(ended.error ?? '', new RegExp(`^Gave up after ${GIVE_UP_AFTER_SECONDS} seconds without progress: The CardDAV server did not answer within 1500 ms`));
    assert.ok(!(ended.error ?? '').includes('secret-password'));
  });

  it('resumes after an outage shorter than IMPORT_GIVE_UP_AFTER', async () => {
    provider.configure({ faults: { script: ['503', 'drop'], retryAfterSeconds: 1 } });
    try {
      const done = await importToEnd(impatient, google);
      assert.equal(done.state, 'completed', JSON.stringify(done));
      assert.equal(done.saved, CONTACTS);
      assert.equal(provider.stats.faultsInjected >= 2, true);
    } finally {
      provider.configure({ faults: {} });
    }
  });
});
