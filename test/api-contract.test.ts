/**
 * The HTTP contract through `app.request()`, without Temporal: the app stands on in-memory fakes
 * of `Imports`, `Erasure` and `TemporalPing` (test/support/fakes.ts) and a real SQLite store, in a
 * fresh directory per group of tests, so the API keys one group creates are invisible to the
 * others. What the Temporal-backed `Imports` itself does is covered end to end in
 * import-e2e.test.ts; two tests here build it on a client whose server is gone, for the 503 it must
 * then answer and the 404 it answers without asking.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { createApp } from '../api/app';
import { createAuthenticator, type AuthenticatorOptions } from '../api/auth';
import { createTemporalErasure, createTemporalImports, temporalPing } from '../api/imports';
import { ErasureView, ErrorBody, ImportView } from '../api/schemas';
import { openStore } from '../db';
import type { Store } from '../db/types';
import { DEFAULT_TENANT, eraseWorkflowId, IMPORT_STATES, ImportStatus } from '../workflows/contract';
import { isProviderId } from '../providers';
import { decodeImportId, encodeImportId } from '../workflows/import-id';
import { FakeErasure, FakeImports, fakeTemporalPing, temporalUnavailableError } from './support/fakes';
import { TEST_TUNING, testSealer, uniqueId } from './support/harness';

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

type App = ReturnType<typeof createApp>;

const TENANT = 'acme';
const OTHER_TENANT = 'globex';
/** Far above what any test here sends, except the rate limit tests, which set their own. */
const GENEROUS_RATE_LIMIT = { perSecond: 10_000, burst: 10_000 };

/** An id this API could have issued to `tenant` (well-formed) but never did. */
const neverIssued = (tenant = TENANT) =>
  encodeImportId({ tenant, provider: 'google-people', userId: uniqueId('nobody'), firstRunId: '01a2236e-fd33-7b63-bc70-63ad57a65ce5' });

/** A well-formed tenant key that was never created. */
const unknownKey = () => `cik_${randomBytes(32).toString('base64url')}`;

const startBody = (userId: string, accessToken = 'demo-token') =>
  JSON.stringify({ userId, source: { provider: 'google-people', accessToken } });

/** A SQLite store in a directory of its own (no keys yet); removed with the file's other clean-ups. */
const storeDirs: string[] = [];
async function freshStore(): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-contract-'));
  storeDirs.push(dir);
  return openStore({ kind: 'sqlite', file: path.join(dir, 'contacts.db') });
}
after(() => {
  for (const dir of storeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function tenantKey(store: Store, tenant = TENANT): Promise<string> {
  return (await store.apiKeys.create({ scope: 'tenant', tenant, name: uniqueId('contract') })).key;
}

interface Fakes {
  imports: FakeImports;
  erasure: FakeErasure;
  ping: ReturnType<typeof fakeTemporalPing>;
}

/** The app on fresh fakes over `store`; keys required unless `auth.loopbackOnly` says otherwise. */
function buildApp(
  store: Store,
  options: { auth?: Partial<Omit<AuthenticatorOptions, 'keys'>>; rateLimit?: { perSecond: number; burst: number } } = {},
): Fakes & { app: App } {
  const fakes: Fakes = { imports: new FakeImports(), erasure: new FakeErasure(), ping: fakeTemporalPing('ok') };
  const app = createApp({
    imports: fakes.imports,
    erasure: fakes.erasure,
    store,
    auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly: false, ...options.auth }),
    temporal: fakes.ping,
    rateLimit: options.rateLimit ?? GENEROUS_RATE_LIMIT,
  });
  return { ...fakes, app };
}

/**
 * One request through `app.request()`. `key` is sent as `Authorization: Bearer <key>`; `null`
 * sends no `Authorization` at all; `authorization` sends that header value as it is.
 */
async function send(
  app: App,
  method: string,
  urlPath: string,
  options: { body?: string; key?: string | null; authorization?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.key) headers.authorization = `Bearer ${options.key}`;
  const response = await app.request(urlPath, { method, headers, body: options.body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

function assertError(res: Answer, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${JSON.stringify(res.body)}`);
  const parsed = ErrorBody.safeParse(res.body);
  assert.ok(parsed.success, `the answer is not the error shape {error: {code, message}}: ${JSON.stringify(res.body)}`);
  const { error } = parsed.data;
  assert.equal(error.code, code, `expected error code ${code}: ${error.message}`);
  assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in answers');
  if (message) assert.match(error.message, message);
}

/** 401 with the usual body and a Bearer challenge; `invalidToken` when a key was sent but refused. */
function assertUnauthorized(res: Answer, invalidToken: boolean): void {
  assertError(res, 401, 'unauthenticated');
  const challenge = res.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer realm="[^"]+"/, `a Bearer challenge with a realm: ${challenge}`);
  if (invalidToken) assert.match(challenge, /error="invalid_token"/, `the challenge says the key was refused: ${challenge}`);
  else assert.doesNotMatch(challenge, /error=/, `no error in the challenge when no key was sent: ${challenge}`);
}

/** The body as an import view, failing with the status and body when it is not one. */
function importView(res: Answer, status: number): ImportView {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  const parsed = ImportView.safeParse(res.body);
  assert.ok(parsed.success, `the answer is not an import: ${JSON.stringify(res.body)}`);
  return parsed.data;
}

/** A local TCP port nothing listens on: bound once by us, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One request over a real socket with node:http (for methods fetch refuses to send, like TRACE). */
function rawRequest(
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A sample of every kind of `/v1` request: each needs a key. */
const V1_REQUESTS: ReadonlyArray<{ method: string; path: () => string; body?: string }> = [
  { method: 'POST', path: () => '/v1/imports', body: startBody('u1') },
  { method: 'GET', path: () => `/v1/imports/${neverIssued()}` },
  { method: 'POST', path: () => `/v1/imports/${neverIssued()}/pause` },
  { method: 'POST', path: () => `/v1/imports/${neverIssued()}/resume` },
  { method: 'POST', path: () => `/v1/imports/${neverIssued()}/cancel` },
  { method: 'GET', path: () => `/v1/imports/${neverIssued()}/rejects` },
  { method: 'GET', path: () => '/v1/users/u1/contacts' },
  { method: 'DELETE', path: () => '/v1/users/u1' },
  { method: 'POST', path: () => '/v1/uploads?userId=u1', body: 'BEGIN:VCARD' },
  { method: 'GET', path: () => '/v1/uploads/upl_neverIssued00000000000' },
  { method: 'GET', path: () => '/v1/nothing-here' },
];

describe('HTTP contract', () => {
  let store: Store;
  let key: string;
  let otherKey: string;
  let imports: FakeImports;
  let erasure: FakeErasure;
  let ping: ReturnType<typeof fakeTemporalPing>;
  let app: App;

  before(async () => {
    store = await freshStore();
    key = await tenantKey(store, TENANT);
    otherKey = await tenantKey(store, OTHER_TENANT);
  });
  after(() => store.close());
  beforeEach(() => {
    ({ imports, erasure, ping, app } = buildApp(store));
  });

  /** A request with the key of {@link TENANT} (or `as`: another key, or `null` for none). */
  function request(method: string, urlPath: string, body?: string, as: string | null = key): Promise<Answer> {
    return send(app, method, urlPath, { body, key: as });
  }

  async function startImport(userId: string, as: string = key): Promise<ImportView> {
    return importView(await request('POST', '/v1/imports', startBody(userId), as), 202);
  }

  describe('refuses bad input before it reaches imports', () => {
    it('answers 400 to malformed JSON', async () => {
      assertError(await request('POST', '/v1/imports', '{"userId": "u1",'), 400, 'invalid_request', /JSON/i);
      assert.deepEqual(imports.calls, [], 'a malformed body starts nothing');
    });

    it('answers 422 naming the missing field', async () => {
      const res = await request('POST', '/v1/imports', JSON.stringify({ source: { provider: 'google-people', accessToken: 't' } }));
      assertError(res, 422, 'validation_failed', /userId/);
      assert.deepEqual(imports.calls, [], 'an invalid body starts nothing');
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
      assert.deepEqual(imports.calls, [], 'neither request starts anything');
    });

    it('answers 422 to an access token that cannot travel in an HTTP header', async () => {
      for (const accessToken of ['令牌', 'abc\u0001def', 'two words']) {
        assertError(await request('POST', '/v1/imports', startBody('u1', accessToken)), 422, 'validation_failed', /accessToken/);
      }
      assert.deepEqual(imports.calls, [], 'no such token reaches imports');
    });

    it('answers 422 to a user id that cannot be a workflow id', async () => {
      assertError(await request('POST', '/v1/imports', startBody('../etc/passwd')), 422, 'validation_failed', /userId/);
    });

    it('answers 413 to a body too large to be a start request', async () => {
      assertError(await request('POST', '/v1/imports', startBody('u1', 'x'.repeat(20_000))), 413, 'payload_too_large');
      assert.deepEqual(imports.calls, [], 'an oversized body is not read into a start');
    });

    it('answers 413 to a body on pause, resume and cancel, which take none', async () => {
      const { importId } = await startImport(uniqueId('body'));
      for (const action of ['pause', 'resume', 'cancel']) {
        assertError(await request('POST', `/v1/imports/${importId}/${action}`, JSON.stringify({ pad: 'x'.repeat(2_000) })), 413, 'payload_too_large');
      }
      assert.deepEqual(
        imports.calls.map((call) => call.method),
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

  describe('imports', () => {
    it("refuses a file import of an upload that is not this user's, this tenant's, or anyone's, before it starts", async () => {
      const userId = uniqueId('filer');
      const bytes = async function* () {
        yield Buffer.from('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n');
      };
      const upload = await store.uploads.save(TENANT, userId, bytes(), { maxBytes: 1024, detect: async () => 'vcard' });
      const fileBody = (who: string, uploadId: string) =>
        JSON.stringify({ userId: who, source: { provider: 'file', uploadId } });
      for (const [who, uploadId, as] of [
        [uniqueId('someone-else'), upload.uploadId, key],
        [userId, upload.uploadId, otherKey],
        [userId, 'upl_neverissued', key],
      ] as const) {
        const res = await request('POST', '/v1/imports', fileBody(who, uploadId), as);
        assertError(res, 422, 'unknown_upload', /POST \/v1\/uploads/);
      }
      assert.deepEqual(imports.calls, [], 'no refused file import reached imports');
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
      assert.deepEqual(imports.calls, [
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

      imports.set(first.importId, { state: 'completed', fetched: 5, saved: 5, pages: 1, total: 5 });
      const second = await startImport(userId);
      assert.notEqual(second.importId, first.importId, 'a finished import does not block a new one');
      const old = importView(await request('GET', `/v1/imports/${first.importId}`), 200);
      assert.equal(old.state, 'completed', 'the earlier import keeps answering');
    });

    it('answers 200 with how far along an import is', async () => {
      const started = await startImport(uniqueId('dora'));
      imports.set(started.importId, { fetched: 400, saved: 300, pages: 4, total: 1_500 });
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
        imports.set(importId, { state });
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
      imports.failure = temporalUnavailableError();
      const res = await request('GET', `/v1/imports/${importId}`);
      assertError(res, 503, 'temporal_unavailable', /try again/);
      assert.ok(Number(res.headers.get('retry-after')) >= 1, 'a 503 says when to try again');
      assertError(await request('POST', '/v1/imports', startBody(uniqueId('gina'))), 503, 'temporal_unavailable');
      imports.failure = undefined;
      importView(await request('GET', `/v1/imports/${importId}`), 200);
    });

    it('answers 500 without details to an unexpected error, and logs it', async (t) => {
      const logged = t.mock.method(console, 'error', () => undefined);
      imports.failure = new Error('database password is hunter2');
      assertError(await request('GET', `/v1/imports/${neverIssued()}`), 500, 'internal');
      assert.equal(logged.mock.callCount(), 1, 'the error is logged once');
      assert.match(String(logged.mock.calls[0]?.arguments[0]), /hunter2/, 'the log says what went wrong');
    });
  });

  describe('tenants', () => {
    it("answers 404 to another tenant's import id, exactly as to one never issued", async () => {
      const { importId } = await startImport(uniqueId('hana'));
      const unknown = neverIssued(OTHER_TENANT);
      const answers = async (id: string) => [
        await request('GET', `/v1/imports/${id}`, undefined, otherKey),
        ...(await Promise.all(
          ['pause', 'resume', 'cancel'].map((action) => request('POST', `/v1/imports/${id}/${action}`, undefined, otherKey)),
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
      const ours = await startImport(userId, key);
      const theirs = await startImport(userId, otherKey);
      assert.notEqual(theirs.importId, ours.importId, 'a new import, not the other tenant\'s running one');
      assert.notEqual(theirs.workflowId, ours.workflowId);
      assert.equal(decodeImportId(ours.importId, isProviderId)?.tenant, TENANT);
      assert.equal(decodeImportId(theirs.importId, isProviderId)?.tenant, OTHER_TENANT);
      assert.deepEqual(
        imports.calls.map(({ method, tenant }) => `${method} ${tenant}`),
        [`start ${TENANT}`, `start ${OTHER_TENANT}`],
        'each start acts for the tenant of its key',
      );
    });

    it("lists only the caller's tenant's contacts", async () => {
      const userId = uniqueId('ivy');
      await store.tenant(TENANT).upsertContacts(userId, 'google-people', [
        { externalId: 'people/c1', etag: 'e1', displayName: 'Ada', email: 'ada@example.com', phone: null, organization: null, raw: {} },
      ]);
      const ours = await request('GET', `/v1/users/${userId}/contacts`);
      assert.equal(ours.status, 200);
      assert.deepEqual(
        (ours.body as { items: Array<{ displayName: string }> }).items.map((item) => item.displayName),
        ['Ada'],
      );
      const theirs = await request('GET', `/v1/users/${userId}/contacts`, undefined, otherKey);
      assert.deepEqual({ status: theirs.status, body: theirs.body }, { status: 200, body: { items: [], nextCursor: null } });
    });

    it('takes the tenant from the key, never from the request', async () => {
      const userId = uniqueId('jay');
      const withTenant = JSON.stringify({ userId, tenant: OTHER_TENANT, source: { provider: 'google-people', accessToken: 't' } });
      assertError(await request('POST', '/v1/imports', withTenant), 422, 'validation_failed', /tenant/);
      assertError(await request('GET', `/v1/users/${userId}/contacts?tenant=${OTHER_TENANT}`), 422, 'validation_failed', /tenant/);
      const res = await send(app, 'POST', '/v1/imports', {
        body: startBody(userId),
        authorization: `Bearer ${key}`,
      });
      assert.equal(decodeImportId(importView(res, 202).importId, isProviderId)?.tenant, TENANT);
    });

    it("gives no partial count for another tenant's import while Temporal does not answer", async () => {
      const userId = uniqueId('kim');
      const { importId } = await startImport(userId);
      await store.tenant(TENANT).upsertContacts(userId, 'google-people', [
        { externalId: 'people/c1', etag: 'e1', displayName: null, email: null, phone: null, organization: null, raw: {} },
        { externalId: 'people/c2', etag: 'e2', displayName: null, email: null, phone: null, organization: null, raw: {} },
      ]);
      imports.failure = temporalUnavailableError();
      const ours = await request('GET', `/v1/imports/${importId}`);
      assertError(ours, 503, 'temporal_unavailable');
      assert.deepEqual((ours.body as { partial?: unknown }).partial, { saved: 2 }, 'the owner learns what the store knows');
      const theirs = await request('GET', `/v1/imports/${importId}`, undefined, otherKey);
      assertError(theirs, 503, 'temporal_unavailable');
      assert.equal((theirs.body as { partial?: unknown }).partial, undefined, 'another tenant learns nothing about it');
    });
  });

  describe('API keys', () => {
    it('answers 401 with a Bearer challenge to every /v1 request without a key', async () => {
      for (const { method, path: urlPath, body } of V1_REQUESTS) {
        const res = await request(method, urlPath(), body, null);
        assertUnauthorized(res, false);
        assert.match((res.body as { error: { message: string } }).error.message, /Authorization: Bearer/, 'says what to send');
      }
      assert.deepEqual(imports.calls, [], 'nothing reaches imports');
      assert.deepEqual(erasure.calls, [], 'nothing reaches erasure');
    });

    it('answers 401 to an unknown key, and to an Authorization that is not a bearer key', async () => {
      for (const authorization of [`Bearer ${unknownKey()}`, 'Bearer not-a-key', 'Bearer', `Basic ${btoa('acme:secret')}`, key]) {
        for (const { method, path: urlPath, body } of V1_REQUESTS) {
          assertUnauthorized(await send(app, method, urlPath(), { body, authorization }), true);
        }
      }
      assert.deepEqual(imports.calls, [], 'nothing reaches imports');
      assert.deepEqual(erasure.calls, [], 'nothing reaches erasure');
    });

    it('answers 401 to a revoked key, at once', async () => {
      const { key: doomed, record } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'to revoke' });
      assert.equal((await request('GET', '/v1/users/u1/contacts', undefined, doomed)).status, 200);
      assert.equal(await store.apiKeys.revoke(record.id), true);
      for (const { method, path: urlPath, body } of V1_REQUESTS) {
        assertUnauthorized(await request(method, urlPath(), body, doomed), true);
      }
      assert.equal((await request('GET', '/v1/users/u1/contacts')).status, 200, 'other keys keep working');
    });

    it('answers 401 to an operator key: it is not a tenant key', async () => {
      const { key: operatorKey } = await store.apiKeys.create({ scope: 'operator', name: 'ops' });
      for (const { method, path: urlPath, body } of V1_REQUESTS) {
        assertUnauthorized(await request(method, urlPath(), body, operatorKey), true);
      }
      assert.deepEqual(imports.calls, [], 'nothing reaches imports');
    });

    it('never answers with the key', async () => {
      const answers = [
        await request('POST', '/v1/imports', startBody(uniqueId('lee'))),
        await request('GET', `/v1/imports/${neverIssued()}`),
        await request('GET', '/healthz'),
      ];
      for (const res of answers) {
        const text = JSON.stringify(res.body) + JSON.stringify([...res.headers.entries()]);
        assert.ok(!text.includes(key), `the key is not in the answer: ${text}`);
      }
    });
  });

  describe('HTTP hygiene', () => {
    it('answers 405 with Allow to a method a known path does not serve', async () => {
      const { importId } = await startImport(uniqueId('mia'));
      const cases: Array<[string, string, string]> = [
        ['PUT', '/v1/imports', 'GET, HEAD, POST'],
        ['DELETE', '/v1/imports', 'GET, HEAD, POST'],
        ['DELETE', `/v1/imports/${importId}`, 'GET, HEAD'],
        ['PUT', `/v1/imports/${importId}`, 'GET, HEAD'],
        ['GET', `/v1/imports/${importId}/pause`, 'POST'],
        ['DELETE', `/v1/imports/${importId}/cancel`, 'POST'],
        ['PUT', '/v1/users/u1/contacts', 'GET, HEAD'],
        ['DELETE', '/v1/users/u1/contacts', 'GET, HEAD'],
        ['PUT', '/v1/users/u1', 'DELETE'],
        ['GET', '/v1/users/u1', 'DELETE'],
        ['DELETE', '/healthz', 'GET, HEAD'],
        ['PUT', '/livez', 'GET, HEAD'],
        ['DELETE', '/openapi.json', 'GET, HEAD'],
      ];
      for (const [method, urlPath, allow] of cases) {
        const res = await request(method, urlPath);
        assertError(res, 405, 'method_not_allowed');
        assert.equal(res.headers.get('allow'), allow, `${method} ${urlPath}`);
      }
      assert.equal(importView(await request('GET', `/v1/imports/${importId}`), 200).state, 'running', 'nothing happened to it');
      assert.deepEqual(erasure.calls, [], 'no erasure either');
    });

    it('answers 405 with Allow to TRACE over a real socket', async () => {
      const server: ServerType = await new Promise((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      try {
        const { port } = server.address() as net.AddressInfo;
        const cases: Array<[string, string]> = [
          ['/v1/imports', 'GET, HEAD, POST'],
          [`/v1/imports/${neverIssued()}`, 'GET, HEAD'],
          [`/v1/imports/${neverIssued()}/pause`, 'POST'],
          ['/v1/users/u1/contacts', 'GET, HEAD'],
          ['/v1/users/u1', 'DELETE'],
          ['/healthz', 'GET, HEAD'],
          ['/livez', 'GET, HEAD'],
          ['/openapi.json', 'GET, HEAD'],
        ];
        for (const [urlPath, allow] of cases) {
          const res = await rawRequest(port, 'TRACE', urlPath, { authorization: `Bearer ${key}` });
          assert.equal(res.status, 405, `TRACE ${urlPath}: ${res.body}`);
          assert.equal(res.headers.allow, allow, `TRACE ${urlPath}`);
          assertError({ status: res.status, headers: new Headers(), body: JSON.parse(res.body) }, 405, 'method_not_allowed');
          assert.ok(!res.body.includes(key), 'TRACE does not echo the request');
        }
        const unknown = await rawRequest(port, 'TRACE', '/v1/nothing-here', { authorization: `Bearer ${key}` });
        assert.equal(unknown.status, 404, 'an unknown path is still unknown');
      } finally {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
      }
    });

    it('sends secure headers on every answer', async () => {
      const answers: Array<[string, Answer]> = [
        ['livez', await request('GET', '/livez', undefined, null)],
        ['healthz', await request('GET', '/healthz', undefined, null)],
        ['openapi', await request('GET', '/openapi.json', undefined, null)],
        ['contacts', await request('GET', '/v1/users/u1/contacts')],
        ['start', await request('POST', '/v1/imports', startBody(uniqueId('nia')))],
        ['404', await request('GET', `/v1/imports/${neverIssued()}`)],
        ['401', await request('GET', '/v1/users/u1/contacts', undefined, null)],
        ['405', await request('PUT', '/v1/imports')],
        ['unknown route', await request('GET', '/nothing-here', undefined, null)],
      ];
      for (const [what, res] of answers) {
        const header = (name: string) => res.headers.get(name);
        assert.equal(header('x-content-type-options'), 'nosniff', what);
        assert.match(header('x-frame-options') ?? '', /^(DENY|SAMEORIGIN)$/, what);
        assert.equal(header('referrer-policy'), 'no-referrer', what);
        assert.match(header('strict-transport-security') ?? '', /max-age=\d+/, what);
        assert.equal(header('cross-origin-resource-policy'), 'same-origin', what);
        assert.equal(header('x-powered-by'), null, what);
      }
    });

    it('answers /v1 with Cache-Control: no-store', async () => {
      const { importId } = await startImport(uniqueId('oto'));
      const answers: Array<[string, Answer]> = [
        ['start', await request('POST', '/v1/imports', startBody(uniqueId('oto')))],
        ['status', await request('GET', `/v1/imports/${importId}`)],
        ['pause', await request('POST', `/v1/imports/${importId}/pause`)],
        ['contacts', await request('GET', '/v1/users/u1/contacts')],
        ['erase', await request('DELETE', '/v1/users/u1')],
        ['404', await request('GET', `/v1/imports/${neverIssued()}`)],
        ['422', await request('GET', '/v1/users/u1/contacts?limit=0')],
        ['405', await request('PUT', '/v1/imports')],
      ];
      for (const [what, res] of answers) {
        assert.ok(res.status < 500, `${what}: ${res.status}`);
        assert.equal(res.headers.get('cache-control'), 'no-store', what);
      }
    });
  });

  describe('erasure', () => {
    it('answers 202 with the erasure to DELETE /v1/users/{userId}, for the tenant of the key', async () => {
      const userId = uniqueId('pia');
      const res = await request('DELETE', `/v1/users/${userId}`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const view = ErasureView.parse(res.body);
      assert.deepEqual(view, { userId, workflowId: eraseWorkflowId({ tenant: TENANT, userId }), state: 'accepted' });
      assert.deepEqual(erasure.calls, [{ method: 'erase', tenant: TENANT, argument: userId }]);

      const again = await request('DELETE', `/v1/users/${userId}`);
      assert.equal(again.status, 202, 'repeating it is harmless');
      assert.deepEqual(ErasureView.parse(again.body), view);

      await request('DELETE', `/v1/users/${userId}`, undefined, otherKey);
      assert.deepEqual(erasure.calls.at(-1), { method: 'erase', tenant: OTHER_TENANT, argument: userId }, "the other tenant's user");
    });

    it('answers 401 to an erasure without a key, and erases nothing', async () => {
      assertUnauthorized(await request('DELETE', '/v1/users/u1', undefined, null), false);
      assertUnauthorized(await request('DELETE', '/v1/users/u1', undefined, unknownKey()), true);
      assert.deepEqual(erasure.calls, []);
    });

    it('answers 422 to a user id that cannot be one', async () => {
      assertError(await request('DELETE', '/v1/users/..%2Fx'), 422, 'validation_failed', /userId/);
      assert.deepEqual(erasure.calls, []);
    });

    it('answers 503 while Temporal does not answer', async () => {
      erasure.failure = temporalUnavailableError('start workflow');
      const res = await request('DELETE', '/v1/users/u1');
      assertError(res, 503, 'temporal_unavailable');
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
    });
  });

  describe('health', () => {
    it('answers liveness without asking anything else', async () => {
      ping.state = 'failing';
      const res = await request('GET', '/livez', undefined, null);
      assert.deepEqual({ status: res.status, body: res.body }, { status: 200, body: { status: 'ok' } });
    });

    it('reports healthy when Temporal and the database answer, with details only for a key', async () => {
      const withKey = await request('GET', '/healthz');
      assert.deepEqual(
        { status: withKey.status, body: withKey.body },
        { status: 200, body: { status: 'ok', temporal: 'ok', database: 'ok' } },
      );
      for (const as of [null, unknownKey()]) {
        const res = await request('GET', '/healthz', undefined, as);
        assert.deepEqual({ status: res.status, body: res.body }, { status: 200, body: { status: 'ok' } }, `key: ${as}`);
      }
    });

    it('answers 503 saying Temporal is unavailable when it does not answer (which part: only with a key)', async () => {
      ping.state = 'failing';
      const res = await request('GET', '/healthz');
      assert.deepEqual(
        { status: res.status, body: res.body },
        { status: 503, body: { status: 'unavailable', temporal: 'unavailable', database: 'ok' } },
      );
      const anonymous = await request('GET', '/healthz', undefined, null);
      assert.deepEqual({ status: anonymous.status, body: anonymous.body }, { status: 503, body: { status: 'unavailable' } });
    });

    it('answers 503 when the database does not answer', async () => {
      const broken = await freshStore();
      await broken.close();
      const sick = buildApp(broken).app;
      const res = await send(sick, 'GET', '/healthz', { key: null });
      assert.deepEqual({ status: res.status, body: res.body }, { status: 503, body: { status: 'unavailable' } });
    });

    it(
      'answers 503, not 500, to a caller with a key when the database does not answer',
      async (t) => {
        t.mock.method(console, 'error', () => undefined);
        const broken = await freshStore();
        const brokenKey = await tenantKey(broken);
        await broken.close();
        const res = await send(buildApp(broken).app, 'GET', '/healthz', { key: brokenKey });
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal((res.body as { status?: string }).status, 'unavailable');
      },
    );
  });

  describe('OpenAPI description', () => {
    interface Operation {
      responses: Record<string, { headers?: Record<string, unknown> }>;
      security?: Array<Record<string, string[]>>;
    }
    interface OpenApiDoc {
      paths: Record<string, Record<string, Operation>>;
      components: {
        schemas: Record<string, { properties: Record<string, { enum?: string[] }>; required: string[] }>;
        securitySchemes?: Record<string, { type: string; scheme?: string }>;
      };
    }

    async function openApi(): Promise<OpenApiDoc> {
      const res = await app.request('/openapi.json');
      assert.equal(res.status, 200, 'the description is public');
      return (await res.json()) as OpenApiDoc;
    }

    const operations = (doc: OpenApiDoc) =>
      Object.entries(doc.paths).flatMap(([urlPath, ops]) =>
        Object.entries(ops).map(([method, operation]) => ({ method: method.toUpperCase(), path: urlPath, operation })),
      );

    it('documents every route with the answers it gives', async () => {
      const doc = await openApi();
      const documented = operations(doc).map(
        ({ method, path: urlPath, operation }) => `${method} ${urlPath} ${Object.keys(operation.responses).join(',')}`,
      );
      assert.deepEqual(documented.sort(), [
        'DELETE /v1/connections/{connectionId} 200,401,404,413,422,429,503',
        'DELETE /v1/users/{userId} 202,401,413,422,429,503',
        'DELETE /v1/users/{userId}/sync 200,401,413,422,429,503',
        'GET /healthz 200,503',
        'GET /livez 200',
        'GET /v1/connect-settings 200,401,429,503',
        'GET /v1/connections/{connectionId} 200,401,404,422,429,503',
        'GET /v1/imports 200,400,401,422,429,503',
        'GET /v1/imports/{importId} 200,401,404,422,429,503',
        'GET /v1/imports/{importId}/events 200,204,401,404,422,429,503',
        'GET /v1/imports/{importId}/rejects 200,400,401,404,422,429,503',
        'GET /v1/uploads/{uploadId} 200,401,404,422,429,503',
        'GET /v1/users/{userId}/connections 200,401,422,429,503',
        'GET /v1/users/{userId}/contacts 200,400,401,422,429,503',
        'GET /v1/users/{userId}/sync 200,401,422,429,503',
        'GET /v1/webhook 200,401,404,429,503',
        'POST /v1/connect-sessions 201,400,401,413,422,429,503',
        'POST /v1/imports 200,202,400,401,409,413,422,429,503',
        'POST /v1/imports/{importId}/cancel 202,401,404,409,413,422,429,503',
        'POST /v1/imports/{importId}/credentials 202,400,401,404,409,413,422,429,503',
        'POST /v1/imports/{importId}/pause 202,401,404,409,413,422,429,503',
        'POST /v1/imports/{importId}/resume 202,401,404,409,413,422,429,503',
        'POST /v1/uploads 201,400,401,413,415,422,429,503',
        'PUT /v1/connect-settings 200,400,401,413,422,429,503',
        'PUT /v1/users/{userId}/sync 200,201,400,401,409,413,422,429,503',
        'PUT /v1/webhook 200,201,400,401,413,422,429,503',
      ]);
      const served = new Set(
        app.routes
          .filter((route) => route.method !== 'ALL' && route.path !== '/openapi.json')
          .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, '{$1}')}`),
      );
      const documentedRoutes = new Set(documented.map((line) => line.split(' ').slice(0, 2).join(' ')));
      assert.deepEqual([...served].sort(), [...documentedRoutes].sort(), 'every route the app serves is documented');
    });

    it('declares bearer API keys, required by every /v1 operation, with their 401 and 429', async () => {
      const doc = await openApi();
      const schemes = doc.components.securitySchemes ?? {};
      const bearer = Object.entries(schemes).filter(([, scheme]) => scheme.type === 'http' && scheme.scheme === 'bearer');
      assert.equal(bearer.length, 1, `one bearer scheme: ${JSON.stringify(schemes)}`);
      const [schemeName] = bearer[0]!;
      const ops = operations(doc);
      assert.ok(ops.filter((op) => op.path.startsWith('/v1/')).length >= 6, 'the /v1 operations are documented');
      for (const { method, path: urlPath, operation } of ops) {
        const what = `${method} ${urlPath}`;
        if (!urlPath.startsWith('/v1/')) {
          assert.equal(operation.security, undefined, `${what} is public`);
          continue;
        }
        assert.deepEqual(operation.security, [{ [schemeName]: [] }], `${what} requires an API key`);
        assert.ok(operation.responses['401'], `${what} documents 401`);
        assert.ok(operation.responses['401']?.headers?.['WWW-Authenticate'], `${what} documents the 401's WWW-Authenticate`);
        assert.ok(operation.responses['429'], `${what} documents 429`);
        assert.ok(operation.responses['429']?.headers?.['Retry-After'], `${what} documents the 429's Retry-After`);
      }
    });

    it("describes an import with the contract's status fields", async () => {
      const schema = (await openApi()).components.schemas.Import;
      assert.ok(schema, 'an Import schema is published');
      const statusFields = Object.keys(ImportStatus.shape);
      for (const field of ['state', 'fetched', 'saved', 'pages', 'total', 'startedAt', 'updatedAt', 'completedAt', 'error']) {
        assert.ok(statusFields.includes(field), `the contract's status has ${field}`);
      }
      for (const field of [...statusFields, 'importId', 'workflowId', 'runId', 'userId', 'provider']) {
        assert.ok(schema.properties[field], `Import documents ${field}`);
      }
      assert.deepEqual(schema.properties.state?.enum, [...IMPORT_STATES]);
      for (const field of ['state', 'fetched', 'saved', 'pages', 'total', 'startedAt', 'updatedAt', 'importId']) {
        assert.ok(schema.required.includes(field), `${field} is always present`);
      }
      for (const field of ['completedAt', 'error']) {
        assert.ok(!schema.required.includes(field), `${field} is optional`);
      }
    });
  });
});

describe('HTTP contract: the keyless loopback mode', () => {
  let store: Store;
  beforeEach(async () => {
    store = await freshStore();
  });
  afterEach(() => store.close());

  it('serves requests without a key as tenant default while it listens on loopback and no key exists', async () => {
    const { app, imports } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    const userId = uniqueId('open');
    const res = await send(app, 'POST', '/v1/imports', { body: startBody(userId), key: null });
    const view = importView(res, 202);
    assert.equal(decodeImportId(view.importId, isProviderId)?.tenant, DEFAULT_TENANT);
    assert.deepEqual(
      imports.calls.map(({ method, tenant }) => `${method} ${tenant}`),
      [`start ${DEFAULT_TENANT}`],
    );
    importView(await send(app, 'GET', `/v1/imports/${view.importId}`, { key: null }), 200);
    assert.equal((await send(app, 'GET', `/v1/users/${userId}/contacts`, { key: null })).status, 200);
    const health = await send(app, 'GET', '/healthz', { key: null });
    assert.deepEqual(health.body, { status: 'ok', temporal: 'ok', database: 'ok' }, 'the open mode is a caller too');
  });

  it('refuses a key it does not know even in the open mode', async () => {
    const { app } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    assertUnauthorized(await send(app, 'GET', '/v1/users/u1/contacts', { key: unknownKey() }), true);
  });

  it('needs a key from the moment one is created (and again none once every key is revoked)', async () => {
    const { app, imports } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: null })).status, 200);

    const { key, record } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'first' });
    for (const { method, path: urlPath, body } of V1_REQUESTS) {
      assertUnauthorized(await send(app, method, urlPath(), { body, key: null }), false);
    }
    assert.deepEqual(imports.calls, [], 'no keyless request reached imports');
    const view = importView(await send(app, 'POST', '/v1/imports', { body: startBody(uniqueId('keyed')), key }), 202);
    assert.equal(decodeImportId(view.importId, isProviderId)?.tenant, TENANT, "the key's tenant, not default");
    assert.deepEqual((await send(app, 'GET', '/healthz', { key: null })).body, { status: 'ok' }, 'no details without a key now');

    await store.apiKeys.revoke(record.id);
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: null })).status, 200, 'no active key: open again');
  });

  it('keeps the open mode closed for an operator key alone', async () => {
    const { app } = buildApp(store, { auth: { loopbackOnly: true, keyCountCacheMs: 0 } });
    await store.apiKeys.create({ scope: 'operator', name: 'ops' });
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: null })).status, 200, 'operator keys are not tenant keys');
  });

  it('needs a key when it does not listen only on loopback, even with no key created', async () => {
    const { app, imports, erasure } = buildApp(store, { auth: { loopbackOnly: false, keyCountCacheMs: 0 } });
    for (const { method, path: urlPath, body } of V1_REQUESTS) {
      assertUnauthorized(await send(app, method, urlPath(), { body, key: null }), false);
    }
    assert.deepEqual(imports.calls, []);
    assert.deepEqual(erasure.calls, []);
  });
});

describe('HTTP contract: rate limits', () => {
  let store: Store;
  before(async () => {
    store = await freshStore();
  });
  after(() => store.close());

  it('answers 429 with Retry-After once a key has used its burst, and limits each key on its own', async () => {
    const { app, imports } = buildApp(store, { rateLimit: { perSecond: 1, burst: 2 } });
    const [first, second] = [await tenantKey(store), await tenantKey(store)];
    for (let i = 0; i < 2; i++) {
      assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: first })).status, 200, `request ${i + 1} is in the burst`);
    }
    const limited = await send(app, 'POST', '/v1/imports', { body: startBody(uniqueId('busy')), key: first });
    assertError(limited, 429, 'rate_limited', /Retry-After/);
    const retryAfter = limited.headers.get('retry-after');
    assert.match(retryAfter ?? '', /^\d+$/, `Retry-After is whole seconds: ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1, `Retry-After is at least 1: ${retryAfter}`);
    assert.deepEqual(imports.calls, [], 'a limited request reaches nothing');

    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key: second })).status, 200, 'another key has its own bucket');
    const sameTenant = await send(app, 'POST', '/v1/imports', { body: startBody(uniqueId('busy')), key: second });
    importView(sameTenant, 202);
  });

  it('does not count requests refused for their key, nor public routes', async () => {
    const { app } = buildApp(store, { rateLimit: { perSecond: 1, burst: 1 } });
    const key = await tenantKey(store);
    for (let i = 0; i < 3; i++) {
      assertUnauthorized(await send(app, 'GET', '/v1/users/u1/contacts', { key: unknownKey() }), true);
      assert.equal((await send(app, 'GET', '/livez', { key })).status, 200);
      assert.equal((await send(app, 'GET', '/healthz', { key })).status, 200);
    }
    assert.equal((await send(app, 'GET', '/v1/users/u1/contacts', { key })).status, 200, 'the key still has its token');
    assertError(await send(app, 'GET', '/v1/users/u1/contacts', { key }), 429, 'rate_limited');
  });
});

describe('HTTP contract on a real Temporal client whose server is gone', () => {
  /** The app on the Temporal-backed `Imports` and `Erasure`, over a client whose server does not answer. */
  async function withServerGone(loopbackOnly: boolean, test: (app: App, store: Store) => Promise<void>): Promise<void> {
    const connection = Connection.lazy({
      address: `127.0.0.1:${await closedPort()}`,
      // The SDK's own retries, cut short: the default ten attempts take about 20 s to give up.
      interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
    });
    const store = await freshStore();
    try {
      const client = new Client({ connection, workflow: { queryRejectCondition: 'NOT_OPEN' } });
      const imports = createTemporalImports({
        client,
        sealer: testSealer,
        tuning: { ...TEST_TUNING, pageSize: 1, pagesPerBatch: 1, maxBatchesPerRun: 1 },
        queryTimeoutMs: 200,
      });
      const app = createApp({
        imports,
        erasure: createTemporalErasure({ client }),
        store,
        auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly, keyCountCacheMs: 0 }),
        temporal: temporalPing(client),
      });
      await test(app, store);
    } finally {
      await store.close();
      await connection.close();
    }
  }

  it('answers 503 temporal_unavailable to a status request and an erasure', { timeout: 60_000 }, async () => {
    await withServerGone(false, async (app, store) => {
      const key = await tenantKey(store);
      assertError(await send(app, 'GET', `/v1/imports/${neverIssued()}`, { key }), 503, 'temporal_unavailable');
      assertError(await send(app, 'DELETE', '/v1/users/u1', { key }), 503, 'temporal_unavailable');
    });
  });

  it('answers 404 to a three-part import id (provider, user, run: no tenant) without asking Temporal', { timeout: 60_000 }, async () => {
    // The keyless loopback mode: its tenant, `default`, is the one such an id would have named.
    await withServerGone(true, async (app) => {
      const parts = ['google-people', uniqueId('old'), '01a2236e-fd33-7b63-bc70-63ad57a65ce5'];
      const threePart = `imp_${Buffer.from(JSON.stringify(parts)).toString('base64url')}`;
      assertError(await send(app, 'GET', `/v1/imports/${threePart}`, { key: null }), 404, 'import_not_found');
      assertError(await send(app, 'GET', `/v1/imports/${threePart}/rejects`, { key: null }), 404, 'import_not_found');
      assertError(await send(app, 'GET', `/v1/imports/${neverIssued(DEFAULT_TENANT)}`, { key: null }), 503, 'temporal_unavailable');
    });
  });
});
