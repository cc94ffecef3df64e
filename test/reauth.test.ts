/**
 * Re-auth instead of failure: an import whose credentials the provider rejects for good (a 401 with
 * no refresh token, or a refresh token answered `invalid_grant`) waits in `needs_reauth`, holding
 * its checkpoint and no worker slot, until `POST /v1/imports/{importId}/credentials` resumes it
 * where it stopped, or its re-auth window ends. SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { eraseWorkflowId, FAILURE_TYPES } from '../workflows/contract';
import { expectError, expectImport, startApi, type ImportView, type TestApi } from './support/api';
import { storeCases, temporal, testSealer, uniqueId, waitFor } from './support/harness';
import { startOAuthWorker } from './support/oauth';

const N = 1_000;
const PAGES = 10;
const TENANT = 'reauth';
const TUNING = { pageSize: 100, pagesPerBatch: 2, reauthTimeoutSeconds: 3600 };

for (const storeCase of storeCases()) {
  describe(`re-auth on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let api: TestApi;
    let taskQueue: string;
    let worker: Worker;
    let workerRun: Promise<void>;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      store = await storeCase.open();
      taskQueue = uniqueId(`reauth-${storeCase.name}`);
      api = await startApi({ store, taskQueue, tenant: TENANT, tuning: TUNING });
      worker = await startOAuthWorker({ store, provider, taskQueue });
      workerRun = worker.run();
    });
    beforeEach(() => {
      provider.configure({ faults: {} });
      provider.oauth.configure({ revokedRefreshTokens: [] });
      provider.resetStats();
      provider.oauth.resetStats();
    });
    after(async () => {
      provider.configure({ faults: {} });
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api.close();
      await provider.close();
      await store.close();
    });

    const reached = (importId: string, state: ImportView['state'], on: TestApi = api) =>
      waitFor(async () => {
        const status = await on.getImport(importId);
        return status.state === state && status;
      }, `import ${state}`);
    const renew = (importId: string, source: object, on: TestApi = api) => on.call('POST', `/v1/imports/${importId}/credentials`, { source });

    /** Whether the import's current run has a batch scheduled or running (it holds a worker slot). */
    async function pendingBatches(workflowId: string): Promise<number> {
      const { client } = await temporal();
      return (await client.workflow.getHandle(workflowId).describe()).raw.pendingActivities?.length ?? 0;
    }

    it('waits in needs_reauth when the refresh token is refused, then resumes where it stopped with new credentials: exactly N', async () => {
      const userId = uniqueId('alice');
      provider.configure({ faults: { holdFromOffset: 500 } });
      const { json: started } = await api.startImport(
        { userId, source: { provider: 'google-people', accessToken: 'at-1', refreshToken: 'rt-1' } },
        202,
      );
      await waitFor(() => provider.stats.requests === 6 && provider.stats.pagesServed === 5, 'the sixth page request to be held');
      // The user revokes access: the held page (already let in) is saved, the next is refused.
      provider.oauth.configure({ revokedRefreshTokens: ['rt-1'] });
      provider.configure({ faults: { revokedTokens: ['at-1'] } });

      const waiting = await reached(started.importId, 'needs_reauth');
      assert.equal(waiting.saved, 600, 'it keeps every page saved before the refusal');
      assert.equal(waiting.pages, 6);
      assert.equal(waiting.errorType, FAILURE_TYPES.providerUnauthenticated, 'a program can tell why');
      assert.match(waiting.error ?? '', /invalid_grant/, 'the status says why, in words');
      assert.match(waiting.error ?? '', /reconnect/);
      assert.ok(waiting.reauthBy, 'and by when new credentials must come');
      const window = Date.parse(waiting.reauthBy) - Date.now();
      assert.ok(window > 3500_000 && window <= 3600_000, `the re-auth window is REAUTH_TIMEOUT long (${window} ms left)`);
      assert.equal(await pendingBatches(started.workflowId), 0, 'waiting holds no worker slot: no batch is scheduled');
      assert.equal(provider.oauth.stats.tokenRequests, 1, 'one refresh was tried, and refused');

      const res = await renew(started.importId, { provider: 'google-people', accessToken: 'at-2', refreshToken: 'rt-2' });
      const resumed = expectImport(res, 202);
      assert.notEqual(resumed.state, 'needs_reauth');
      assert.ok(!JSON.stringify(res.json).includes('at-2') && !JSON.stringify(res.json).includes('rt-2'), 'no token comes back');
      const done = await reached(started.importId, 'completed');
      assert.equal(done.saved, N);
      assert.equal(done.error, undefined, 'the reason is gone once it runs again');
      assert.equal(await store.tenant(TENANT).countContacts(userId), N, 'exactly N contacts: no duplicates');
      assert.equal(provider.stats.pageTokensServed.size, PAGES);
      for (const [offset, times] of provider.stats.pageTokensServed) {
        assert.equal(times, 1, `resumed from its checkpoint: the page at ${offset} was served ${times} times`);
      }
      const row = await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' });
      assert.equal(testSealer.open(row?.sealedSecret ?? ''), 'rt-2', 'the new refresh token replaced the refused one');
      assert.equal(await pendingBatches(started.workflowId).catch(() => 0), 0);
    });

    it('waits in needs_reauth on a 401 with no refresh token, and a new access token resumes it', async () => {
      const userId = uniqueId('bob');
      provider.configure({ faults: { revokedTokens: ['revoked-plain'] } });
      const { json: started } = await api.startImport({ userId, source: { provider: 'google-people', accessToken: 'revoked-plain' } }, 202);
      const waiting = await reached(started.importId, 'needs_reauth');
      assert.equal(waiting.saved, 0);
      assert.match(waiting.error ?? '', /401/);
      assert.doesNotMatch(waiting.error ?? '', /revoked-plain/, 'the token is not echoed');

      expectError(await renew(started.importId, { provider: 'carddav', url: 'https://dav.example.com/', username: 'u', password: 'p' }), 422, 'provider_mismatch');
      expectError(await renew(started.importId, { provider: 'google-people' }), 422, 'validation_failed');
      // A few KiB of token: more than pause/resume/cancel take (1 KiB), well within a credentials body.
      expectImport(await renew(started.importId, { provider: 'google-people', accessToken: `fresh-${'x'.repeat(3000)}` }), 202);
      assert.equal((await reached(started.importId, 'completed')).saved, N);
      assert.equal(provider.oauth.stats.tokenRequests, 0, 'no refresh token, no refresh');
      expectError(await renew(started.importId, { provider: 'google-people', accessToken: 'late' }), 409, 'import_not_waiting');
    });

    it('answers 409 to new credentials for an import that is not waiting for them', async () => {
      const userId = uniqueId('carol');
      provider.configure({ faults: { holdFromOffset: 200 } });
      const { json: started } = await api.startImport({ userId, source: { provider: 'google-people', accessToken: 'fine' } }, 202);
      await waitFor(async () => (await api.getImport(started.importId)).saved === 200, 'the first batch');
      const refused = expectError(await renew(started.importId, { provider: 'google-people', accessToken: 'other' }), 409, 'import_not_waiting');
      assert.match(refused.message, /running/);
      provider.configure({ faults: {} });
      assert.equal((await reached(started.importId, 'completed')).saved, N);
    });

    it('fails with a readable reason when nobody reconnects within REAUTH_TIMEOUT', async () => {
      const userId = uniqueId('dave');
      const shortWindow = await startApi({ store, taskQueue, tenant: TENANT, tuning: { ...TUNING, reauthTimeoutSeconds: 2 } });
      try {
        provider.configure({ faults: { revokedTokens: ['soon-revoked'] } });
        const { json: started } = await shortWindow.startImport({ userId, source: { provider: 'google-people', accessToken: 'soon-revoked' } }, 202);
        await reached(started.importId, 'needs_reauth', shortWindow);
        const failed = await reached(started.importId, 'failed', shortWindow);
        assert.equal(failed.errorType, FAILURE_TYPES.reauthTimedOut);
        assert.match(failed.error ?? '', /did not reconnect within 2 seconds/);
        assert.match(failed.error ?? '', /401/, 'and says what it was waiting for');
        expectError(await renew(started.importId, { provider: 'google-people', accessToken: 'too-late' }, shortWindow), 409, 'import_not_waiting');
      } finally {
        await shortWindow.close();
      }
    });

    it('erasing a user cancels an import waiting for credentials and deletes the stored refresh token', async () => {
      const userId = uniqueId('erin');
      provider.oauth.configure({ revokedRefreshTokens: ['rt-erin'] });
      const { json: started } = await api.startImport({ userId, source: { provider: 'google-people', refreshToken: 'rt-erin' } }, 202);
      await reached(started.importId, 'needs_reauth');
      const key = { tenant: TENANT, userId, provider: 'google-people' };
      assert.ok(await store.connections.get(key), 'the refresh token is stored');

      assert.equal((await api.call('DELETE', `/v1/users/${userId}`)).status, 202);
      const { client } = await temporal();
      await client.workflow.getHandle(eraseWorkflowId({ tenant: TENANT, userId })).result();
      await reached(started.importId, 'cancelled');
      // What the workflow itself last said (its memo; the webhook event is built from the same status).
      const { memo } = await client.workflow.getHandle(started.workflowId).describe();
      const progress = (memo?.progress ?? {}) as Record<string, unknown>;
      assert.equal(progress.state, 'cancelled');
      assert.deepEqual(
        [progress.error, progress.errorType, progress.reauthBy],
        [undefined, undefined, undefined],
        'a cancelled import no longer says it waits for credentials',
      );
      assert.equal(await store.connections.get(key), null, 'erasure deletes the stored credentials');
    });
  });
}
