/**
 * Webhooks: a tenant sets its URL and gets its secret once (`PUT /v1/webhook`); an import's end
 * (`completed`, `cancelled`, `failed`) reaches a local receiver that refuses the first deliveries,
 * every event once per `eventId`, signed so that the tenant's secret verifies it and no other does.
 * A real worker on the run's dev server, the demo provider, the API through `app.request()`, on
 * SQLite and on PostgreSQL (the secret is in the store).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { createWebhookActivities } from '../activities/webhooks';
import { signWebhook, verifyWebhook, WEBHOOK_HEADERS } from '../encryption/webhook-signature';
import type { createApp } from '../api/app';
import { WebhookView } from '../api/hooks/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { deliverWebhookWorkflowId, type WebhookEvent } from '../workflows/hooks-contract';
import { createTestApp, expectError, expectImport, expectJson, type ApiResponse, type ImportView } from './support/api';
import { startWorker, storeCases, temporal, testSealer, uniqueId, waitFor } from './support/harness';

const CONTACTS = 250;
const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;
/** Refusals every event gets before the receiver accepts it. */
const REFUSALS = 2;

interface Delivery {
  path: string;
  body: string;
  signature: string | undefined;
  eventId: string | undefined;
  status: number;
}

/**
 * A local webhook receiver: answers 503 to the first {@link REFUSALS} deliveries of each event (and
 * to every delivery while `hold` says so), 204 after that. It records every delivery.
 */
async function startReceiver() {
  const deliveries: Delivery[] = [];
  let hold: (eventId: string) => boolean = () => false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const eventId = req.headers[WEBHOOK_HEADERS.eventId.toLowerCase()] as string | undefined;
      const seen = deliveries.filter((d) => d.eventId === eventId).length;
      const status = seen < REFUSALS || hold(eventId ?? '') ? 503 : 204;
      deliveries.push({
        path: req.url ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
        signature: req.headers[WEBHOOK_HEADERS.signature.toLowerCase()] as string | undefined,
        eventId,
        status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deliveries,
    holdWhile(check: (eventId: string) => boolean) {
      hold = check;
    },
    /** The accepted deliveries, parsed. */
    accepted: () => deliveries.filter((d) => d.status === 204).map((d) => ({ ...d, json: JSON.parse(d.body) as Record<string, unknown> })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('webhook signatures', () => {
  const secret = 'whsec_test';
  const body = '{"eventId":"evt_1"}';
  const now = 1_800_000_000;
  const header = signWebhook(secret, now, body);

  it('verify with the secret they were made with, and with no other', () => {
    assert.match(header, /^t=1800000000,v1=[0-9a-f]{64}$/);
    assert.equal(verifyWebhook(secret, header, body, { now }), true);
    assert.equal(verifyWebhook('whsec_other', header, body, { now }), false, 'a wrong secret must not verify');
    assert.equal(verifyWebhook(secret, header, body.replace('1', '2'), { now }), false, 'a changed body must not verify');
    assert.equal(verifyWebhook(secret, header, body, { now: now + 301 }), false, 'a signature older than the tolerance must not verify');
    assert.equal(verifyWebhook(secret, undefined, body, { now }), false);
  });
});

for (const storeCase of storeCases()) {
  describe(`webhooks (${storeCase.name})`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let worker: Worker;
    let workerRun: Promise<void>;
    let app: ReturnType<typeof createApp>;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    const tenant = uniqueId(`hooks-${storeCase.name}`).toLowerCase();
    let key = '';
    /** Set by the first test, which creates it. */
    let webhookSecret = '';

    async function call(method: string, path: string, body?: unknown, as = key): Promise<ApiResponse> {
      const res = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${as}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
    }
    const importUntil = (importId: string, done: (view: ImportView) => boolean, what: string) =>
      waitFor(async () => {
        const view = expectImport(await call('GET', `/v1/imports/${importId}`), 200);
        return done(view) && view;
      }, what);
    /** The accepted delivery of `type` for `importId`, once it arrived. */
    const deliveredEvent = (importId: string, type: string) =>
      waitFor(() => receiver.accepted().find((d) => d.json.importId === importId && d.json.type === type), `${type} delivered for ${importId}`);

    before(async () => {
      provider = await startDemoProvider({ contacts: CONTACTS });
      receiver = await startReceiver();
      store = await storeCase.open();
      const taskQueue = uniqueId('webhooks');
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
      workerRun = worker.run();
      key = (await store.apiKeys.create({ scope: 'tenant', tenant, name: 'webhooks test' })).key;
      // Refused deliveries are retried after 50 ms, then 100 ms, …: the test waits on arrivals, never on time.
      ({ app } = await createTestApp({ store, taskQueue, imports: { statusFreshMs: 0, statusStaleMs: 0, webhookRetryInitialMs: 50 } }));
    });
    after(async () => {
      provider?.configure({ faults: {} });
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await provider?.close();
      await receiver?.close();
      await store?.close();
    });

    it('refuses notify before the tenant has a secret, then shows the secret once', async () => {
      const refused = await call('POST', '/v1/imports', { userId: uniqueId('early'), source: SOURCE, notify: { url: receiver.url } });
      expectError(refused, 409, 'webhook_not_configured');
      expectError(await call('GET', '/v1/webhook'), 404, 'webhook_not_configured');

      const created = expectJson(await call('PUT', '/v1/webhook', { url: `${receiver.url}/default` }), 201, WebhookView);
      assert.match(created.secret ?? '', /^whsec_[A-Za-z0-9_-]{43}$/);
      const updated = expectJson(await call('PUT', '/v1/webhook', { url: `${receiver.url}/default` }), 200, WebhookView);
      assert.equal(updated.secret, undefined, 'the secret is shown only when it is made');
      const shown = expectJson(await call('GET', '/v1/webhook'), 200, WebhookView);
      assert.deepEqual({ url: shown.url, secret: shown.secret }, { url: `${receiver.url}/default`, secret: undefined });
      const stored = await store.webhooks.get(tenant);
      assert.ok(stored && !stored.sealedSecret.includes(created.secret!), 'the store keeps the secret sealed, never in clear');
      webhookSecret = created.secret!;
    });

    it('delivers import.completed to the default URL after the import closed, through refusals, signed', async () => {
      assert.ok(webhookSecret, 'the previous test set the secret');
      const { client } = await temporal();
      // Refuse the event until the import's workflow has closed: delivery must not keep it open.
      let importClosed = false;
      receiver.holdWhile(() => !importClosed);
      try {
        const started = expectImport(await call('POST', '/v1/imports', { userId: uniqueId('done'), source: SOURCE }), 202);
        await importUntil(started.importId, (v) => v.state === 'completed', 'the import to complete');
        await waitFor(async () => (await client.workflow.getHandle(started.workflowId).describe()).status.name === 'COMPLETED', 'the import workflow to close');
        await waitFor(() => receiver.deliveries.some((d) => d.status === 503), 'a refused delivery while the import is closed');
        importClosed = true;

        const event = await deliveredEvent(started.importId, 'import.completed');
        assert.equal(event.path, '/default');
        assert.deepEqual(Object.keys(event.json).sort(), [
          'eventId', 'fetched', 'importId', 'occurredAt', 'pages', 'provider', 'rejected', 'saved', 'state', 'total', 'type', 'userId',
        ], 'ids and counts only: no contact data');
        assert.equal(event.json.saved, CONTACTS);
        assert.equal(event.json.state, 'completed');
        assert.equal(event.eventId, event.json.eventId);
        assert.ok(verifyWebhook(webhookSecret, event.signature, event.body), 'the tenant secret verifies the signature');
        assert.equal(verifyWebhook('whsec_wrong', event.signature, event.body), false, 'another secret does not');

        const attempts = receiver.deliveries.filter((d) => d.eventId === event.eventId);
        assert.ok(attempts.length >= REFUSALS + 1, `refused at least ${REFUSALS} times first (got ${attempts.length} attempts)`);
        assert.equal(attempts.filter((d) => d.status === 204).length, 1, 'accepted exactly once');
        // The delivery workflow ends with the receiver's answer.
        const delivery = client.workflow.getHandle(deliverWebhookWorkflowId({ workflowId: started.workflowId, eventId: String(event.eventId) }));
        assert.deepEqual(await delivery.result(), { eventId: event.eventId, status: 204 });
      } finally {
        receiver.holdWhile(() => false);
      }
    });

    it('delivers import.cancelled and import.failed to the URL the import names', async () => {
      // Cancelled: the import stops at a held page, then is cancelled.
      provider.configure({ faults: { holdFromOffset: 100 } });
      const held = expectImport(
        await call('POST', '/v1/imports', { userId: uniqueId('cancel'), source: SOURCE, notify: { url: `${receiver.url}/own` } }),
        202,
      );
      await waitFor(async () => (await store.tenant(tenant).countContacts(held.userId)) === 100, 'the first page saved');
      expectImport(await call('POST', `/v1/imports/${held.importId}/cancel`), 202);
      provider.configure({ faults: {} });
      const cancelled = await deliveredEvent(held.importId, 'import.cancelled');
      assert.equal(cancelled.path, '/own');
      assert.equal(cancelled.json.state, 'cancelled');

      // Failed: a revoked token, which no retry fixes.
      provider.configure({ faults: { revokedTokens: ['revoked-token'] } });
      const failing = expectImport(
        await call('POST', '/v1/imports', {
          userId: uniqueId('fail'),
          source: { provider: 'google-people', accessToken: 'revoked-token' },
          notify: { url: `${receiver.url}/own` },
        }),
        202,
      );
      const failed = await deliveredEvent(failing.importId, 'import.failed');
      assert.equal(failed.json.state, 'failed');
      assert.equal(typeof failed.json.errorType, 'string', 'the failure type, for programs');
      assert.ok(!failed.body.includes('revoked-token'), 'no credentials in the event');

      // Every event accepted exactly once, each after its refusals.
      const byEvent = new Map<string, Delivery[]>();
      for (const d of receiver.deliveries) byEvent.set(d.eventId ?? '', [...(byEvent.get(d.eventId ?? '') ?? []), d]);
      for (const [eventId, attempts] of byEvent) {
        assert.ok(attempts.filter((d) => d.status === 204).length <= 1, `event ${eventId} accepted more than once`);
        if (attempts.some((d) => d.status === 204)) assert.ok(attempts.length >= REFUSALS + 1, `event ${eventId} accepted before ${REFUSALS} refusals`);
      }
    });

    it('fails at once, without calling, for a private address, a tenant without a secret or a URL with a password', async () => {
      const event: WebhookEvent = {
        eventId: uniqueId('evt'),
        type: 'import.completed',
        occurredAt: new Date().toISOString(),
        tenant,
        userId: 'someone',
        provider: 'google-people',
        workflowId: `import-contacts/${tenant}/google-people/someone`,
        firstRunId: '00000000-0000-4000-8000-000000000000',
        state: 'completed',
        fetched: 1,
        saved: 1,
        rejected: 0,
        pages: 1,
        total: 1,
      };
      const isFailure = (type: string) => (err: unknown) =>
        err instanceof ApplicationFailure && err.type === type && err.nonRetryable === true;
      // As deployed (no SOURCES_ALLOW_PRIVATE_ADDRESSES): the loopback receiver is off limits.
      const guarded = createWebhookActivities({ store, sealer: testSealer, allowPrivateAddresses: false });
      await assert.rejects(guarded.deliverWebhook({ url: receiver.url, retryInitialIntervalMs: 1, event }), isFailure('ProviderInvalidRequest'));
      const open = createWebhookActivities({ store, sealer: testSealer, allowPrivateAddresses: true });
      const stranger = { ...event, tenant: uniqueId('no-secret').toLowerCase() };
      await assert.rejects(open.deliverWebhook({ url: receiver.url, retryInitialIntervalMs: 1, event: stranger }), isFailure('WebhookNotConfigured'));
      // A URL with a password in it: refused before any call, and the password is in no message.
      const withPassword = new URL(receiver.url);
      withPassword.username = 'hook';
      withPassword.password = 'pa55-w0rd-in-url';
      await assert.rejects(
        open.deliverWebhook({ url: withPassword.toString(), retryInitialIntervalMs: 1, event }),
        (err: unknown) => isFailure('WebhookRefused')(err) && !(err as Error).message.includes('pa55-w0rd-in-url'),
      );
      assert.ok(!receiver.deliveries.some((d) => d.eventId === event.eventId), 'nothing reached the receiver');
    });
  });
}
