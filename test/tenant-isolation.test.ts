/**
 * Two tenants, one service: tenant B walks every `/v1` route of the OpenAPI document with tenant
 * A's ids in the path, and sees nothing of A's. The routes come from `/openapi.json`, not from a
 * list here, so a route added later is walked too; a route whose path parameters or body this test
 * cannot fill fails the test with what to add, rather than being skipped.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { createApp } from '../api/app';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { readProviderSettings } from '../providers';
import { connectOptions, expectContactPage, expectImport, type ImportView, createTestApp } from './support/api';
import { startWorker, storeCases, temporal, testSealer, uniqueId, waitFor } from './support/harness';

const CONTACTS = 250;
const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;
const WEBHOOK_OF_A = 'https://hooks.tenant-a.example/contacts';
const ORIGIN_OF_A = 'https://app.tenant-a.example';

interface Operation {
  method: string;
  path: string;
  requestBody?: { required?: boolean };
}

describe('tenant isolation, route by route from the OpenAPI document', () => {
  let provider: DemoProvider;
  let store: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let app: ReturnType<typeof createApp>;
  const tenantA = uniqueId('tenant-a').toLowerCase();
  const tenantB = uniqueId('tenant-b').toLowerCase();
  const keys: Record<'a' | 'b', string> = { a: '', b: '' };
  /** One user id both tenants use: isolation must not rest on user ids being different. */
  const userId = uniqueId('shared-user');
  let importOfA: ImportView;
  let connectionOfA = '';
  /** Strings that identify A's data: none may appear in anything B is answered. */
  let secretsOfA: string[] = [];

  /** A request body: JSON, or raw bytes of a given type (an upload). */
  type Body = { json: unknown } | { raw: string; type: string };
  const call = (who: 'a' | 'b', method: string, path: string, body?: Body) =>
    app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${keys[who]}`,
        ...(body === undefined ? {} : { 'content-type': 'json' in body ? 'application/json' : body.type }),
      },
      body: body === undefined ? undefined : 'json' in body ? JSON.stringify(body.json) : body.raw,
    });
  const VCARD = fs.readFileSync(path.join(__dirname, '..', 'docs', 'examples', 'contacts.vcf'), 'utf8');
  let uploadOfA = '';

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('tenants');
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    keys.a = (await store.apiKeys.create({ scope: 'tenant', tenant: tenantA, name: 'app a' })).key;
    keys.b = (await store.apiKeys.create({ scope: 'tenant', tenant: tenantB, name: 'app b' })).key;
    // Connect sessions whose revocation would go to a port where nothing listens: B never gets that far.
    const providers = readProviderSettings({ GOOGLE_CLIENT_ID: 'isolation', GOOGLE_CLIENT_SECRET: 'isolation', GOOGLE_REVOKE_URL: 'http://127.0.0.1:9/revoke' });
    ({ app } = await createTestApp({ store, taskQueue, connect: connectOptions('http://127.0.0.1:1', providers) }));

    // Tenant A imports the user's contacts, to the end.
    const upload = await call('a', 'POST', `/v1/uploads?userId=${userId}`, { raw: VCARD, type: 'text/vcard' });
    assert.equal(upload.status, 201, await upload.clone().text());
    uploadOfA = ((await upload.json()) as { uploadId: string }).uploadId;
    const started = await call('a', 'POST', '/v1/imports', { json: { userId, source: SOURCE } });
    importOfA = expectImport({ status: started.status, headers: started.headers, json: await started.json() }, 202);
    importOfA = await waitFor(async () => {
      const res = await call('a', 'GET', `/v1/imports/${importOfA.importId}`);
      const view = expectImport({ status: res.status, headers: res.headers, json: await res.json() }, 200);
      return view.state === 'completed' && view;
    }, "tenant A's import to complete");
    assert.equal(importOfA.saved, CONTACTS);
    const listed = await call('a', 'GET', `/v1/users/${userId}/contacts?limit=5`);
    const page = expectContactPage({ status: listed.status, headers: listed.headers, json: await listed.json() });
    assert.equal(page.items.length, 5, 'tenant A sees its own contacts');
    // A's webhook URL and a sync schedule of the same user: B must see neither.
    const hook = await call('a', 'PUT', '/v1/webhook', { json: { url: WEBHOOK_OF_A } });
    assert.equal(hook.status, 201, await hook.clone().text());
    const sync = await call('a', 'PUT', `/v1/users/${userId}/sync`, { json: { every: '6h', source: SOURCE } });
    assert.equal(sync.status, 201, await sync.clone().text());
    // A's connection of the same user, and the origins A's connect sessions may go back to.
    const kept = await store.connections.keep({ tenant: tenantA, userId, provider: 'google-people' }, { sealedSecret: testSealer.seal('rt-of-a'), scopes: [] });
    connectionOfA = kept.connection.connectionId;
    assert.equal((await call('a', 'PUT', '/v1/connect-settings', { json: { redirectOrigins: [ORIGIN_OF_A] } })).status, 200);
    // Not A's import id: B sent it, and a 404 may quote it back. Everything else B never had.
    secretsOfA = [
      WEBHOOK_OF_A,
      ORIGIN_OF_A,
      tenantA,
      importOfA.runId,
      ...page.items.flatMap((c) => [c.externalId, c.displayName, c.email].filter((v): v is string => !!v)),
    ];
  });

  after(async () => {
    // Schedules outlive the test in Temporal: remove both tenants'.
    for (const who of ['a', 'b'] as const) await Promise.resolve(call(who, 'DELETE', `/v1/users/${userId}/sync`)).catch(() => undefined);
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await provider?.close();
    await store?.close();
  });

  /** Path parameters filled with tenant A's values. */
  function fillPath(path: string): string {
    return path.replace(/\{(\w+)\}/g, (_, name: string) => {
      if (name === 'importId') return importOfA.importId;
      if (name === 'userId') return userId;
      if (name === 'uploadId') return uploadOfA;
      if (name === 'connectionId') return connectionOfA;
      throw new Error(`${path}: this test does not know how to fill {${name}} with tenant A's value; add it to fillPath`);
    });
  }

  /** A valid body for the operations that need one; a new such route must add its own here. */
  function bodyFor(op: Operation): Body | undefined {
    if (op.method === 'post' && op.path === '/v1/imports') return { json: { userId, source: SOURCE } };
    if (op.method === 'post' && op.path === '/v1/uploads') return { raw: VCARD, type: 'text/vcard' };
    if (op.method === 'post' && op.path === '/v1/imports/{importId}/credentials') {
      return { json: { source: { provider: 'google-people', accessToken: 'fresh-token', refreshToken: 'fresh-refresh' } } };
    }
    if (op.method === 'put' && op.path === '/v1/webhook') return { json: { url: 'https://hooks.tenant-b.example/contacts' } };
    if (op.method === 'put' && op.path === '/v1/users/{userId}/sync') return { json: { every: '6h', source: SOURCE } };
    if (op.method === 'post' && op.path === '/v1/connect-sessions') {
      return { json: { userId, provider: 'google-people', redirectUrl: `${ORIGIN_OF_A}/connected` } };
    }
    if (op.method === 'put' && op.path === '/v1/connect-settings') return { json: { redirectOrigins: ['https://app.tenant-b.example'] } };
    if (op.requestBody?.required) {
      throw new Error(`${op.method.toUpperCase()} ${op.path} needs a body: add one for it to bodyFor`);
    }
    return undefined;
  }

  it("answers tenant B on every /v1 route without any of tenant A's data, and leaves A's data as it was", async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { requestBody?: { required?: boolean } }>>;
    };
    const operations: Operation[] = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ method, path, ...op })));
    assert.ok(operations.length >= 7, `the document lists the /v1 routes (found ${operations.length})`);

    const seen: string[] = [];
    for (const op of operations) {
      // Query parameters a route requires (the upload's user) get tenant A's value too.
      const url = fillPath(op.path) + (op.path === '/v1/uploads' && op.method === 'post' ? `?userId=${userId}` : '');
      const body = bodyFor(op);
      const res = await call('b', op.method.toUpperCase(), url, body);
      const text = await res.text();
      const what = `${op.method.toUpperCase()} ${op.path} as tenant B → ${res.status} ${text.slice(0, 300)}`;
      seen.push(`${op.method.toUpperCase()} ${op.path} ${res.status}`);
      // What B sent itself (A's redirect origin, to try A's settings) may be quoted back to it.
      const sent = body === undefined ? '' : JSON.stringify(body);
      for (const secret of secretsOfA.filter((s) => !sent.includes(s))) assert.ok(!text.includes(secret), `${what}: leaks "${secret}" of tenant A`);
      assert.ok(res.status !== 401 && res.status < 500, `${what}: tenant B's key works and nothing fails`);
      if (op.path.includes('{importId}') || op.path.includes('{uploadId}') || op.path.includes('{connectionId}')) {
        assert.equal(res.status, 404, `${what}: another tenant's import is as unknown as a made-up one`);
      }
      if (op.method === 'post' && op.path === '/v1/connect-sessions') {
        assert.equal(res.status, 422, `${what}: A's origins are not B's`);
      }
      if (op.method === 'get' && op.path === '/v1/users/{userId}/connections') {
        assert.deepEqual(JSON.parse(text), { items: [] }, `${what}: B has no connections for this user`);
      }
      if (op.method === 'get' && op.path === '/v1/users/{userId}/contacts') {
        assert.deepEqual(JSON.parse(text), { items: [], nextCursor: null }, `${what}: B has no contacts for this user`);
      }
      if (op.method === 'post' && op.path === '/v1/imports') {
        assert.equal(res.status, 202, `${what}: B's import is a new one of its own, not A's`);
        const own = JSON.parse(text) as ImportView;
        assert.ok(own.workflowId.includes(`/${tenantB}/`), `${what}: B's import runs under B's tenant`);
      }
      if (op.method === 'delete' && op.path === '/v1/users/{userId}') {
        const erasure = JSON.parse(text) as { workflowId: string };
        // Let B's erasure run to the end: it must not touch A's rows.
        await (await temporal()).client.workflow.getHandle(erasure.workflowId).result();
      }
    }

    // A's import and contacts are exactly as they were.
    const after = await call('a', 'GET', `/v1/imports/${importOfA.importId}`);
    const view = expectImport({ status: after.status, headers: after.headers, json: await after.json() }, 200);
    assert.equal(view.saved, CONTACTS);
    assert.equal(view.state, 'completed');
    assert.equal(await store.tenant(tenantA).countContacts(userId), CONTACTS, `tenant A keeps every contact (${seen.join('; ')})`);
    const syncsOfA = (await (await call('a', 'GET', `/v1/users/${userId}/sync`)).json()) as { items: unknown[] };
    assert.equal(syncsOfA.items.length, 1, "tenant A keeps its sync schedule (B's DELETE removed only B's)");
    assert.equal((await store.webhooks.get(tenantA))?.url, WEBHOOK_OF_A, "tenant A keeps its webhook URL");
    assert.equal((await store.connections.byId(tenantA, connectionOfA))?.status, 'connected', 'tenant A keeps its connection');
    assert.deepEqual((await store.connectSettings.get(tenantA))?.redirectOrigins, [ORIGIN_OF_A], 'and its redirect origins');
  });

  it("answers tenant B's request for tenant A's import exactly as one for an id that never existed", async () => {
    const madeUp = importOfA.importId.slice(0, -4) + (importOfA.importId.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const importId of [importOfA.importId, madeUp]) {
      const res = await call('b', 'GET', `/v1/imports/${importId}`);
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), { error: { code: 'import_not_found', message: `No import with id "${importId}"` } });
    }
  });
});
