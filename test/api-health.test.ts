/**
 * Health and unavailability in the HTTP contract: liveness, readiness with details only for a key,
 * 503 while Temporal or the database does not answer, on fakes (test/support/fake-app.ts); and
 * the Temporal-backed `Imports` and `Erasure` on a client whose server is gone, for the 503 they
 * must then answer and the 404 they answer without asking.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { createApp } from '../api/app';
import { createAuthenticator } from '../api/auth';
import { createTemporalErasure, createTemporalImports, temporalPing } from '../api/imports';
import type { Store } from '../db/types';
import { DEFAULT_TENANT } from '../workflows/contract';
import {
  assertError,
  buildApp,
  contractApp,
  freshStore,
  neverIssued,
  send,
  tenantKey,
  unknownKey,
  type App,
} from './support/fake-app';
import { TEST_TUNING, testSealer, uniqueId } from './support/harness';

/** A local TCP port nothing listens on: bound once by us, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('HTTP contract', () => {
  const api = contractApp();
  const { request } = api;

  describe('health', () => {
    it('answers liveness without asking anything else', async () => {
      api.ping.state = 'failing';
      const res = await request('GET', '/livez', undefined, null);
      assert.deepEqual({ status: res.status, body: res.body }, { status: 200, body: { status: 'ok' } });
    });

    it('reports healthy when Temporal and the database answer, with details only for a key', async () => {
      const withKey = await request('GET', '/healthz');
      assert.deepEqual(
        { status: withKey.status, body: withKey.body },
        { status: 200, body: { status: 'ok', temporal: 'ok', database: 'ok' } },
      );
      for (const as of [null, unknownKey()]) {
        const res = await request('GET', '/healthz', undefined, as);
        assert.deepEqual({ status: res.status, body: res.body }, { status: 200, body: { status: 'ok' } }, `key: ${as}`);
      }
    });

    it('answers 503 saying Temporal is unavailable when it does not answer (which part: only with a key)', async () => {
      api.ping.state = 'failing';
      const res = await request('GET', '/healthz');
      assert.deepEqual(
        { status: res.status, body: res.body },
        { status: 503, body: { status: 'unavailable', temporal: 'unavailable', database: 'ok' } },
      );
      const anonymous = await request('GET', '/healthz', undefined, null);
      assert.deepEqual({ status: anonymous.status, body: anonymous.body }, { status: 503, body: { status: 'unavailable' } });
    });

    it('answers 503 when the database does not answer', async () => {
      const broken = await freshStore();
      await broken.close();
      const sick = buildApp(broken).app;
      const res = await send(sick, 'GET', '/healthz', { key: null });
      assert.deepEqual({ status: res.status, body: res.body }, { status: 503, body: { status: 'unavailable' } });
    });

    it(
      'answers 503, not 500, to a caller with a key when the database does not answer',
      async (t) => {
        t.mock.method(console, 'error', () => undefined);
        const broken = await freshStore();
        const brokenKey = await tenantKey(broken);
        await broken.close();
        const res = await send(buildApp(broken).app, 'GET', '/healthz', { key: brokenKey });
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal((res.body as { status?: string }).status, 'unavailable');
      },
    );
  });
});

describe('HTTP contract on a real Temporal client whose server is gone', () => {
  /** The app on the Temporal-backed `Imports` and `Erasure`, over a client whose server does not answer. */
  async function withServerGone(loopbackOnly: boolean, test: (app: App, store: Store) => Promise<void>): Promise<void> {
    const connection = Connection.lazy({
      address: `127.0.0.1:${await closedPort()}`,
      // The SDK's own retries, cut short: the default ten attempts take about 20 s to give up.
      interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
    });
    const store = await freshStore();
    try {
      const client = new Client({ connection, workflow: { queryRejectCondition: 'NOT_OPEN' } });
      const imports = createTemporalImports({
        client,
        sealer: testSealer,
        tuning: { ...TEST_TUNING, pageSize: 1, pagesPerBatch: 1, maxBatchesPerRun: 1 },
        queryTimeoutMs: 200,
      });
      const app = createApp({
        imports,
        erasure: createTemporalErasure({ client }),
        store,
        auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly, keyCountCacheMs: 0 }),
        temporal: temporalPing(client),
      });
      await test(app, store);
    } finally {
      await store.close();
      await connection.close();
    }
  }

  it('answers 503 temporal_unavailable to a status request and an erasure', { timeout: 60_000 }, async () => {
    await withServerGone(false, async (app, store) => {
      const key = await tenantKey(store);
      assertError(await send(app, 'GET', `/v1/imports/${neverIssued()}`, { key }), 503, 'temporal_unavailable');
      assertError(await send(app, 'DELETE', '/v1/users/u1', { key }), 503, 'temporal_unavailable');
    });
  });

  it('answers 404 to a three-part import id (provider, user, run: no tenant) without asking Temporal', { timeout: 60_000 }, async () => {
    // The keyless loopback mode: its tenant, `default`, is the one such an id would have named.
    await withServerGone(true, async (app) => {
      const parts = ['google-people', uniqueId('old'), '01a2236e-fd33-7b63-bc70-63ad57a65ce5'];
      const threePart = `imp_${Buffer.from(JSON.stringify(parts)).toString('base64url')}`;
      assertError(await send(app, 'GET', `/v1/imports/${threePart}`, { key: null }), 404, 'import_not_found');
      assertError(await send(app, 'GET', `/v1/imports/${threePart}/rejects`, { key: null }), 404, 'import_not_found');
      assertError(await send(app, 'GET', `/v1/imports/${neverIssued(DEFAULT_TENANT)}`, { key: null }), 503, 'temporal_unavailable');
    });
  });
});
