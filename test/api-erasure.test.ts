/**
 * `DELETE /v1/users/{userId}` in the HTTP contract: an erasure for the tenant of the key, harmless
 * to repeat, refused without a key or for an id that cannot be a user's, 503 while Temporal does
 * not answer. Through `app.request()` on fakes (test/support/fake-app.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErasureView } from '../api/schemas';
import { eraseWorkflowId } from '../workflows/contract';
import { temporalUnavailableError } from './support/fakes';
import { assertError, assertUnauthorized, contractApp, OTHER_TENANT, TENANT, unknownKey } from './support/fake-app';
import { uniqueId } from './support/harness';

describe('HTTP contract', () => {
  const api = contractApp();
  const { request } = api;

  describe('erasure', () => {
    it('answers 202 with the erasure to DELETE /v1/users/{userId}, for the tenant of the key', async () => {
      const userId = uniqueId('pia');
      const res = await request('DELETE', `/v1/users/${userId}`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const view = ErasureView.parse(res.body);
      assert.deepEqual(view, { userId, workflowId: eraseWorkflowId({ tenant: TENANT, userId }), state: 'accepted' });
      assert.deepEqual(api.erasure.calls, [{ method: 'erase', tenant: TENANT, argument: userId }]);

      const again = await request('DELETE', `/v1/users/${userId}`);
      assert.equal(again.status, 202, 'repeating it is harmless');
      assert.deepEqual(ErasureView.parse(again.body), view);

      await request('DELETE', `/v1/users/${userId}`, undefined, api.otherKey);
      assert.deepEqual(api.erasure.calls.at(-1), { method: 'erase', tenant: OTHER_TENANT, argument: userId }, "the other tenant's user");
    });

    it('answers 401 to an erasure without a key, and erases nothing', async () => {
      assertUnauthorized(await request('DELETE', '/v1/users/u1', undefined, null), false);
      assertUnauthorized(await request('DELETE', '/v1/users/u1', undefined, unknownKey()), true);
      assert.deepEqual(api.erasure.calls, []);
    });

    it('answers 422 to a user id that cannot be one', async () => {
      assertError(await request('DELETE', '/v1/users/..%2Fx'), 422, 'validation_failed', /userId/);
      assert.deepEqual(api.erasure.calls, []);
    });

    it('answers 503 while Temporal does not answer', async () => {
      api.erasure.failure = temporalUnavailableError('start workflow');
      const res = await request('DELETE', '/v1/users/u1');
      assertError(res, 503, 'temporal_unavailable');
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
    });
  });

});
