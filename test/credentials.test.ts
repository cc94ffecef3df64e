/**
 * Credentials that last: a Google source with a refresh token. The demo provider's token endpoint
 * issues access tokens that expire and answers 401 for them; the import refreshes on a 401 (once)
 * and before a token it knows has expired, keeps what it got sealed in the store, and nothing of it
 * reaches workflow history or the logs. SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config';
import { DEFAULT_REAUTH_TIMEOUT_SECONDS } from '../config/defaults';
import { readProviderSettings } from '../providers';
import { DEFAULT_GOOGLE_TOKEN_URL } from '../providers/google-people/settings';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { startApi, type ImportView, type TestApi } from './support/api';
import { storeCases, testSealer, uniqueId, waitFor } from './support/harness';
import { captureOutput, importHistory, startOAuthWorker } from './support/oauth';

const N = 1_000;
const PAGES = 10;
const TENANT = 'creds';

describe('credentials configuration', () => {
  it('reads the OAuth client and the re-auth window, with Google and 7 days as defaults', () => {
    const defaults = loadConfig({});
    assert.deepEqual(readProviderSettings({})['google-people'].oauth, { clientId: undefined, clientSecret: undefined, tokenUrl: DEFAULT_GOOGLE_TOKEN_URL });
    assert.equal(defaults.importDefaults.reauthTimeoutSeconds, DEFAULT_REAUTH_TIMEOUT_SECONDS);
    assert.equal(DEFAULT_REAUTH_TIMEOUT_SECONDS, 7 * 86_400);
    const env = { GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 'secret', GOOGLE_TOKEN_URL: 'http://127.0.0.1:8090/token' };
    const set = loadConfig({ ...env, REAUTH_TIMEOUT: '12h' });
    assert.deepEqual(readProviderSettings(env)['google-people'].oauth, { clientId: 'id', clientSecret: 'secret', tokenUrl: 'http://127.0.0.1:8090/token' });
    assert.equal(set.importDefaults.reauthTimeoutSeconds, 12 * 3600);
    assert.equal(loadConfig({ REAUTH_TIMEOUT: '90' }).importDefaults.reauthTimeoutSeconds, 90);
    assert.equal(loadConfig({ REAUTH_TIMEOUT: '0' }).importDefaults.reauthTimeoutSeconds, 0);
  });

  it('refuses a client id without its secret, a token URL that is not http(s), and a window it cannot read', () => {
    assert.throws(() => readProviderSettings({ GOOGLE_CLIENT_ID: 'id' }), (err: unknown) => err instanceof ConfigError && /GOOGLE_CLIENT_SECRET/.test(err.message));
    assert.throws(() => readProviderSettings({ GOOGLE_TOKEN_URL: 'ftp://x/token' }), /GOOGLE_TOKEN_URL must be an http/);
    assert.throws(() => loadConfig({ REAUTH_TIMEOUT: 'a week' }), /REAUTH_TIMEOUT must be a duration such as 7d/);
    assert.throws(() => loadConfig({ REAUTH_TIMEOUT: '400d' }), /at most 365 days/);
  });
});

for (const storeCase of storeCases()) {
  describe(`refresh tokens on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      store = await storeCase.open();
      const taskQueue = uniqueId(`creds-${storeCase.name}`);
      api = await startApi({ store, taskQueue, tenant: TENANT, tuning: { pageSize: 100, pagesPerBatch: 2, reauthTimeoutSeconds: 3600 } });
      worker = await startOAuthWorker({ store, provider, taskQueue });
      workerRun = worker.run();
    });
    beforeEach(() => {
      provider.configure({ faults: {} });
      provider.oauth.configure({ accessTokenTtlSeconds: 3600, revokedRefreshTokens: [] });
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

    const finished = (importId: string, state: ImportView['state'] = 'completed') =>
      waitFor(async () => {
        const status = await api.getImport(importId);
        return status.state === state && status;
      }, `import ${state}`);

    /** Each page of the listing was served exactly once: nothing was fetched twice, nothing skipped. */
    function assertEveryPageOnce(): void {
      assert.equal(provider.stats.pageTokensServed.size, PAGES, `pages served: ${[...provider.stats.pageTokensServed.keys()].join(', ')}`);
      for (const [offset, times] of provider.stats.pageTokensServed) assert.equal(times, 1, `the page at ${offset} was served ${times} times`);
    }

    it('refreshes an access token the provider answers 401, once, and sends the request again', async () => {
      const userId = uniqueId('alice');
      const secrets = { accessToken: uniqueId('stale-access'), refreshToken: uniqueId('refresh') };
      provider.configure({ faults: { revokedTokens: [secrets.accessToken] } });
      const output = captureOutput();
      let done: ImportView;
      let started: ImportView;
      try {
        ({ json: started } = await api.startImport({ userId, source: { provider: 'google-people', ...secrets } }, 202));
        done = await finished(started.importId);
      } finally {
        output.stop();
      }
      assert.equal(done.saved, N);
      assert.equal(await store.tenant(TENANT).countContacts(userId), N, 'exactly N contacts');
      assert.equal(provider.oauth.stats.tokenRequests, 1, 'one refresh: every later batch reuses the stored access token');
      assert.equal(provider.oauth.stats.expiredTokenRejections, 0);
      assertEveryPageOnce();

      // Kept sealed in the store: the refresh token as given, the access token the refresh gave.
      const row = await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' });
      assert.ok(row?.sealedSecret && row.sealedAccessToken, 'both tokens are stored');
      assert.equal(testSealer.open(row.sealedSecret), secrets.refreshToken);
      const issued = testSealer.open(row.sealedAccessToken);
      assert.match(issued, /^demo-at\./, 'the stored access token is the one the refresh gave');
      assert.ok(!JSON.stringify(row).includes(secrets.refreshToken) && !JSON.stringify(row).includes(issued), 'the store holds them sealed only');

      // Neither the history (raw or decoded through the codec) nor the logs hold any of the tokens.
      const history = await importHistory(started.workflowId, started.runId);
      assert.match(history.decoded, /sealedCredentials/, 'the codec decrypts the input');
      for (const token of [secrets.accessToken, secrets.refreshToken, issued]) {
        assert.ok(!history.raw.includes(token), 'the raw history holds no token');
        assert.ok(!history.decoded.includes(token), 'the decoded history holds no token: the input carries it sealed, or only a note');
        assert.ok(!output.text().includes(token), 'no token is logged');
      }
    });

    it('refreshes an access token it knows has expired before using it: no request is refused', async () => {
      const userId = uniqueId('bob');
      const refreshToken = uniqueId('refresh');
      // The first token lives 10 s; the first page waits (after its token was checked) until it expired.
      provider.oauth.configure({ accessTokenTtlSeconds: 10 });
      provider.configure({ faults: { holdFromOffset: 0 } });
      const { json: started } = await api.startImport({ userId, source: { provider: 'google-people', refreshToken } }, 202);
      await waitFor(() => provider.stats.requests === 1, 'the first page request to arrive');
      assert.equal(provider.oauth.stats.tokenRequests, 1, 'a source with only a refresh token refreshes first');
      const row = await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' });
      assert.ok(row?.accessExpiresAt, 'the expiry is stored with the access token');
      const expiresAt = Date.parse(row.accessExpiresAt);
      await waitFor(() => Date.now() > expiresAt + 100, 'the first access token to expire', 30_000);

      provider.oauth.configure({ accessTokenTtlSeconds: 3600 });
      provider.configure({ faults: {} });
      const done = await finished(started.importId);
      assert.equal(done.saved, N);
      assert.equal(provider.oauth.stats.tokenRequests, 2, 'one refresh at the start, one when the token had expired');
      assert.equal(provider.oauth.stats.expiredTokenRejections, 0, 'the expired token was never sent');
      assertEveryPageOnce();
      assert.equal(await store.tenant(TENANT).countContacts(userId), N);
    });

    it('keeps plain access tokens as they were: no refresh, no stored credentials', async () => {
      const userId = uniqueId('carol');
      const { json: started } = await api.startImport({ userId, source: { provider: 'google-people', accessToken: 'plain-token' } }, 202);
      assert.equal((await finished(started.importId)).saved, N);
      assert.equal(provider.oauth.stats.tokenRequests, 0);
      assert.equal(await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' }), null);
    });

    it('refuses a Google source with neither token (422)', async () => {
      const res = await api.call('POST', '/v1/imports', { userId: uniqueId('dave'), source: { provider: 'google-people' } });
      assert.equal(res.status, 422, JSON.stringify(res.json));
      assert.match(JSON.stringify(res.json), /accessToken, a refreshToken, or both/);
    });
  });
}
