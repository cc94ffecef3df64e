/**
 * An API instance for tests: the real app on a real listening port, bound to a test task queue,
 * with a real API key of its own tenant. Keys are always required (no loopback open mode), so a
 * test that creates keys in the same database can never change how this API answers.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { z } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import { createAuthenticator } from '../../api/auth';
import {
  createTemporalErasure,
  createTemporalImports,
  temporalPing,
  type Imports,
  type TemporalImportsOptions,
} from '../../api/imports';
import { ContactPage, ErrorBody, ImportView } from '../../api/schemas';
import type { Store } from '../../db/types';
import { createTemporalSchedules, type TemporalSchedulesOptions } from '../../api/hooks/schedules';
import { DEFAULT_TENANT, type ImportTuning, type TenantId } from '../../workflows/contract';
import { temporal, TEST_TOKEN_KEY, TEST_TUNING, testSealer, waitFor } from './harness';
import type { ConnectOptions } from '../../api/connect/flow';
import { createSigner } from '../../encryption/signing';
import type { ProviderSettings } from '../../providers';

/** One answer: the status, the headers and the JSON body as it came (`undefined` when empty). */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  json: T;
}

export type ContactPageBody = z.infer<typeof ContactPage>;
export type ErrorBodyJson = z.infer<typeof ErrorBody>;
export type { ImportView };

/**
 * Headers of one call, over the defaults (`Authorization: Bearer <the API's key>`, and
 * `content-type` with a body). A header set to `null` is not sent: `{ authorization: null }` calls
 * without a key, `{ authorization: 'Bearer <other key>' }` as another tenant.
 */
export type HeaderOverrides = Record<string, string | null>;

/** Requests per second and burst per key: far above what any test does, polling included. */
const TEST_RATE_LIMIT = { perSecond: 10_000, burst: 10_000 };

export interface TestApi {
  app: ReturnType<typeof createApp>;
  url: string;
  /** The tenant of {@link key}: every call acts for it. */
  tenant: TenantId;
  /** The API key every call sends (a real one, created in the store for {@link tenant}). */
  key: string;
  close(): Promise<void>;
  /**
   * fetch() against the listening server with the API's key, JSON in and out; the body is read
   * with {@link expectJson}. `headers` override the defaults ({@link HeaderOverrides}).
   */
  call(method: string, path: string, body?: unknown, headers?: HeaderOverrides): Promise<ApiResponse>;
  /** `GET /v1/imports/{importId}`, expecting 200 and an import. */
  getImport(importId: string): Promise<ImportView>;
  /** `POST /v1/imports` with this body, expecting `status` (202 new, 200 already running) and an import. */
  startImport(body: unknown, status?: 200 | 202): Promise<ApiResponse<ImportView>>;
}

/**
 * Asserts `res.status`, then parses the body with `schema` (one of the API's own, from
 * `api/schemas.ts`), so a test reads a typed value and an answer of another shape fails the test
 * with what came back.
 */
export function expectJson<S extends z.ZodType>(res: ApiResponse, status: number, schema: S): z.infer<S> {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${JSON.stringify(res.json)}`);
  const parsed = schema.safeParse(res.json);
  assert.ok(parsed.success, `the answer does not match the API's schema (${parsed.error?.message}): ${JSON.stringify(res.json)}`);
  return parsed.data;
}

/** The import in an answer with `status`. */
export const expectImport = (res: ApiResponse, status: number): ImportView => expectJson(res, status, ImportView);

/** The contact page in a 200 answer. */
export const expectContactPage = (res: ApiResponse): ContactPageBody => expectJson(res, 200, ContactPage);

/** The error in an answer with `status`, checked to carry `code`. */
export function expectError(res: ApiResponse, status: number, code: string): ErrorBodyJson['error'] {
  const { error } = expectJson(res, status, ErrorBody);
  assert.equal(error.code, code, `expected error ${code}, got ${error.code}: ${error.message}`);
  return error;
}

/** Starts an import with `body` through `api` and waits for it to complete; its final status. A failed import fails the test. */
export async function importToCompletion(api: TestApi, body: Record<string, unknown>): Promise<ImportView> {
  const started = expectImport(await api.call('POST', '/v1/imports', body), 202);
  return waitFor(async () => {
    const status = await api.getImport(started.importId);
    assert.ok(status.state !== 'failed', `the import failed: ${status.error ?? ''}`);
    return status.state === 'completed' && status;
  }, 'the import to complete');
}

export interface TestAppOptions {
  store: Store;
  taskQueue: string;
  /** The Temporal client behind the API: the run's unless given (test/web-ui.test.ts brings its own server's). */
  client?: Client;
  tuning?: Partial<ImportTuning>;
  /** Anything else of `createTemporalImports`' options: a status cache of 0 ms, a short query timeout. */
  imports?: Partial<Omit<TemporalImportsOptions, 'client' | 'sealer' | 'taskQueue' | 'tuning'>>;
  /** Sync schedule options: a shorter minimum `every`, a short first webhook retry. */
  schedules?: Partial<Omit<TemporalSchedulesOptions, 'client' | 'sealer' | 'taskQueue' | 'tuning'>>;
  /** Live events' timings: a short `maxStreamMs` for clients that read a response to its end. */
  events?: Parameters<typeof createApp>[0]['events'];
  /** Connect sessions: their flow, reaching providers with these settings (`connectOptions`). */
  connect?: ConnectOptions;
}

/** What connect sessions of a test API need: its own URL, the providers' settings, a session lifetime. */
export function connectOptions(publicBaseUrl: string, providers: ProviderSettings, sessionTtlSeconds?: number): ConnectOptions {
  return {
    publicBaseUrl,
    signer: createSigner(Buffer.from(TEST_TOKEN_KEY, 'base64'), 'connect-session'),
    providers,
    allowPrivateAddresses: true,
    ...(sessionTtlSeconds === undefined ? {} : { sessionTtlSeconds }),
  };
}

/**
 * A server on a free loopback port, serving the app `build` makes once the server's URL is known
 * (connect sessions call back under it).
 */
export async function serveApp(build: (url: string) => Promise<{ fetch: (request: Request) => Response | Promise<Response> }>): Promise<{
  url: string;
  close(): Promise<void>;
}> {
  // Requests before the app is built (none are made) are answered 503.
  const built: { app?: { fetch: (request: Request) => Response | Promise<Response> } } = {};
  const server: ServerType = await new Promise((resolve) => {
    const fetch = (request: Request) => built.app?.fetch(request) ?? new Response('starting', { status: 503 });
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  built.app = await build(url);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}

/**
 * The real app over the run's Temporal: imports and erasure on `taskQueue`, the store's API keys
 * always required (another test creating or revoking keys in a shared database changes nothing
 * here), and a rate limit far above what tests send.
 */
export async function createTestApp(options: TestAppOptions): Promise<{ app: ReturnType<typeof createApp>; imports: Imports }> {
  const client = options.client ?? (await temporal()).client;
  const { store, taskQueue } = options;
  const imports = createTemporalImports({
    client,
    sealer: testSealer,
    taskQueue,
    tuning: { ...TEST_TUNING, ...options.tuning },
    connections: store.connections,
    storedState: (tenant, key) => store.importStates.read(tenant, key),
    ...options.imports,
  });
  const app = createApp({
    imports,
    erasure: createTemporalErasure({ client, taskQueue }),
    store,
    auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly: false }),
    temporal: temporalPing(client),
    rateLimit: TEST_RATE_LIMIT,
    peerRateLimit: TEST_RATE_LIMIT,
    events: options.events,
    sealer: testSealer,
    connect: options.connect,
    schedules: createTemporalSchedules({
      client,
      sealer: testSealer,
      taskQueue,
      tuning: { ...TEST_TUNING, ...options.tuning },
      connections: store.connections,
      ...options.schedules,
    }),
  });
  return { app, imports };
}

export async function startApi(options: {
  store: Store;
  taskQueue: string;
  tuning?: Partial<ImportTuning>;
  /** The tenant whose key the calls carry; `default` unless given. */
  tenant?: TenantId;
  /** Connect sessions, with these providers' settings (and session lifetime); none unless given. */
  connect?: { providers: ProviderSettings; sessionTtlSeconds?: number };
  /** Sync schedules' options (a shorter minimum `every`). */
  schedules?: TestAppOptions['schedules'];
  imports?: TestAppOptions['imports'];
}): Promise<TestApi> {
  const { store, taskQueue } = options;
  const tenant = options.tenant ?? DEFAULT_TENANT;
  const { key } = await store.apiKeys.create({ scope: 'tenant', tenant, name: `test api on ${taskQueue}` });
  let app: ReturnType<typeof createApp> | undefined;
  const server = await serveApp(async (url) => {
    const connect = options.connect && connectOptions(url, options.connect.providers, options.connect.sessionTtlSeconds);
    ({ app } = await createTestApp({ ...options, connect }));
    return app;
  });
  const { url } = server;

  async function call(method: string, path: string, body?: unknown, overrides: HeaderOverrides = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    for (const [name, value] of Object.entries(overrides)) {
      delete headers[name.toLowerCase()];
      if (value !== null) headers[name.toLowerCase()] = value;
    }
    const response = await fetch(url + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    return { status: response.status, headers: response.headers, json };
  }

  if (!app) throw new Error('startApi: the app was not built');
  return {
    app,
    url,
    tenant,
    key,
    close: () => server.close(),
    call,
    getImport: async (importId) => expectImport(await call('GET', `/v1/imports/${importId}`), 200),
    async startImport(body, status = 202) {
      const res = await call('POST', '/v1/imports', body);
      return { ...res, json: expectImport(res, status) };
    },
  };
}
