/**
 * The HTTP contract refuses bad input before it reaches imports: malformed JSON, missing and
 * unknown fields, tokens and user ids that cannot travel, oversized bodies, unknown routes and
 * contact listing parameters. Through `app.request()` on fakes (test/support/fake-app.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertError, contractApp, startBody } from './support/fake-app';
import { uniqueId } from './support/harness';

describe('HTTP contract', () => {
  const api = contractApp();
  const { request, startImport } = api;

  describe('refuses bad input before it reaches imports', () => {
    it('answers 400 to malformed JSON', async () => {
      assertError(await request('POST', '/v1/imports', '{"userId": "u1",'), 400, 'invalid_request', /JSON/i);
      assert.deepEqual(api.imports.calls, [], 'a malformed body starts nothing');
    });

    it('answers 422 naming the missing field', async () => {
      const res = await request('POST', '/v1/imports', JSON.stringify({ source: { provider: 'google-people', accessToken: 't' } }));
      assertError(res, 422, 'validation_failed', /userId/);
      assert.deepEqual(api.imports.calls, [], 'an invalid body starts nothing');
    });

    it('answers 422 to unknown fields rather than ignoring them', async () => {
      const res = await request(
        'POST',
        '/v1/imports',
        JSON.stringify({ userId: 'u1', source: { provider: 'google-people', accessToken: 't' }, priority: 'high' }),
      );
      assertError(res, 422, 'validation_failed', /priority/);
    });

    it('answers 422 to an unknown provider and to an empty token', async () => {
      assertError(
        await request('POST', '/v1/imports', JSON.stringify({ userId: 'u1', source: { provider: 'myspace', accessToken: 't' } })),
        422,
        'validation_failed',
        /provider/,
      );
      assertError(await request('POST', '/v1/imports', startBody('u1', '')), 422, 'validation_failed', /accessToken/);
      assert.deepEqual(api.imports.calls, [], 'neither request starts anything');
    });

    it('answers 422 to an access token that cannot travel in an HTTP header', async () => {
      for (const accessToken of ['令牌', 'abc\u0001def', 'two words']) {
        assertError(await request('POST', '/v1/imports', startBody('u1', accessToken)), 422, 'validation_failed', /accessToken/);
      }
      assert.deepEqual(api.imports.calls, [], 'no such token reaches imports');
    });

    it('answers 422 to a user id that cannot be a workflow id', async () => {
      assertError(await request('POST', '/v1/imports', startBody('../etc/passwd')), 422, 'validation_failed', /userId/);
    });

    it('answers 413 to a body too large to be a start request', async () => {
      assertError(await request('POST', '/v1/imports', startBody('u1', 'x'.repeat(20_000))), 413, 'payload_too_large');
      assert.deepEqual(api.imports.calls, [], 'an oversized body is not read into a start');
    });

    it('answers 413 to a body on pause, resume and cancel, which take none', async () => {
      const { importId } = await startImport(uniqueId('body'));
      for (const action of ['pause', 'resume', 'cancel']) {
        assertError(await request('POST', `/v1/imports/${importId}/${action}`, JSON.stringify({ pad: 'x'.repeat(2_000) })), 413, 'payload_too_large');
      }
      assert.deepEqual(
        api.imports.calls.map((call) => call.method),
        ['start'],
        'no oversized command reaches imports',
      );
    });

    it('answers 404 in JSON to unknown routes', async () => {
      assertError(await request('GET', '/v1/nothing-here'), 404, 'not_found');
      assertError(await request('GET', '/v2/imports'), 404, 'not_found');
    });

    it('validates contact listing parameters', async () => {
      assertError(await request('GET', '/v1/users/u1/contacts?limit=0'), 422, 'validation_failed', /limit/);
      assertError(await request('GET', '/v1/users/u1/contacts?limit=abc'), 422, 'validation_failed', /limit/);
      assertError(await request('GET', '/v1/users/u1/contacts?cursor=garbage'), 400, 'invalid_cursor');
      const withNul = Buffer.from(JSON.stringify(['\u0000', 'x'])).toString('base64url');
      assertError(await request('GET', `/v1/users/u1/contacts?cursor=${withNul}`), 400, 'invalid_cursor');
      assertError(await request('GET', '/v1/users/u1/contacts?sort=name'), 422, 'validation_failed', /sort/);
      assertError(await request('GET', '/v1/users/..%2Fx/contacts'), 422, 'validation_failed', /userId/);
    });

    it('lists no contacts for a user who has none', async () => {
      const empty = await request('GET', `/v1/users/${uniqueId('nobody')}/contacts`);
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body, { items: [], nextCursor: null });
    });
  });

});
