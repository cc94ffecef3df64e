/**
 * For the live-events and progress-page tests: the real app (with the progress page and `/docs`)
 * on a listening port, over a Temporal client that counts the status reads it makes, and a small
 * Server-Sent Events reader over fetch.
 */
import { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import { createAuthenticator } from '../../api/auth';
import { docsPage } from '../../api/docs-page';
import { ImportWatchers } from '../../api/events/watchers';
import { createTemporalErasure, createTemporalImports, temporalPing, type TemporalImportsOptions } from '../../api/imports';
import { progressPage } from '../../api/progress-page';
import type { Store } from '../../db/types';
import { DEFAULT_TENANT, type ImportTuning } from '../../workflows/contract';
import type { ProviderSettings } from '../../providers';
import { connectOptions, serveApp } from './api';
import { NAMESPACE, temporal, TEST_TUNING, testDataConverter, testSealer } from './harness';

/** Temporal calls of one kind, counted as the client makes them. */
export interface ReadCounts {
  query: number;
  describe: number;
}

export interface EventsApi {
  url: string;
  /** The key calls must carry; `undefined` when the API runs keyless (loopback open mode). */
  key?: string;
  watchers: ImportWatchers;
  counts: ReadCounts;
  close(): Promise<void>;
}

export interface EventsApiOptions {
  store: Store;
  taskQueue: string;
  tuning?: Partial<ImportTuning>;
  /** Keyless, as `npm start` on loopback before any key exists (the store must hold no tenant key). */
  keyless?: boolean;
  tenant?: string;
  keepaliveMs?: number;
  intervalMs?: number;
  imports?: Partial<Omit<TemporalImportsOptions, 'client' | 'sealer' | 'taskQueue' | 'tuning'>>;
  /** Connect sessions (the page's Connect buttons), reaching providers with these settings. */
  connect?: ProviderSettings;
}

/** The app as `api/main.ts` builds it (events, page, docs), on a free port of 127.0.0.1. */
export async function startEventsApi(options: EventsApiOptions): Promise<EventsApi> {
  const { client: shared } = await temporal();
  const counts: ReadCounts = { query: 0, describe: 0 };
  const client = new Client({
    connection: shared.connection,
    namespace: NAMESPACE,
    dataConverter: testDataConverter,
    workflow: { queryRejectCondition: 'NOT_OPEN' },
    interceptors: {
      workflow: [
        {
          query: (input, next) => ((counts.query += 1), next(input)),
          describe: (input, next) => ((counts.describe += 1), next(input)),
        },
      ],
    },
  });
  const { store, taskQueue } = options;
  const imports = createTemporalImports({
    client,
    sealer: testSealer,
    taskQueue,
    tuning: { ...TEST_TUNING, pagesPerBatch: 1, ...options.tuning },
    // As api/main.ts: a budget a provider closed shows in the status of every import on it.
    storedState: (tenant, key) => store.importStates.read(tenant, key),
    ...options.imports,
  });
  const key = options.keyless
    ? undefined
    : (await store.apiKeys.create({ scope: 'tenant', tenant: options.tenant ?? DEFAULT_TENANT, name: `events ${taskQueue}` })).key;
  const watchers = new ImportWatchers((tenant, importId) => imports.get(tenant, importId), { intervalMs: options.intervalMs });
  const server = await serveApp(async (url) => {
    const app = createApp({
      imports,
      erasure: createTemporalErasure({ client, taskQueue }),
      store,
      auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly: !!options.keyless }),
      temporal: temporalPing(client),
      rateLimit: { perSecond: 10_000, burst: 10_000 },
      peerRateLimit: { perSecond: 10_000, burst: 10_000 },
      events: { watchers, keepaliveMs: options.keepaliveMs },
      sealer: testSealer,
      ...(options.connect ? { connect: connectOptions(url, options.connect) } : {}),
    });
    app.route('/', progressPage());
    app.route('/', docsPage());
    return app;
  });
  return {
    url: server.url,
    key,
    watchers,
    counts,
    close: () => {
      watchers.close();
      return server.close();
    },
  };
}

/** One event as it came: its name, id and data (parsed JSON). */
export interface ReceivedEvent {
  event: string;
  id?: string;
  data: unknown;
}

export interface EventStream {
  status: number;
  headers: Headers;
  events: ReceivedEvent[];
  /** Everything received, comments included. */
  raw: string;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Resolves with the first event (counting from `from`) that `match` accepts. */
  next(match: (event: ReceivedEvent) => boolean, what: string, from?: number, timeoutMs?: number): Promise<ReceivedEvent>;
  close(): void;
}

/** Opens `url` as an event stream with fetch (so it can send `Authorization` and `Last-Event-ID`). */
export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const events: ReceivedEvent[] = [];
  const waiters = new Set<() => void>();
  let raw = '';
  let endedFlag = false;
  const notify = () => waiters.forEach((w) => w());
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        raw += text;
        buffer += text;
        const blocks = buffer.split('\n\n');
        buffer = blocks.pop() ?? '';
        for (const block of blocks) {
          const lines = block.split('\n');
          const field = (name: string) => lines.filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));
          const data = field('data');
          if (data.length === 0) continue;
          events.push({ event: field('event')[0] ?? 'message', id: field('id')[0], data: JSON.parse(data.join('\n')) });
        }
        notify();
      }
    } catch {
      // Aborted by close().
    } finally {
      endedFlag = true;
      notify();
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    get raw() {
      return raw;
    },
    ended,
    next(match, what, from = 0, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).find(match);
          if (found) return done(() => resolve(found));
          if (endedFlag) return done(() => reject(new Error(`the stream ended before ${what}: ${JSON.stringify(events)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(events)}`))), timeoutMs);
        const done = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
    close: () => controller.abort(),
  } as EventStream;
}
