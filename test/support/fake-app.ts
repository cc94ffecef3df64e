/**
 * The HTTP contract's test bench, without Temporal: the app stands on in-memory fakes of
 * `Imports`, `Erasure` and `TemporalPing` (test/support/fakes.ts) and a real SQLite store, in a
 * fresh directory per group of tests, so the API keys one group creates are invisible to the
 * others. Requests go through `app.request()`; the helpers here send them and read the answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach } from 'node:test';
import { createApp } from '../../api/app';
import { createAuthenticator, type AuthenticatorOptions } from '../../api/auth';
import { ErrorBody, ImportView } from '../../api/schemas';
import { openStore } from '../../db';
import type { Store } from '../../db/types';
import { encodeImportId } from '../../workflows/import-id';
import { FakeErasure, FakeImports, fakeTemporalPing } from './fakes';
import { uniqueId } from './harness';

export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

export type App = ReturnType<typeof createApp>;

export const TENANT = 'acme';
export const OTHER_TENANT = 'globex';
/** Far above what any test here sends, except the rate limit tests, which set their own. */
const GENEROUS_RATE_LIMIT = { perSecond: 10_000, burst: 10_000 };

/** An id this API could have issued to `tenant` (well-formed) but never did. */
export const neverIssued = (tenant = TENANT) =>
  encodeImportId({ tenant, provider: 'google-people', userId: uniqueId('nobody'), firstRunId: '01a2236e-fd33-7b63-bc70-63ad57a65ce5' });

/** A well-formed tenant key that was never created. */
export const unknownKey = () => `cik_${randomBytes(32).toString('base64url')}`;

export const startBody = (userId: string, accessToken = 'demo-token') =>
  JSON.stringify({ userId, source: { provider: 'google-people', accessToken } });

/** A SQLite store in a directory of its own (no keys yet); removed with the file's other clean-ups. */
const storeDirs: string[] = [];
export async function freshStore(): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-contract-'));
  storeDirs.push(dir);
  return openStore({ kind: 'sqlite', file: path.join(dir, 'contacts.db') });
}
after(() => {
  for (const dir of storeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export async function tenantKey(store: Store, tenant = TENANT): Promise<string> {
  return (await store.apiKeys.create({ scope: 'tenant', tenant, name: uniqueId('contract') })).key;
}

export interface Fakes {
  imports: FakeImports;
  erasure: FakeErasure;
  ping: ReturnType<typeof fakeTemporalPing>;
}

/** The app on fresh fakes over `store`; keys required unless `auth.loopbackOnly` says otherwise. */
export function buildApp(
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
    peerRateLimit: GENEROUS_RATE_LIMIT,
    // Each health test sets what Temporal answers and expects to see it at once.
    healthCacheMs: 0,
  });
  return { ...fakes, app };
}

/**
 * One request through `app.request()`. `key` is sent as `Authorization: Bearer <key>`; `null`
 * sends no `Authorization` at all; `authorization` sends that header value as it is.
 */
export async function send(
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

export function assertError(res: Answer, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${JSON.stringify(res.body)}`);
  const parsed = ErrorBody.safeParse(res.body);
  assert.ok(parsed.success, `the answer is not the error shape {error: {code, message}}: ${JSON.stringify(res.body)}`);
  const { error } = parsed.data;
  assert.equal(error.code, code, `expected error code ${code}: ${error.message}`);
  assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in answers');
  if (message) assert.match(error.message, message);
}

/** 401 with the usual body and a Bearer challenge; `invalidToken` when a key was sent but refused. */
export function assertUnauthorized(res: Answer, invalidToken: boolean): void {
  assertError(res, 401, 'unauthenticated');
  const challenge = res.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer realm="[^"]+"/, `a Bearer challenge with a realm: ${challenge}`);
  if (invalidToken) assert.match(challenge, /error="invalid_token"/, `the challenge says the key was refused: ${challenge}`);
  else assert.doesNotMatch(challenge, /error=/, `no error in the challenge when no key was sent: ${challenge}`);
}

/** The body as an import view, failing with the status and body when it is not one. */
export function importView(res: Answer, status: number): ImportView {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  const parsed = ImportView.safeParse(res.body);
  assert.ok(parsed.success, `the answer is not an import: ${JSON.stringify(res.body)}`);
  return parsed.data;
}

/** A sample of every kind of `/v1` request: each needs a key. */
export const V1_REQUESTS: ReadonlyArray<{ method: string; path: () => string; body?: string }> = [
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

/**
 * What the tests of one suite share: a store with a key for {@link TENANT} and one for
 * {@link OTHER_TENANT}, opened once, and the app on fresh fakes for every test. The fields are
 * filled by the suite's hooks, so tests read them when they run (`api.imports.calls`).
 */
export interface ContractApp extends Fakes {
  store: Store;
  key: string;
  otherKey: string;
  app: App;
  /** A request with the key of {@link TENANT} (or `as`: another key, or `null` for none). */
  request(method: string, urlPath: string, body?: string, as?: string | null): Promise<Answer>;
  /** `POST /v1/imports` for `userId`, expecting 202 and a new import. */
  startImport(userId: string, as?: string): Promise<ImportView>;
}

/** Registers the hooks of {@link ContractApp} in the calling suite and returns what they fill. */
export function contractApp(): ContractApp {
  const api = {
    request: (method: string, urlPath: string, body?: string, as: string | null = api.key) =>
      send(api.app, method, urlPath, { body, key: as }),
    startImport: async (userId: string, as: string = api.key) =>
      importView(await api.request('POST', '/v1/imports', startBody(userId), as), 202),
  } as ContractApp;

  before(async () => {
    api.store = await freshStore();
    api.key = await tenantKey(api.store, TENANT);
    api.otherKey = await tenantKey(api.store, OTHER_TENANT);
  });
  after(() => api.store.close());
  beforeEach(() => {
    Object.assign(api, buildApp(api.store));
  });
  return api;
}
