/**
 * Connections that last, and end: an import by connection whose refresh token the provider refuses
 * marks the connection `needs_reauth` and tells the tenant's webhook `connection.needs_reauth`; a
 * new connect session for the same user and provider repairs it and the waiting import resumes
 * where it stopped. Deleting a connection revokes it at the tests' authorization server and stops
 * the user's schedule of its provider; erasing the user revokes and deletes their connections.
 * SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { ConnectionView, DisconnectedView } from '../api/connect/schemas';
import { SyncList } from '../api/hooks/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { verifyWebhook, WEBHOOK_HEADERS } from '../encryption/webhook-signature';
import { eraseWorkflowId } from '../workflows/contract';
import { expectJson, startApi, type ImportView, type TestApi } from './support/api';
import { connect } from './support/connect';
import { storeCases, temporal, uniqueId, waitFor } from './support/harness';
import { startOAuthWorker } from './support/oauth';
import { startTestAuthServer, type TestAuthServer } from './support/oauth-server';

const N = 1_000;
const TENANT = 'connections';

/** A webhook receiver that accepts every event and keeps it. */
async function startReceiver() {
  const received: Array<{ body: string; signature: string; json: Record<string, unknown> }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ body, signature: String(req.headers[WEBHOOK_HEADERS.signature.toLowerCase()] ?? ''), json: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

for (const storeCase of storeCases()) {
  describe(`connections on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let server: TestAuthServer;
    let store: Store;
    let api: TestApi;
    let worker: Worker;
    let workerRun: Promise<void>;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let webhookSecret: string;
    let redirectUrl: string;

    before(async () => {
      provider = await startDemoProvider({ contacts: N });
      server = await startTestAuthServer();
      receiver = await startReceiver();
      store = await storeCase.open();
      const taskQueue = uniqueId(`connections-${storeCase.name}`);
      const providers = server.providerSettings(provider.url);
      api = await startApi({
        store,
        taskQueue,
        tenant: TENANT,
        connect: { providers },
        tuning: { reauthTimeoutSeconds: 3600 },
        imports: { webhookRetryInitialMs: 200 },
      });
      worker = await startOAuthWorker({ store, provider, taskQueue, providers });
      workerRun = worker.run();
      redirectUrl = `${server.url}/app/done`;
      assert.equal((await api.call('PUT', '/v1/connect-settings', { redirectOrigins: [server.url] })).status, 200);
      const hook = await api.call('PUT', '/v1/webhook', { url: receiver.url });
      webhookSecret = (hook.json as { secret: string }).secret;
    });
    beforeEach(() => {
      provider.configure({ faults: {} });
      server.configure({ refuseRefresh: false, deny: false });
      provider.resetStats();
    });
    after(async () => {
      provider?.configure({ faults: {} });
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api?.close();
      await receiver?.close();
      await server?.close();
      await provider?.close();
      await store?.close();
    });

    const reached = (importId: string, state: ImportView['state']) =>
      waitFor(async () => {
        const status = await api.getImport(importId);
        return status.state === state && status;
      }, `import ${state}`);
    const connection = async (connectionId: string) => expectJson(await api.call('GET', `/v1/connections/${connectionId}`), 200, ConnectionView);

    it('a refused refresh token marks the connection needs_reauth and tells the webhook; a new session repairs it and the import resumes: exactly N', async () => {
      const userId = uniqueId('ann');
      const { connectionId } = await connect(api, userId, redirectUrl);
      const firstAccessToken = server.issued.accessTokens.at(-1) ?? '';
      provider.configure({ faults: { holdFromOffset: 400 } });
      const { json: started } = await api.startImport({ userId, source: { connection: connectionId } }, 202);
      await waitFor(() => provider.stats.requests === 5 && provider.stats.pagesServed === 4, 'the fifth page request to be held');
      // The user withdraws access: the access token stops working, and the refresh token is refused.
      server.configure({ refuseRefresh: true });
      provider.configure({ faults: { revokedTokens: [firstAccessToken] } });

      const waiting = await reached(started.importId, 'needs_reauth');
      assert.equal(waiting.saved, 500, 'the page let in before the refusal is saved, and kept');
      assert.equal((await connection(connectionId)).status, 'needs_reauth');
      const event = await waitFor(() => receiver.received.find((r) => r.json.type === 'connection.needs_reauth'), 'the connection event');
      assert.deepEqual(
        { connectionId: event.json.connectionId, userId: event.json.userId, provider: event.json.provider, status: event.json.status },
        { connectionId, userId, provider: 'google-people', status: 'needs_reauth' },
      );
      assert.ok(verifyWebhook(webhookSecret, event.signature, event.body), "signed with the tenant's secret");
      assert.ok(!event.body.includes(firstAccessToken) && !event.body.includes(server.issued.refreshTokens.at(-1) ?? '-'), 'no token in the event');
      const refused = await api.call('POST', '/v1/imports', { userId: uniqueId('other'), source: { connection: connectionId } });
      assert.equal(refused.status, 422, 'another user may never name it');

      // The user connects again: the same connection, repaired; the waiting import resumes from its checkpoint.
      server.configure({ refuseRefresh: false });
      const again = await connect(api, userId, redirectUrl);
      assert.equal(again.connectionId, connectionId, 'a reconnect repairs the connection, it does not make another');
      assert.equal((await connection(connectionId)).status, 'connected');
      const done = await reached(started.importId, 'completed');
      assert.equal(done.saved, N);
      assert.equal(await store.tenant(TENANT).countContacts(userId), N, 'exactly N contacts');
      for (const [offset, times] of provider.stats.pageTokensServed) assert.equal(times, 1, `the page at ${offset} was read ${times} times`);
      assert.equal(receiver.received.filter((r) => r.json.type === 'connection.needs_reauth' && r.json.connectionId === connectionId).length, 1, 'told once');
    });

    it('deleting a connection revokes it at the provider and stops the schedule of its provider', async () => {
      const userId = uniqueId('ben');
      const { connectionId } = await connect(api, userId, redirectUrl);
      const refreshToken = server.issued.refreshTokens.at(-1) ?? '';
      const put = await api.call('PUT', `/v1/users/${userId}/sync`, { every: '1h', source: { connection: connectionId } });
      assert.equal(put.status, 201, JSON.stringify(put.json));
      assert.equal(expectJson(await api.call('GET', `/v1/users/${userId}/sync`), 200, SyncList).items.length, 1);

      const gone = expectJson(await api.call('DELETE', `/v1/connections/${connectionId}`), 200, DisconnectedView);
      assert.equal(gone.status, 'revoked');
      assert.equal(gone.revocation, 'revoked');
      assert.deepEqual(gone.stoppedSchedules, ['google-people']);
      assert.deepEqual(server.revoked, [refreshToken], 'the refresh token was revoked at the provider');
      assert.deepEqual(expectJson(await api.call('GET', `/v1/users/${userId}/sync`), 200, SyncList).items, [], 'its schedule is gone');
      const kept = await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' });
      assert.deepEqual([kept?.status, kept?.sealedSecret, kept?.sealedAccessToken], ['revoked', null, null], 'the secret is deleted');

      const repeated = expectJson(await api.call('DELETE', `/v1/connections/${connectionId}`), 200, DisconnectedView);
      assert.equal(repeated.revocation, 'already_revoked', 'repeating it is harmless');
      assert.equal(server.revoked.length, 1);
      const refused = await api.call('POST', '/v1/imports', { userId, source: { connection: connectionId } });
      assert.equal(refused.status, 409);
      assert.equal((await api.call('GET', '/v1/connections/con_AAAAAAAAAAAAAAAAAAAAAA')).status, 404);

      // Connecting again makes a new connection: a revoked one stays revoked.
      const again = await connect(api, userId, redirectUrl);
      assert.notEqual(again.connectionId, connectionId);
    });

    it("erasing a user revokes and deletes the user's connections", async () => {
      const userId = uniqueId('cat');
      await connect(api, userId, redirectUrl);
      const refreshToken = server.issued.refreshTokens.at(-1) ?? '';
      assert.equal((await api.call('DELETE', `/v1/users/${userId}`)).status, 202);
      const { client } = await temporal();
      await client.workflow.getHandle(eraseWorkflowId({ tenant: TENANT, userId })).result();
      assert.ok(server.revoked.includes(refreshToken), 'revoked at the provider');
      assert.equal(await store.connections.get({ tenant: TENANT, userId, provider: 'google-people' }), null);
      assert.deepEqual((await api.call('GET', `/v1/users/${userId}/connections`)).json, { items: [] });
    });
  });
}
