/**
 * The import routes of the HTTP contract: start (file imports of uploads included), a second start
 * while one runs, status, pause, resume and cancel, ids never issued, and the 503 and 500 answers
 * when imports fail. Through `app.request()` on fakes (test/support/fake-app.ts); what the
 * Temporal-backed `Imports` does is covered end to end in import-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UPLOAD_DEFAULTS } from '../config/defaults';
import { encodeImportId } from '../workflows/import-id';
import { temporalUnavailableError } from './support/fakes';
import { assertError, contractApp, importView, neverIssued, startBody, TENANT } from './support/fake-app';
import { uniqueId } from './support/harness';

describe('HTTP contract', () => {
  const api = contractApp();
  const { request, startImport } = api;

  describe('imports', () => {
    it("refuses a file import of an upload that is not this user's, this tenant's, or anyone's, before it starts", async () => {
      const userId = uniqueId('filer');
      const bytes = async function* () {
        yield Buffer.from('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n');
      };
      const upload = await api.store.uploads.save(TENANT, userId, bytes(), { maxBytes: 1024, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: async () => 'vcard' });
      const fileBody = (who: string, uploadId: string) =>
        JSON.stringify({ userId: who, source: { provider: 'file', uploadId } });
      for (const [who, uploadId, as] of [
        [uniqueId('someone-else'), upload.uploadId, api.key],
        [userId, upload.uploadId, api.otherKey],
        [userId, 'upl_neverissued', api.key],
      ] as const) {
        const res = await request('POST', '/v1/imports', fileBody(who, uploadId), as);
        assertError(res, 422, 'unknown_upload', /POST \/v1\/uploads/);
      }
      assert.deepEqual(api.imports.calls, [], 'no refused file import reached imports');
      importView(await request('POST', '/v1/imports', fileBody(userId, upload.uploadId)), 202);
    });

    it('answers 202 with the new import and where to find it', async () => {
      const userId = uniqueId('alice');
      const res = await request('POST', '/v1/imports', startBody(userId));
      const view = importView(res, 202);
      assert.equal(res.headers.get('location'), `/v1/imports/${view.importId}`);
      assert.equal(view.userId, userId);
      assert.equal(view.provider, 'google-people');
      assert.equal(view.state, 'running');
      assert.ok(!JSON.stringify(res.body).includes('demo-token'), 'the token never comes back');
      assert.deepEqual(api.imports.calls, [
        { method: 'start', tenant: TENANT, argument: { userId, source: { provider: 'google-people', accessToken: 'demo-token' } } },
      ]);
    });

    it('answers 200 with the same import while one is running for that user, and 202 after it finished', async () => {
      const userId = uniqueId('bob');
      const first = await startImport(userId);

      const again = await request('POST', '/v1/imports', startBody(userId));
      assert.equal(importView(again, 200).importId, first.importId, 'a refresh gets the import already running');
      assert.equal(again.headers.get('location'), `/v1/imports/${first.importId}`);

      const someoneElse = await startImport(uniqueId('carl'));
      assert.notEqual(someoneElse.importId, first.importId, 'another user gets an import of their own');

      api.imports.set(first.importId, { state: 'completed', fetched: 5, saved: 5, pages: 1, total: 5 });
      const second = await startImport(userId);
      assert.notEqual(second.importId, first.importId, 'a finished import does not block a new one');
      const old = importView(await request('GET', `/v1/imports/${first.importId}`), 200);
      assert.equal(old.state, 'completed', 'the earlier import keeps answering');
    });

    it('answers 200 with how far along an import is', async () => {
      const started = await startImport(uniqueId('dora'));
      api.imports.set(started.importId, { fetched: 400, saved: 300, pages: 4, total: 1_500 });
      const res = await request('GET', `/v1/imports/${started.importId}`);
      const view = importView(res, 200);
      assert.deepEqual(
        { state: view.state, fetched: view.fetched, saved: view.saved, pages: view.pages, total: view.total },
        { state: 'running', fetched: 400, saved: 300, pages: 4, total: 1_500 },
      );
      assert.equal(view.completedAt, undefined, 'a running import has no completedAt');
    });

    it('answers 202 to pause, resume and cancel of a running import', async () => {
      const { importId } = await startImport(uniqueId('erin'));
      assert.equal(importView(await request('POST', `/v1/imports/${importId}/pause`), 202).importId, importId);
      assert.equal(importView(await request('GET', `/v1/imports/${importId}`), 200).state, 'paused');
      importView(await request('POST', `/v1/imports/${importId}/resume`), 202);
      assert.equal(importView(await request('GET', `/v1/imports/${importId}`), 200).state, 'running');
      importView(await request('POST', `/v1/imports/${importId}/cancel`), 202);
      assert.equal(importView(await request('GET', `/v1/imports/${importId}`), 200).state, 'cancelled');
    });

    it('answers 409 to pause, resume or cancel of a finished import', async () => {
      for (const state of ['completed', 'failed', 'cancelled'] as const) {
        const { importId } = await startImport(uniqueId(`fred-${state}`));
        api.imports.set(importId, { state });
        for (const action of ['pause', 'resume', 'cancel']) {
          assertError(
            await request('POST', `/v1/imports/${importId}/${action}`),
            409,
            'import_not_running',
            new RegExp(`${action}.*${state}`),
          );
        }
      }
    });

    it('answers 404 to import ids it never issued', async () => {
      const badRunId = encodeImportId({ tenant: TENANT, provider: 'google-people', userId: 'u1', firstRunId: 'not-a-run-id' });
      for (const importId of ['not-an-import', badRunId, neverIssued()]) {
        assertError(await request('GET', `/v1/imports/${importId}`), 404, 'import_not_found');
        for (const action of ['pause', 'resume', 'cancel']) {
          assertError(await request('POST', `/v1/imports/${importId}/${action}`), 404, 'import_not_found');
        }
      }
    });

    it('answers 503 temporal_unavailable while Temporal does not answer', async () => {
      const { importId } = await startImport(uniqueId('gina'));
      api.imports.failure = temporalUnavailableError();
      const res = await request('GET', `/v1/imports/${importId}`);
      assertError(res, 503, 'temporal_unavailable', /try again/);
      assert.ok(Number(res.headers.get('retry-after')) >= 1, 'a 503 says when to try again');
      assertError(await request('POST', '/v1/imports', startBody(uniqueId('gina'))), 503, 'temporal_unavailable');
      api.imports.failure = undefined;
      importView(await request('GET', `/v1/imports/${importId}`), 200);
    });

    it('answers 500 without details to an unexpected error, and logs it', async (t) => {
      const logged = t.mock.method(console, 'error', () => undefined);
      api.imports.failure = new Error('database password is hunter2');
      assertError(await request('GET', `/v1/imports/${neverIssued()}`), 500, 'internal');
      assert.equal(logged.mock.callCount(), 1, 'the error is logged once');
      assert.match(String(logged.mock.calls[0]?.arguments[0]), /hunter2/, 'the log says what went wrong');
    });
  });

});
