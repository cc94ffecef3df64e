/**
 * API keys in the HTTP contract: every `/v1` request needs an active tenant key, refused ones get
 * a Bearer challenge, and the key never comes back; the keyless mode serves tenant `default` only
 * while the API listens on loopback and no tenant key exists. Through `app.request()` on fakes
 * (test/support/fake-app.ts).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { isProviderId } from '../providers';
import { DEFAULT_TENANT } from '../workflows/contract';
import { decodeImportId } from '../workflows/import-id';
import {
  assertUnauthorized,
  buildApp,
  contractApp,
  freshStore,
  importView,
  neverIssued,
  send,
  startBody,
  TENANT,
  unknownKey,
  V1_REQUESTS,
} from './support/fake-app';
import { uniqueId } from './support/harness';

describe('HTTP contract', () => {
  const api = contractApp();
  const { request } = api;

  describe('API keys', () => {
    it('answers 401 with a Bearer challenge to every /v1 request without a key', async () => {
      for (const { method, path: urlPath, body } of V1_REQUESTS) {
        const res = await request(method, urlPath(), body, null);
        assertUnauthorized(res, false);
        assert.match((res.body as { error: { message: string } }).error.message, /Authorization: Bearer/, 'says what to send');
      }
      assert.deepEqual(api.imports.calls, [], 'nothing reaches imports');
      assert.deepEqual(api.erasure.calls, [], 'nothing reaches erasure');
    });

    it('answers 401 to an unknown key, and to an Authorization that is not a bearer key', async () => {
      for (const authorization of [`Bearer ${unknownKey()}`, 'Bearer not-a-key', 'Bearer', `Basic ${btoa('acme:secret')}`, api.key]) {
        for (const { method, path: urlPath, body } of V1_REQUESTS) {
          assertUnauthorized(await send(api.app, method, urlPath(), { body, authorization }), true);
        }
      }
      assert.deepEqual(api.imports.calls, [], 'nothing reaches imports');
      assert.deepEqual(api.erasure.calls, [], 'nothing reaches erasure');
    });

    it('answers 401 to a revoked key, at once', async () => {
      const { key: doomed, record } = await api.store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'to revoke' });
      assert.equal((await request('GET', '/v1/users/u1/contacts', undefined, doomed)).status, 200);
      assert.equal(await api.store.apiKeys.revoke(record.id), true);
      for (const { method, path: urlPath, body } of V1_REQUESTS) {
        assertUnauthorized(await request(method, urlPath(), body, doomed), true);
      }
      assert.equal((await request('GET', '/v1/users/u1/contacts')).status, 200, 'other keys keep working');
    });

    it('answers 401 to an operator key: it is not a tenant key', async () => {
      const { key: operatorKey } = await api.store.apiKeys.create({ scope: 'operator', name: 'ops' });
      for (const { method, path: urlPath, body } of V1_REQUESTS) {
        assertUnauthorized(await request(method, urlPath(), body, operatorKey), true);
      }
      assert.deepEqual(api.imports.calls, [], 'nothing reaches imports');
    });

    it('never answers with the key', async () => {
      const answers = [
        await request('POST', '/v1/imports', startBody(uniqueId('lee'))),
        await request('GET', `/v1/imports/${neverIssued()}`),
        await request('GET', '/healthz'),
      ];
      for (const res of answers) {
        const text = JSON.stringify(res.body) + JSON.stringify([...res.headers.entries()]);
        assert.ok(!text.includes(api.key), `the key is not in the answer: ${text}`);
      }
    });
  });
});

describe('HTTP contract: the keyless loopback mode', () => {
  let store: Store;
  beforeEach(async () => {
    store = await freshStore();
  });
  afterEach(() => store.close());

  it('serves requests without a key as tenant default while it listens on loopback and no key exists', async () => {
    const { app, imports } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    const userId = uniqueId('open');
    const res = await send(app, 'POST', '/v1/imports', { body: startBody(userId), key: null });
    const view = importView(res, 202);
    assert.equal(decodeImportId(view.importId, isProviderId)?.tenant, DEFAULT_TENANT);
    assert.deepEqual(
      imports.calls.map(({ method, tenant }) => `${method} ${tenant}`),
      [`start ${DEFAULT_TENANT}`],
    );
    importView(await send(app, 'GET', `/v1/imports/${view.importId}`, { key: null }), 200);
    assert.equal((await send(app, 'GET', `/v1/users/${userId}/contacts`, { key: null })).status, 200);
    const health = await send(app, 'GET', '/healthz', { key: null });
    assert.deepEqual(health.body, { status: 'ok', temporal: 'ok', database: 'ok' }, 'the open mode is a caller too');
  });

  it('refuses a key it does not know even in the open mode', async () => {
    const { app } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    assertUnauthorized(await send(app, 'GET', '/v1/users/u1/contacts', { key: unknownKey() }), true);
  });

  it('needs a key from the moment one is created (and again none once every key is revoked)', async () => {
    const { app, imports } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: null })).status, 200);

    const { key, record } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'first' });
    for (const { method, path: urlPath, body } of V1_REQUESTS) {
      assertUnauthorized(await send(app, method, urlPath(), { body, key: null }), false);
    }
    assert.deepEqual(imports.calls, [], 'no keyless request reached imports');
    const view = importView(await send(app, 'POST', '/v1/imports', { body: startBody(uniqueId('keyed')), key }), 202);
    assert.equal(decodeImportId(view.importId, isProviderId)?.tenant, TENANT, "the key's tenant, not default");
    assert.deepEqual((await send(app, 'GET', '/healthz', { key: null })).body, { status: 'ok' }, 'no details without a key now');

    await store.apiKeys.revoke(record.id);
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: null })).status, 200, 'no active key: open again');
  });

  it('keeps the open mode closed for an operator key alone', async () => {
    const { app } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    await store.apiKeys.create({ scope: 'operator', name: 'ops' });
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: null })).status, 200, 'operator keys are not tenant keys');
  });

  it('needs a key when it does not listen only on loopback, even with no key created', async () => {
    const { app, imports, erasure } = buildApp(store, { auth: { loopbackOnly: false, keyCountCacheMs: 0 } });
    for (const { method, path: urlPath, body } of V1_REQUESTS) {
      assertUnauthorized(await send(app, method, urlPath(), { body, key: null }), false);
    }
    assert.deepEqual(imports.calls, []);
    assert.deepEqual(erasure.calls, []);
  });
});
