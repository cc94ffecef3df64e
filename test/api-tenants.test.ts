/**
 * Tenants in the HTTP contract: the tenant comes from the key, never from the request, and one
 * tenant learns nothing of another's imports or contacts. Through `app.request()` on fakes
 * (test/support/fake-app.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProviderId } from '../providers';
import { decodeImportId } from '../workflows/import-id';
import { temporalUnavailableError } from './support/fakes';
import {
  assertError,
  contractApp,
  importView,
  neverIssued,
  OTHER_TENANT,
  send,
  startBody,
  TENANT,
} from './support/fake-app';
import { uniqueId } from './support/harness';

describe('HTTP contract', () => {
  const api = contractApp();
  const { request, startImport } = api;

  describe('tenants', () => {
    it("answers 404 to another tenant's import id, exactly as to one never issued", async () => {
      const { importId } = await startImport(uniqueId('hana'));
      const unknown = neverIssued(OTHER_TENANT);
      const answers = async (id: string) => [
        await request('GET', `/v1/imports/${id}`, undefined, api.otherKey),
        ...(await Promise.all(
          ['pause', 'resume', 'cancel'].map((action) => request('POST', `/v1/imports/${id}/${action}`, undefined, api.otherKey)),
        )),
      ];
      const [theirs, never] = [await answers(importId), await answers(unknown)];
      for (const [i, res] of theirs.entries()) {
        assertError(res, 404, 'import_not_found');
        const other = never[i]!;
        assert.deepEqual(
          JSON.stringify(res.body).replaceAll(importId, '<id>'),
          JSON.stringify(other.body).replaceAll(unknown, '<id>'),
          'the same answer as for an id never issued',
        );
        // Every answer gets a fresh X-Request-Id: a difference that tells nothing.
        const alike = ([name]: [string, string]) => name !== 'content-length' && name !== 'x-request-id';
        assert.deepEqual([...res.headers.entries()].filter(alike), [...other.headers.entries()].filter(alike), 'with the same headers');
      }
      const mine = importView(await request('GET', `/v1/imports/${importId}`), 200);
      assert.equal(mine.state, 'running', "the other tenant's pause and cancel changed nothing");
    });

    it('gives the same user id in two tenants two separate imports', async () => {
      const userId = uniqueId('same');
      const ours = await startImport(userId, api.key);
      const theirs = await startImport(userId, api.otherKey);
      assert.notEqual(theirs.importId, ours.importId, 'a new import, not the other tenant\'s running one');
      assert.notEqual(theirs.workflowId, ours.workflowId);
      assert.equal(decodeImportId(ours.importId, isProviderId)?.tenant, TENANT);
      assert.equal(decodeImportId(theirs.importId, isProviderId)?.tenant, OTHER_TENANT);
      assert.deepEqual(
        api.imports.calls.map(({ method, tenant }) => `${method} ${tenant}`),
        [`start ${TENANT}`, `start ${OTHER_TENANT}`],
        'each start acts for the tenant of its key',
      );
    });

    it("lists only the caller's tenant's contacts", async () => {
      const userId = uniqueId('ivy');
      await api.store.tenant(TENANT).upsertContacts(userId, 'google-people', [
        { externalId: 'people/c1', etag: 'e1', displayName: 'Ada', email: 'ada@example.com', phone: null, organization: null, raw: {} },
      ]);
      const ours = await request('GET', `/v1/users/${userId}/contacts`);
      assert.equal(ours.status, 200);
      assert.deepEqual(
        (ours.body as { items: Array<{ displayName: string }> }).items.map((item) => item.displayName),
        ['Ada'],
      );
      const theirs = await request('GET', `/v1/users/${userId}/contacts`, undefined, api.otherKey);
      assert.deepEqual({ status: theirs.status, body: theirs.body }, { status: 200, body: { items: [], nextCursor: null } });
    });

    it('takes the tenant from the key, never from the request', async () => {
      const userId = uniqueId('jay');
      const withTenant = JSON.stringify({ userId, tenant: OTHER_TENANT, source: { provider: 'google-people', accessToken: 't' } });
      assertError(await request('POST', '/v1/imports', withTenant), 422, 'validation_failed', /tenant/);
      assertError(await request('GET', `/v1/users/${userId}/contacts?tenant=${OTHER_TENANT}`), 422, 'validation_failed', /tenant/);
      const res = await send(api.app, 'POST', '/v1/imports', {
        body: startBody(userId),
        authorization: `Bearer ${api.key}`,
      });
      assert.equal(decodeImportId(importView(res, 202).importId, isProviderId)?.tenant, TENANT);
    });

    it("gives no partial count for another tenant's import while Temporal does not answer", async () => {
      const userId = uniqueId('kim');
      const { importId } = await startImport(userId);
      await api.store.tenant(TENANT).upsertContacts(userId, 'google-people', [
        { externalId: 'people/c1', etag: 'e1', displayName: null, email: null, phone: null, organization: null, raw: {} },
        { externalId: 'people/c2', etag: 'e2', displayName: null, email: null, phone: null, organization: null, raw: {} },
      ]);
      api.imports.failure = temporalUnavailableError();
      const ours = await request('GET', `/v1/imports/${importId}`);
      assertError(ours, 503, 'temporal_unavailable');
      assert.deepEqual((ours.body as { partial?: unknown }).partial, { saved: 2 }, 'the owner learns what the store knows');
      const theirs = await request('GET', `/v1/imports/${importId}`, undefined, api.otherKey);
      assertError(theirs, 503, 'temporal_unavailable');
      assert.equal((theirs.body as { partial?: unknown }).partial, undefined, 'another tenant learns nothing about it');
    });
  });

});
