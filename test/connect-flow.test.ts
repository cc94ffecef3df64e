/**
 * A connect session followed in headless Chromium against the tests' own authorization server
 * (test/support/oauth-server.ts, which checks PKCE and `state`): the browser ends on the web app's
 * `redirectUrl` with a connection id, the refresh token is kept sealed as that connection, and an
 * import by connection then reads the demo provider's contacts exactly once each. SQLite, and
 * PostgreSQL when `TEST_DATABASE_URL` is set. Screenshots: test/artifacts/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { chromium, type Browser } from 'playwright-core';
import { ConnectionList, ConnectionView, ConnectSettingsView } from '../api/connect/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { expectJson, startApi, type TestApi } from './support/api';
import { connect } from './support/connect';
import { storeCases, testSealer, uniqueId, waitFor } from './support/harness';
import { startOAuthWorker } from './support/oauth';
import { startTestAuthServer, type TestAuthServer } from './support/oauth-server';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, 'artifacts');
const UI_TIMEOUT_MS = 30_000;
const N = 700;
const TENANT = 'connect-flow';

const noChromium = fs.existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM}: install it, or set CHROMIUM_PATH`;

for (const storeCase of storeCases()) {
  describe(`a connect session in the browser on ${storeCase.name}`, { skip: storeCase.skip || noChromium }, () => {
    let provider: DemoProvider;
    let server: TestAuthServer;
    let store: Store;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;
    let browser: Browser;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      server = await startTestAuthServer();
      store = await storeCase.open();
      const taskQueue = uniqueId(`connect-flow-${storeCase.name}`);
      const providers = server.providerSettings(provider.url);
      api = await startApi({ store, taskQueue, tenant: TENANT, connect: { providers } });
      worker = await startOAuthWorker({ store, provider, taskQueue, providers });
      workerRun = worker.run();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'] });
      expectJson(await api.call('PUT', '/v1/connect-settings', { redirectOrigins: [server.url] }), 200, ConnectSettingsView);
    });
    after(async () => {
      await browser?.close();
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api?.close();
      await server?.close();
      await provider?.close();
      await store?.close();
    });

    it('ends on redirectUrl with a connection id; the refresh token is kept sealed as that connection', async () => {
      const userId = uniqueId('ann');
      const redirectUrl = `${server.url}/app/connected`;
      const res = await api.call('POST', '/v1/connect-sessions', { userId, provider: 'google-people', redirectUrl });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      const { connectUrl, expiresAt } = res.json as { connectUrl: string; expiresAt: string };
      assert.ok(connectUrl.startsWith(`${api.url}/connect/`), connectUrl);
      assert.ok(!connectUrl.includes(api.key), 'the connect URL holds no API key');
      const ttl = Date.parse(expiresAt) - Date.now();
      assert.ok(ttl > 9 * 60_000 && ttl <= 10 * 60_000, `sessions last ten minutes (${ttl} ms left)`);

      const page = await browser.newPage();
      try {
        await page.goto(connectUrl);
        await page.waitForURL(`${redirectUrl}**`, { timeout: UI_TIMEOUT_MS });
        await page.locator('#app').waitFor({ timeout: UI_TIMEOUT_MS });
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACTS, `connect-flow-${storeCase.name}.png`), fullPage: true });
        const back = new URL(page.url());
        assert.equal(back.searchParams.get('status'), 'connected');
        const connectionId = back.searchParams.get('connection') ?? '';
        assert.match(connectionId, /^con_[A-Za-z0-9_-]{22}$/);
        assert.deepEqual([...back.searchParams.keys()].sort(), ['connection', 'status'], 'no token or code reaches the app');

        // What the authorization server saw: PKCE S256, a state, Google's offline access, our callback.
        const [seen] = server.authorizations.slice(-1);
        assert.ok(seen);
        assert.equal(seen.params.code_challenge_method, 'S256');
        assert.match(seen.codeChallenge, /^[A-Za-z0-9_-]{43}$/);
        assert.match(seen.state, /^cs_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
        assert.equal(seen.redirectUri, `${api.url}/connect/callback`);
        assert.equal(seen.scope, 'https://www.googleapis.com/auth/contacts.readonly');
        assert.equal(seen.params.access_type, 'offline');
        assert.equal(seen.params.prompt, 'consent');
        assert.equal(server.exchanges.redeemed, 1, 'the code was traded once, with the verifier of its challenge');

        // Kept sealed, as the user's connection; the session took it and is over.
        const kept = await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' });
        assert.equal(kept?.connectionId, connectionId);
        assert.equal(kept.status, 'connected');
        assert.equal(testSealer.open(kept.sealedSecret ?? ''), server.issued.refreshTokens.at(-1));
        assert.ok(kept.sealedAccessToken, 'the access token that came with it is kept too, sealed');
        const session = await store.connectSessions.get(seen.state.split('.')[0] ?? '');
        assert.equal(session?.outcome, 'connected');
        assert.equal(session.stateHash, createHash('sha256').update(seen.state).digest('hex'), 'the state is kept as its hash only');
        assert.ok(!JSON.stringify(session).includes(seen.state), 'never in clear');

        const view = expectJson(await api.call('GET', `/v1/connections/${connectionId}`), 200, ConnectionView);
        assert.deepEqual(
          { userId: view.userId, provider: view.provider, status: view.status, scopes: view.scopes },
          { userId, provider: 'google-people', status: 'connected', scopes: ['https://www.googleapis.com/auth/contacts.readonly'] },
        );
        const listed = expectJson(await api.call('GET', `/v1/users/${userId}/connections`), 200, ConnectionList);
        assert.deepEqual(listed.items, [view]);
        assert.ok(!JSON.stringify(listed).includes(server.issued.refreshTokens.at(-1) ?? '-'), 'no secret in an answer');
      } finally {
        await page.close();
      }
    });

    it('imports by connection: exactly N contacts, each page read once, none doubled', async () => {
      const userId = uniqueId('ben');
      const { connectionId } = await connect(api, userId, `${server.url}/app/connected`);
      provider.resetStats();
      const { json: started } = await api.startImport({ userId, source: { connection: connectionId } }, 202);
      assert.equal(started.provider, 'google-people', 'the provider is the connection’s');
      const done = await waitFor(async () => {
        const status = await api.getImport(started.importId);
        return status.state === 'completed' && status;
      }, 'the import by connection to complete');
      assert.equal(done.saved, N);
      assert.equal(await store.tenant(TENANT).countContacts(userId), N, 'exactly N contacts: none doubled');
      for (const [offset, times] of provider.stats.pageTokensServed) assert.equal(times, 1, `the page at ${offset} was read ${times} times`);
      assert.equal(server.exchanges.refreshed, 0, 'the access token the code exchange gave served the whole import');

      // A connection is the user's own: another user's import may not name it.
      const other = await api.call('POST', '/v1/imports', { userId: uniqueId('cat'), source: { connection: connectionId } });
      assert.equal(other.status, 422);
      assert.equal((other.json as { error: { code: string } }).error.code, 'unknown_connection');
      const mismatch = await api.call('POST', '/v1/imports', { userId, source: { connection: connectionId, provider: 'carddav' } });
      assert.equal((mismatch.json as { error: { code: string } }).error.code, 'provider_mismatch');
    });
  });
}
