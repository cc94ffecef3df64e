/**
 * Rate limits in the HTTP contract: each key has its own bucket, a request over it gets 429 with
 * Retry-After, and requests refused for their key or sent to public routes spend nothing. Through
 * `app.request()` on fakes (test/support/fake-app.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import {
  assertError,
  assertUnauthorized,
  buildApp,
  freshStore,
  importView,
  send,
  startBody,
  tenantKey,
  unknownKey,
} from './support/fake-app';
import { uniqueId } from './support/harness';

describe('HTTP contract: rate limits', () => {
  let store: Store;
  before(async () => {
    store = await freshStore();
  });
  after(() => store.close());

  it('answers 429 with Retry-After once a key has used its burst, and limits each key on its own', async () => {
    const { app, imports } = buildApp(store, { rateLimit: { perSecond: 1, burst: 2 } });
    const [first, second] = [await tenantKey(store), await tenantKey(store)];
    for (let i = 0; i < 2; i++) {
      assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: first })).status, 200, `request ${i + 1} is in the burst`);
    }
    const limited = await send(app, 'POST', '/v1/imports', { body: startBody(uniqueId('busy')), key: first });
    assertError(limited, 429, 'rate_limited', /Retry-After/);
    const retryAfter = limited.headers.get('retry-after');
    assert.match(retryAfter ?? '', /^\d+$/, `Retry-After is whole seconds: ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1, `Retry-After is at least 1: ${retryAfter}`);
    assert.deepEqual(imports.calls, [], 'a limited request reaches nothing');

    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: second })).status, 200, 'another key has its own bucket');
    const sameTenant = await send(app, 'POST', '/v1/imports', { body: startBody(uniqueId('busy')), key: second });
    importView(sameTenant, 202);
  });

  it('does not count requests refused for their key, nor public routes', async () => {
    const { app } = buildApp(store, { rateLimit: { perSecond: 1, burst: 1 } });
    const key = await tenantKey(store);
    for (let i = 0; i < 3; i++) {
      assertUnauthorized(await send(app, 'GET', '/v1/users/u1/contacts', { key: unknownKey() }), true);
      assert.equal((await send(app, 'GET', '/livez', { key })).status, 200);
      assert.equal((await send(app, 'GET', '/healthz', { key })).status, 200);
    }
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key })).status, 200, 'the key still has its token');
    assertError(await send(app, 'GET', '/v1/users/u1/contacts', { key }), 429, 'rate_limited');
  });
});
