/**
 * For the isolation and limits tests: the API assembled as `api/main.ts` assembles it (the routes,
 * the codec server, `/metrics`, the progress page) over in-memory fakes and a fresh SQLite store
 * (test/support/fake-app.ts's), driven through `app.request()` with a chosen `Host` and peer
 * address, or through a real listening server and `node:http` (which, unlike fetch, sends the
 * `Host` it is given).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp, type AppDeps } from '../../api/app';
import { createAuthenticator } from '../../api/auth';
import { createCodecApp } from '../../api/codec';
import { createHttpMetrics } from '../../api/metrics';
import { progressPage } from '../../api/progress-page';
import { parsePayloadKeys } from '../../config/parse';
import type { Store } from '../../db/types';
import { createPayloadCodec } from '../../encryption/payload-codec';
import type { Answer, App } from './fake-app';
import { FakeErasure, FakeImports, fakeTemporalPing } from './fakes';

export { assertError, freshStore, type Answer, type App } from './fake-app';

export interface AssembledApp {
  app: App;
  imports: FakeImports;
  ping: ReturnType<typeof fakeTemporalPing>;
}

/**
 * The whole API over `store`: keyless while no key exists when `loopbackOnly`, as under `npm start`.
 * `deps` overrides the app's own (limits, timings); the rate limits are generous unless it sets them.
 */
export function assembledApp(store: Store, options: { loopbackOnly: boolean; deps?: Partial<AppDeps> }): AssembledApp {
  const imports = new FakeImports();
  const ping = fakeTemporalPing('ok');
  const auth = createAuthenticator({ keys: store.apiKeys, loopbackOnly: options.loopbackOnly, keyCountCacheMs: 0 });
  const app = createApp({
    imports,
    erasure: new FakeErasure(),
    store,
    auth,
    temporal: ping,
    rateLimit: { perSecond: 10_000, burst: 10_000 },
    peerRateLimit: { perSecond: 10_000, burst: 10_000 },
    metrics: createHttpMetrics(),
    ...options.deps,
  });
  app.route(
    '/',
    createCodecApp({
      codec: createPayloadCodec(parsePayloadKeys('test', `limits:${Buffer.alloc(32, 5).toString('base64')}`)),
      authorize: (authorization, origin) => auth.authenticate(authorization, 'operator', origin),
      corsOrigins: [],
    }),
  );
  app.route('/', progressPage());
  return { app, imports, ping };
}

export interface SendOptions {
  /** `Authorization: Bearer <key>`; none when absent. */
  key?: string;
  /** What the request is addressed to: the URL's host (`Host`). */
  host?: string;
  /** The peer's address, as `@hono/node-server` passes its socket; none (in-process) when absent. */
  peer?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request through `app.request()`, its body read whole (JSON when it parses). */
export async function send(app: App, method: string, urlPath: string, options: SendOptions = {}): Promise<Answer> {
  const response = await open(app, method, urlPath, options);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (a page, a metrics scrape): the text as it came.
  }
  return { status: response.status, headers: response.headers, body };
}

/** One request through `app.request()`, its body left unread (an event stream). */
export async function open(app: App, method: string, urlPath: string, options: SendOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const env = options.peer === undefined ? undefined : { incoming: { socket: { remoteAddress: options.peer } } };
  return app.request(`http://${options.host ?? 'localhost'}${urlPath}`, { method, headers, body }, env);
}

/** `app` on a free port of 127.0.0.1. */
export async function listen(app: App): Promise<{ port: number; close(): Promise<void> }> {
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}

/**
 * One request over the network to 127.0.0.1:`port` with `Host: host` (node:http sends it as given),
 * its body read whole; an event stream is read until `maxMs` and then dropped.
 */
export function overTheNetwork(
  port: number,
  method: string,
  urlPath: string,
  options: { host: string; key?: string; body?: unknown; maxMs?: number },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        headers: {
          host: options.host,
          ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        const done = () => resolve({ status: response.statusCode ?? 0, body });
        response.on('end', done);
        response.on('close', done);
        setTimeout(() => {
          done();
          request.destroy();
        }, options.maxMs ?? 5_000).unref();
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
