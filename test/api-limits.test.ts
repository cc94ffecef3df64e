/**
 * The API's limits on what callers without a key, and each key's event streams, may take: requests
 * without a key are counted per peer address; a key holds at most `EVENT_STREAMS_PER_KEY` streams
 * open, and a revoked key's streams end within seconds; `/healthz` asks Temporal and the database
 * once per interval, however many probes come.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createHealthCheck } from '../api/health';
import { HEALTH_DEFAULTS } from '../config/defaults';
import type { Store } from '../db/types';
import { assembledApp, assertError, freshStore, listen, open, send, type App } from './support/assembled-app';
import { uniqueId, waitFor } from './support/harness';

const START = { userId: 'u1', source: { provider: 'google-people', accessToken: 'demo-token' } };


describe('requests without a key are limited per peer address', () => {
  let store: Store;
  beforeEach(async () => {
    store = await freshStore();
  });
  afterEach(() => store.close());

  it('answers 429 rate_limited with Retry-After once a peer used its burst, counting each peer on its own', async () => {
    const { app } = assembledApp(store, { loopbackOnly: true, deps: { peerRateLimit: { perSecond: 1, burst: 3 } } });
    // Keyless /v1, a probe and the page: every request without a key counts.
    for (const urlPath of ['/v1/users/u1/contacts', '/livez', '/']) {
      assert.equal((await send(app, 'GET', urlPath, { peer: '127.0.0.1' })).status, 200, urlPath);
    }
    for (const urlPath of ['/healthz', '/v1/users/u1/contacts', '/livez']) {
      const limited = await send(app, 'GET', urlPath, { peer: '127.0.0.1' });
      assertError(limited, 429, 'rate_limited');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1, `Retry-After in whole seconds: ${limited.headers.get('retry-after')}`);
    }
    assert.equal((await send(app, 'GET', '/livez', { peer: '127.0.0.2' })).status, 200, 'another peer has its own bucket');
  });

  it('does not count requests that carry a key against their peer', async () => {
    const { app } = assembledApp(store, { loopbackOnly: false, deps: { peerRateLimit: { perSecond: 1, burst: 1 } } });
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant: 'acme', name: uniqueId('peer') });
    for (let i = 0; i < 5; i++) assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key, peer: '192.0.2.1' })).status, 200);
    assert.equal((await send(app, 'GET', '/livez', { peer: '192.0.2.1' })).status, 200, 'the peer still has its token');
    assertError(await send(app, 'GET', '/livez', { peer: '192.0.2.1' }), 429, 'rate_limited');
  });

  it('limits each address over the network', async () => {
    const { app } = assembledApp(store, { loopbackOnly: true, deps: { peerRateLimit: { perSecond: 1, burst: 2 } } });
    const server = await listen(app);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(`http://127.0.0.1:${server.port}/livez`)).status);
      assert.deepEqual(statuses, [200, 200, 429, 429]);
      const limited = await fetch(`http://127.0.0.1:${server.port}/livez`);
      assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
    } finally {
      await server.close();
    }
  });
});

describe('/healthz answers from a cache of a few seconds', () => {
  it('asks Temporal and the database once per interval, sharing a check in flight', async () => {
    let now = 0;
    const calls = { temporal: 0, database: 0 };
    const check = createHealthCheck({
      temporal: { ping: () => ((calls.temporal += 1), Promise.resolve()) },
      store: { ping: () => ((calls.database += 1), Promise.resolve()) },
      cacheMs: 2_000,
      now: () => now,
    });
    const reports = await Promise.all(Array.from({ length: 20 }, () => check()));
    assert.ok(reports.every((report) => report.status === 'ok'));
    now = 1_999;
    await check();
    assert.deepEqual(calls, { temporal: 1, database: 1 }, 'twenty probes at once and one within the interval: one check');
    now = 2_001;
    await check();
    assert.deepEqual(calls, { temporal: 2, database: 2 }, 'after the interval, a new check');
  });

  it('keeps a failure for the interval too, and the app answers from the cache by default', async () => {
    assert.ok(HEALTH_DEFAULTS.cacheMs <= 5_000, 'a few seconds at most');
    const store = await freshStore();
    try {
      let pings = 0;
      const { app, ping } = assembledApp(store, { loopbackOnly: true });
      const counted = ping.ping.bind(ping);
      ping.ping = (deadline) => ((pings += 1), counted(deadline));
      ping.state = 'failing';
      for (let i = 0; i < 10; i++) {
        const res = await send(app, 'GET', '/healthz');
        assert.equal(res.status, 503);
        assert.deepEqual(res.body, { status: 'unavailable', temporal: 'unavailable', database: 'ok' });
      }
      assert.equal(pings, 1, 'ten probes, one ping');
    } finally {
      await store.close();
    }
  });
});

describe('event streams per key', () => {
  let store: Store;
  let app: App;
  let key: string;
  let importId: string;
  const opened: Response[] = [];
  beforeEach(async () => {
    store = await freshStore();
    ({ app } = assembledApp(store, { loopbackOnly: false, deps: { events: { perKey: 2, keyCheckMs: 100, keepaliveMs: 60_000 } } }));
    ({ key } = await store.apiKeys.create({ scope: 'tenant', tenant: 'acme', name: uniqueId('streams') }));
    const started = await send(app, 'POST', '/v1/imports', { key, body: START });
    importId = (started.body as { importId: string }).importId;
  });
  afterEach(async () => {
    for (const res of opened.splice(0)) await res.body?.cancel().catch(() => undefined);
    await store.close();
  });
  const stream = async (as = key) => {
    const res = await open(app, 'GET', `/v1/imports/${importId}/events`, { key: as });
    opened.push(res);
    return res;
  };

  it('answers 429 too_many_streams past EVENT_STREAMS_PER_KEY, counting each key on its own', async () => {
    const [first, second] = [await stream(), await stream()];
    assert.deepEqual([first.status, second.status], [200, 200]);
    const refused = await stream();
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'too_many_streams');
    const { key: other } = await store.apiKeys.create({ scope: 'tenant', tenant: 'acme', name: uniqueId('other') });
    assert.equal((await stream(other)).status, 200, 'another key of the same tenant has its own');

    await first.body?.cancel();
    const again = await waitFor(async () => {
      const res = await stream();
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    }, 'a slot freed by the closed stream');
    assert.equal(again.status, 200);
  });

  it("ends a revoked key's streams within seconds", async () => {
    const res = await stream();
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return Date.now();
    })();
    const keys = await store.apiKeys.list();
    const record = keys.find((k) => k.scope === 'tenant');
    assert.ok(record);
    const revokedAt = Date.now();
    await store.apiKeys.revoke(record.id);
    let deadline: NodeJS.Timeout | undefined;
    const tooLate = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error('the stream is still open 5 s after its key was revoked')), 5_000);
    });
    try {
      const endedAt = await Promise.race([ended, tooLate]);
      assert.ok(endedAt - revokedAt < 5_000);
    } finally {
      clearTimeout(deadline);
    }
    assert.equal((await stream()).status, 401, 'and the key opens no new one');
  });
});
