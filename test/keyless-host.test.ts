/**
 * The keyless mode (`npm start` before any key exists) answers only local requests: from this
 * machine, addressed to `localhost`, `127.0.0.1` or `[::1]`. A page on another site can reach a
 * loopback API through DNS rebinding, but its requests then name that site's host: they get 421
 * and no data, from `/v1`, the event streams, the codec server and `/metrics` alike. The operator
 * routes need an operator key as soon as any key exists.
 */
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { assembledApp, assertError, freshStore, listen, send, overTheNetwork, type App } from './support/assembled-app';
import type { FakeImports } from './support/fakes';
import { uniqueId } from './support/harness';

const START = { userId: 'u1', source: { provider: 'google-people', accessToken: 'demo-token' } };
const DECODE = { payloads: [] };
const LOCAL_HOSTS = ['localhost', 'localhost:3000', '127.0.0.1', '127.0.0.1:8080', '[::1]', '[::1]:3000'];
const OTHER_HOSTS = ['evil.example', 'evil.example:3000', 'localhost.evil.example', '192.168.1.5:3000', '10.0.0.1'];


/** The data routes and operator routes a keyless caller could reach, for an import id that exists. */
const dataRoutes = (importId: string) =>
  [
    ['GET', '/v1/users/u1/contacts', undefined],
    ['POST', '/v1/imports', START],
    ['GET', `/v1/imports/${importId}`, undefined],
    ['GET', `/v1/imports/${importId}/events`, undefined],
    ['POST', '/codec/decode', DECODE],
    ['GET', '/metrics', undefined],
  ] as const;

describe('the keyless mode answers only local requests', () => {
  let store: Store;
  let app: App;
  let imports: FakeImports;
  let importId: string;
  beforeEach(async () => {
    store = await freshStore();
    ({ app, imports } = assembledApp(store, { loopbackOnly: true, deps: { events: { maxStreamMs: 200 } } }));
    const started = await send(app, 'POST', '/v1/imports', { body: START });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    importId = (started.body as { importId: string }).importId;
  });
  afterEach(() => store.close());

  it('serves requests addressed to localhost, 127.0.0.1 or [::1], on any port', async () => {
    for (const host of LOCAL_HOSTS) {
      assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { host })).status, 200, host);
      assert.equal((await send(app, 'POST', '/codec/decode', { host, body: DECODE })).status, 200, host);
      assert.equal((await send(app, 'GET', '/metrics', { host })).status, 200, host);
    }
  });

  it('answers 421 host_not_allowed, and nothing else, to a request addressed to any other host', async () => {
    const callsBefore = imports.calls.length;
    for (const host of OTHER_HOSTS) {
      for (const [method, urlPath, body] of dataRoutes(importId)) {
        const res = await send(app, method, urlPath, { host, body });
        // The message says which names work.
        assertError(res, 421, 'host_not_allowed', /localhost, 127\.0\.0\.1 or \[::1\]/);
      }
    }
    assert.equal(imports.calls.length, callsBefore, 'no refused request reached the imports');
  });

  it('tells a probe from another host only whether it is healthy, not which part is down', async () => {
    assert.deepEqual((await send(app, 'GET', '/healthz')).body, { status: 'ok', temporal: 'ok', database: 'ok' });
    assert.deepEqual((await send(app, 'GET', '/healthz', { host: 'evil.example' })).body, { status: 'ok' });
  });

  it('answers 403 peer_not_allowed to a peer on another machine, even addressed to localhost', async () => {
    assertError(await send(app, 'GET', '/v1/users/u1/contacts', { peer: '192.0.2.7' }), 403, 'peer_not_allowed');
    assertError(await send(app, 'POST', '/codec/decode', { peer: '2001:db8::7', body: DECODE }), 403, 'peer_not_allowed');
    for (const peer of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { peer })).status, 200, peer);
    }
  });

  it('serves a request with a key whatever host it names, once keys exist', async () => {
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant: 'acme', name: uniqueId('host') });
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { host: 'api.example.com', key })).status, 200);
    const keyless = await send(app, 'GET', '/v1/users/u1/contacts', { host: 'api.example.com' });
    assertError(keyless, 401, 'unauthenticated');
  });
});

describe('the operator routes need an operator key as soon as any key exists', () => {
  let store: Store;
  let app: App;
  beforeEach(async () => {
    store = await freshStore();
    ({ app } = assembledApp(store, { loopbackOnly: true }));
  });
  afterEach(() => store.close());

  it('closes /codec and /metrics to keyless callers once a tenant key exists', async () => {
    assert.equal((await send(app, 'POST', '/codec/decode', { body: DECODE })).status, 200, 'no key at all: keyless');
    assert.equal((await send(app, 'GET', '/metrics')).status, 200, 'no key at all: keyless');
    const { key: tenantKey } = await store.apiKeys.create({ scope: 'tenant', tenant: 'acme', name: 'first' });
    assertError(await send(app, 'POST', '/codec/decode', { body: DECODE }), 401, 'unauthenticated');
    assertError(await send(app, 'GET', '/metrics'), 401, 'unauthenticated');
    assertError(await send(app, 'POST', '/codec/decode', { body: DECODE, key: tenantKey }), 401, 'unauthenticated');
    assertError(await send(app, 'GET', '/metrics', { key: tenantKey }), 401, 'unauthenticated');
    const { key: operatorKey } = await store.apiKeys.create({ scope: 'operator', name: 'ops' });
    assert.equal((await send(app, 'POST', '/codec/decode', { body: DECODE, key: operatorKey })).status, 200);
    assert.equal((await send(app, 'GET', '/metrics', { key: operatorKey })).status, 200);
  });

  it('closes them for an operator key alone, while /v1 stays keyless until a tenant key exists', async () => {
    await store.apiKeys.create({ scope: 'operator', name: 'ops' });
    assertError(await send(app, 'POST', '/codec/decode', { body: DECODE }), 401, 'unauthenticated');
    assertError(await send(app, 'GET', '/metrics'), 401, 'unauthenticated');
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts')).status, 200);
  });
});

describe('the keyless mode over the network', () => {
  let store: Store;
  let server: Awaited<ReturnType<typeof listen>>;
  let importId: string;
  after(async () => {
    await server?.close();
    await store?.close();
  });

  it('answers Host: evil.example with 421 and no data, and its own names as usual', async () => {
    store = await freshStore();
    const { app } = assembledApp(store, { loopbackOnly: true, deps: { events: { maxStreamMs: 300 } } });
    server = await listen(app);
    const local = `127.0.0.1:${server.port}`;
    const started = await overTheNetwork(server.port, 'POST', '/v1/imports', { host: local, body: START });
    assert.equal(started.status, 202, started.body);
    importId = (JSON.parse(started.body) as { importId: string }).importId;

    for (const [method, urlPath, body] of dataRoutes(importId)) {
      const res = await overTheNetwork(server.port, method, urlPath, { host: 'evil.example', body });
      assert.equal(res.status, 421, `${method} ${urlPath}: ${res.body}`);
      assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'host_not_allowed');
      assert.doesNotMatch(res.body, /u1|importId|contacts_api|payloads/, `${method} ${urlPath} leaked data: ${res.body}`);
    }
    // A request in absolute form names a loopback URL, but its Host is still another site's.
    const absolute = await overTheNetwork(server.port, 'GET', `http://${local}/v1/users/u1/contacts`, { host: 'evil.example' });
    assert.equal(absolute.status, 421, absolute.body);
    for (const host of [local, `localhost:${server.port}`]) {
      const contacts = await overTheNetwork(server.port, 'GET', '/v1/users/u1/contacts', { host });
      assert.equal(contacts.status, 200, `${host}: ${contacts.body}`);
      const events = await overTheNetwork(server.port, 'GET', `/v1/imports/${importId}/events`, { host, maxMs: 2_000 });
      assert.equal(events.status, 200, events.body);
      assert.match(events.body, /event: status/, 'the stream carries the status');
    }
  });
});
