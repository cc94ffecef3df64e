/**
 * Live events: a hundred `EventSource`-style streams on one running import, and how many status
 * reads they cost Temporal. The streams go to an API built in this process over the run's Temporal,
 * whose client counts every status query and `describe` it makes; the import runs on the service's
 * worker. One watcher per import should make it one read a second, however many streams.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { Client } from '@temporalio/client';
import { createApp } from '../api/app';
import { createAuthenticator } from '../api/auth';
import { ImportWatchers } from '../api/events/watchers';
import { createTemporalErasure, createTemporalImports, temporalPing } from '../api/imports';
import { loadConfig } from '../config';
import { createTokenSealer } from '../encryption/token-seal';
import { openStore } from '../db';
import type { BenchRun, Service } from './service';
import { round, sleep } from './support';

/** Streams opened on the one import. */
export const EVENT_STREAMS = 100;

export interface EventsFigures {
  streams: number;
  seconds: number;
  /** Imports watched while the streams were open: 1 is the design. */
  watchers: number;
  statusQueriesPerSecond: number;
  describesPerSecond: number;
  /** Events (status changes) each stream received, on average, during the window. */
  eventsPerStream: number;
}

export async function measureEvents(run: BenchRun, service: Service): Promise<EventsFigures> {
  const counts = { query: 0, describe: 0 };
  const client = new Client({
    connection: run.client.connection,
    namespace: run.client.options.namespace,
    dataConverter: run.client.options.dataConverter,
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
  const config = loadConfig(service.env);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-bench-events-'));
  // Keys only: no tenant key in this store, so the API answers keyless on loopback as the service's does.
  const store = await openStore({ kind: 'sqlite', file: path.join(dataDir, 'keys.db') });
  const imports = createTemporalImports({ client, sealer: createTokenSealer(Buffer.alloc(32)), tuning: config.importDefaults, taskQueue: config.taskQueue });
  const watchers = new ImportWatchers((tenant, importId) => imports.get(tenant, importId));
  const app = createApp({
    imports,
    erasure: createTemporalErasure({ client, taskQueue: config.taskQueue }),
    store,
    auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly: true }),
    temporal: temporalPing(client),
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
    peerRateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
    events: { watchers },
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const userId = `${run.tag}events`;
  await run.provider.configure({ contacts: 100_000_000 });
  const { view } = await service.imports.postImport(userId);
  const controller = new AbortController();
  let events = 0;
  try {
    for (let v = view; v.saved === 0; v = await service.imports.getImport(view.importId)) await sleep(200);
    const streams = Array.from({ length: EVENT_STREAMS }, async () => {
      const res = await fetch(`${url}/v1/imports/${view.importId}/events`, { signal: controller.signal });
      if (!res.ok || !res.body) throw new Error(`events answered ${res.status}`);
      for await (const chunk of res.body) events += (Buffer.from(chunk as Uint8Array).toString().match(/^event: /gm) ?? []).length;
    });
    streams.forEach((s) => s.catch(() => undefined));
    // Let every stream connect (each gets the current status), then count over a window.
    while (events < EVENT_STREAMS) await sleep(50);
    const before = { ...counts, events };
    const seconds = Math.min(10, run.options.durationSeconds);
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const figures: EventsFigures = {
      streams: EVENT_STREAMS,
      seconds: round(elapsed, 1),
      watchers: watchers.size,
      statusQueriesPerSecond: round((counts.query - before.query) / elapsed, 2),
      describesPerSecond: round((counts.describe - before.describe) / elapsed, 2),
      eventsPerStream: round((events - before.events) / EVENT_STREAMS, 1),
    };
    run.progress(
      `  ${EVENT_STREAMS} streams, ${figures.seconds} s: ${figures.watchers} watcher, ${figures.statusQueriesPerSecond} status queries/s, ${figures.describesPerSecond} describes/s, ${figures.eventsPerStream} events per stream`,
    );
    return figures;
  } finally {
    controller.abort();
    watchers.close();
    server.close();
    await service.imports.cancelImport(view.importId).catch(() => undefined);
    await service.imports.waitForEnd(view.importId, 60_000).catch(() => undefined);
    await run.provider.configure({ contacts: run.options.contacts });
    await service.admin.deleteUsers(userId);
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
