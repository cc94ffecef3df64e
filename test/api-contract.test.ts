/**
 * The HTTP contract through `app.request()`: validation, error shapes and health. These requests
 * are refused before any workflow starts, so no worker is needed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../api/app';
import { encodeImportId } from '../api/import-id';
import { ImportService } from '../api/import-service';
import type { ContactStore } from '../db/types';
import { storeCases, temporal, testSealer, uniqueId } from './support/harness';

describe('HTTP contract', () => {
  let store: ContactStore;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    store = await storeCases()[0]!.open();
    const { client } = await temporal();
    const imports = new ImportService({
      client,
      sealer: testSealer,
      taskQueue: uniqueId('contract'),
      tuning: { pageSize: 100, pagesPerBatch: 2, maxBatchesPerRun: 10 },
    });
    app = createApp({ imports, store, temporal: client });
  });
  after(() => store.close());

  async function request(method: string, path: string, body?: string) {
    const response = await app.request(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body,
    });
    return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
  }

  function assertError(res: { status: number; body: unknown }, status: number, code: string, message?: RegExp) {
    assert.equal(res.status, status, JSON.stringify(res.body));
    const { error } = res.body as { error: { code: string; message: string } };
    assert.equal(error.code, code);
    assert.equal(typeof error.message, 'string');
    assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in answers');
    if (message) assert.match(error.message, message);
  }

  it('answers 400 to malformed JSON', async () => {
    assertError(await request('POST', '/v1/imports', '{"userId": "u1",'), 400, 'invalid_request', /JSON/i);
  });

  it('answers 422 naming the missing field', async () => {
    const res = await request('POST', '/v1/imports', JSON.stringify({ source: { provider: 'google-people', accessToken: 't' } }));
    assertError(res, 422, 'validation_failed', /userId/);
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
    assertError(
      await request('POST', '/v1/imports', JSON.stringify({ userId: 'u1', source: { provider: 'google-people', accessToken: '' } })),
      422,
      'validation_failed',
      /accessToken/,
    );
  });

  it('answers 422 to an access token that cannot travel in an HTTP header', async () => {
    for (const accessToken of ['令牌', 'abc\u0001def', 'two words']) {
      const res = await request(
        'POST',
        '/v1/imports',
        JSON.stringify({ userId: 'u1', source: { provider: 'google-people', accessToken } }),
      );
      assertError(res, 422, 'validation_failed', /accessToken/);
    }
  });

  it('answers 422 to a user id that cannot be a workflow id', async () => {
    const res = await request(
      'POST',
      '/v1/imports',
      JSON.stringify({ userId: '../etc/passwd', source: { provider: 'google-people', accessToken: 't' } }),
    );
    assertError(res, 422, 'validation_failed', /userId/);
  });

  it('answers 404 to import ids it never issued', async () => {
    assertError(await request('GET', '/v1/imports/not-an-import'), 404, 'import_not_found');
    const wellFormed = encodeImportId({
      provider: 'google-people',
      userId: uniqueId('nobody'),
      firstRunId: '01a2236e-fd33-7b63-bc70-63ad57a65ce5',
    });
    const badRunId = encodeImportId({ provider: 'google-people', userId: 'u1', firstRunId: 'not-a-run-id' });
    assertError(await request('GET', `/v1/imports/${badRunId}`), 404, 'import_not_found');
    assertError(await request('GET', `/v1/imports/${wellFormed}`), 404, 'import_not_found');
    assertError(await request('POST', `/v1/imports/${wellFormed}/cancel`), 404, 'import_not_found');
    assertError(await request('POST', `/v1/imports/${wellFormed}/pause`), 404, 'import_not_found');
  });

  it('answers 413 to a body too large to be a start request', async () => {
    const body = JSON.stringify({ userId: 'u1', source: { provider: 'google-people', accessToken: 'x'.repeat(20_000) } });
    assertError(await request('POST', '/v1/imports', body), 413, 'payload_too_large');
  });

  it('answers 404 in JSON to unknown routes', async () => {
    assertError(await request('GET', '/v1/nothing-here'), 404, 'not_found');
  });

  it('validates contact listing parameters', async () => {
    assertError(await request('GET', '/v1/users/u1/contacts?limit=0'), 422, 'validation_failed', /limit/);
    assertError(await request('GET', '/v1/users/u1/contacts?limit=abc'), 422, 'validation_failed', /limit/);
    assertError(await request('GET', '/v1/users/u1/contacts?cursor=garbage'), 400, 'invalid_cursor');
    const withNul = Buffer.from(JSON.stringify(['\u0000', 'x'])).toString('base64url');
    assertError(await request('GET', `/v1/users/u1/contacts?cursor=${withNul}`), 400, 'invalid_cursor');
    assertError(await request('GET', '/v1/users/u1/contacts?sort=name'), 422, 'validation_failed', /sort/);
    const empty = await request('GET', `/v1/users/${uniqueId('nobody')}/contacts`);
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body, { items: [], nextCursor: null });
  });

  it('answers liveness without asking anything else', async () => {
    const res = await request('GET', '/livez');
    assert.deepEqual(res, { status: 200, body: { status: 'ok' } });
  });

  it('reports healthy when Temporal and the database answer, 503 when one does not', async () => {
    const ok = await request('GET', '/healthz');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { status: 'ok', temporal: 'ok', database: 'ok' });

    const broken = await storeCases()[0]!.open();
    await broken.close();
    const { client } = await temporal();
    const sick = createApp({
      imports: new ImportService({ client, sealer: testSealer, tuning: { pageSize: 1, pagesPerBatch: 1, maxBatchesPerRun: 1 } }),
      store: broken,
      temporal: client,
    });
    const res = await sick.request('/healthz');
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'unavailable', temporal: 'ok', database: 'unavailable' });
  });

  it('publishes its OpenAPI description', async () => {
    const res = await app.request('/openapi.json');
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    assert.ok(doc.paths['/v1/imports']);
    assert.ok(doc.paths['/v1/imports/{importId}']);
  });
});
