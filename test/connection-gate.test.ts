/**
 * The worker's connection gate (`activities/connection-gate.ts`): requests waiting on a network,
 * bounded per worker and per tenant, shared by tenant first and then by import. First on its own (no
 * I/O), then inside `importBatch` through `MockActivityEnvironment` with a real SQLite store and
 * sources that never answer: a page waiting on its provider holds a connection of its tenant's
 * share and no page permit, so another tenant's batch runs past it.
 *
 *   npx tsx scripts/run-tests.ts test/connection-gate.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createConnectionGate, type ConnectionGate } from '../activities/connection-gate';
import { createActivities } from '../activities/index';
import { createPageGate, type PageGate, type PagePermit } from '../activities/page-gate';
import type { ContactSource } from '../providers';
import { readProviderSettings } from '../providers';
import type { Store } from '../db/types';
import { EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import type { ImportBatchInput, ImportBatchResult } from '../workflows/contract';
import { storeCases, testSealer, uniqueId, waitFor } from './support/harness';
import { isSettled, rejectionOf, settle } from './support/promises';

void describe('connection gate', () => {
  void it('holds no more than its connections, nor more than its share per tenant', async () => {
    const gate = createConnectionGate({ connections: 3, perTenant: 2 });
    await gate.acquire({ tenant: 'a', key: 'a1' });
    await gate.acquire({ tenant: 'a', key: 'a2' });
    const third = gate.acquire({ tenant: 'a', key: 'a3' });
    assert.equal(await isSettled(third), false, 'tenant a went past its share');
    // The connection tenant a may not take is there for another tenant.
    const other = gate.acquire({ tenant: 'b', key: 'b1' });
    assert.equal(await isSettled(other), true, 'tenant b waited although a connection was free');
    assert.deepEqual(gate.state(), { connections: 3, perTenant: 2, inUse: 3, waiting: 1 });
    assert.equal(gate.heldBy('a'), 2);
  });

  void it('refuses to be built without a connection, or with a share outside it', () => {
    assert.throws(() => createConnectionGate({ connections: 0, perTenant: 1 }), RangeError);
    assert.throws(() => createConnectionGate({ connections: 2, perTenant: 3 }), RangeError);
    assert.throws(() => createConnectionGate({ connections: 2, perTenant: 0 }), RangeError);
  });

  void it('gives a tenant with one import the same share as a tenant with forty', async () => {
    const gate = createConnectionGate({ connections: 2, perTenant: 2 });
    const holding = [await gate.acquire({ tenant: 'busy', key: 'busy-0' }), await gate.acquire({ tenant: 'busy', key: 'busy-1' })];
    const granted: string[] = [];
    const permits: PagePermit[] = [];
    const ask = (tenant: string, key: string) =>
      void gate.acquire({ tenant, key }).then((permit) => {
        granted.push(tenant);
        permits.push(permit);
      });
    for (let i = 2; i < 40; i += 1) ask('busy', `busy-${i}`);
    ask('quiet', 'quiet-0');
    await settle();
    // The first connection to free goes to the tenant that holds none, however late it came.
    holding[0]!.release();
    await settle();
    assert.deepEqual(granted, ['quiet']);
    // And from then on the two take turns: each release goes to the tenant holding fewer.
    ask('quiet', 'quiet-1');
    holding[1]!.release();
    await settle();
    permits[0]!.release();
    await settle();
    assert.deepEqual(granted, ['quiet', 'busy', 'quiet']);
  });

  void it('shares a tenant between its imports: the one holding fewer goes first, then first come', async () => {
    const gate = createConnectionGate({ connections: 3, perTenant: 3 });
    const ahead = await gate.acquire({ tenant: 't', key: 'fetching-ahead' });
    await gate.acquire({ tenant: 't', key: 'other' });
    const third = await gate.acquire({ tenant: 't', key: 'third' });
    const order: string[] = [];
    const ask = (key: string) => void gate.acquire({ tenant: 't', key }).then(() => order.push(key));
    ask('fetching-ahead');
    ask('other');
    ask('new');
    await settle();
    third.release();
    await settle();
    // "new" holds nothing; the other two hold one each.
    assert.deepEqual(order, ['new']);
    ahead.release();
    await settle();
    // "fetching-ahead" holds none now, "other" and "new" one each.
    assert.deepEqual(order, ['new', 'fetching-ahead']);
  });

  void it('takes an aborted waiter out of the queue and rejects it with the signal reason', async () => {
    const gate = createConnectionGate({ connections: 1, perTenant: 1 });
    const held = await gate.acquire({ tenant: 'a', key: 'a' });
    const controller = new AbortController();
    const cancelled = gate.acquire({ tenant: 'b', key: 'b' }, controller.signal);
    const reason = new Error('batch cancelled');
    controller.abort(reason);
    assert.equal(await rejectionOf(cancelled), reason);
    assert.equal(gate.state().waiting, 0);
    held.release();
    held.release();
    assert.deepEqual(gate.state(), { connections: 1, perTenant: 1, inUse: 0, waiting: 0 });
    assert.equal(await rejectionOf(gate.acquire({ tenant: 'c', key: 'c' }, AbortSignal.abort(reason))), reason);
  });
});

/** A source whose pages never come until the signal aborts; it counts the pages asked for. */
function hangingSource(): ContactSource & { asked: number } {
  const source = {
    asked: 0,
    fetchPage({ signal }: { signal: AbortSignal }) {
      source.asked += 1;
      return new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    },
  };
  return source;
}

/** A source of one page of one contact. */
const onePage: ContactSource = {
  fetchPage: () =>
    Promise.resolve({
      contacts: [{ externalId: 'c/1', etag: 'e1', displayName: 'One', email: null, phone: null, organization: null, raw: {} }],
      nextCursor: null,
      total: 1,
    }),
};

void describe('importBatch at the connection gate', () => {
  let store: Store;
  before(async () => {
    store = await storeCases()[0]!.open();
  });
  after(async () => {
    await store?.close();
  });

  function run(tenant: string, source: ContactSource, gates: { pages: PageGate; connections: ConnectionGate }) {
    const { importBatch } = createActivities({
      store,
      sealer: testSealer,
      sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: 'http://127.0.0.1:9' }) },
      openSource: () => source,
      pageGate: gates.pages,
      connectionGate: gates.connections,
      keepAliveHeartbeatMs: 600_000,
    });
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const userId = uniqueId('conn-user');
    const input: ImportBatchInput = {
      tenant,
      provider: 'google-people',
      userId,
      sealedCredentials: testSealer.seal(`ya29.${userId}`),
      pageSize: 2,
      maxPages: 5,
      checkpoint: EMPTY_CHECKPOINT,
      importKey: uniqueId('conn-import'),
      mode: 'full',
    };
    const result: Promise<ImportBatchResult> = env.run(importBatch, input);
    return { env, result };
  }

  void it('holds a connection of its tenant, and no page permit, while its provider does not answer', async () => {
    const gates = { pages: createPageGate(1), connections: createConnectionGate({ connections: 4, perTenant: 2 }) };
    const stuck = Array.from({ length: 8 }, () => ({ source: hangingSource() }));
    const batches = stuck.map(({ source }) => run('dribbling', source, gates));
    await waitFor(() => gates.connections.state().waiting === 6, "the stuck tenant's batches to reach the connection gate");
    assert.equal(gates.connections.heldBy('dribbling'), 2, 'the stuck tenant holds more than its share');
    assert.equal(stuck.filter(({ source }) => source.asked > 0).length, 2, 'more pages were asked for than the tenant holds connections');
    assert.deepEqual(gates.pages.state(), { permits: 1, inFlight: 0, waiting: 0 }, 'a page waiting on its provider holds a page permit');
    // Another tenant's batch gets a connection and the only page permit, and finishes.
    const other = await run('quiet', onePage, gates).result;
    assert.equal(other.checkpoint.pages, 1);
    assert.equal(other.done, true);
    for (const { env } of batches) env.cancel();
    for (const { result } of batches) assert.ok((await rejectionOf(result)) instanceof CancelledFailure, 'a stuck batch did not end as cancelled');
    assert.deepEqual(gates.connections.state(), { connections: 4, perTenant: 2, inUse: 0, waiting: 0 }, 'a cancelled batch kept a connection');
  });
});
