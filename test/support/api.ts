/** An API instance for tests: the real app on a real listening port, bound to a test task queue. */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../../api/app';
import { ImportService } from '../../api/import-service';
import type { ContactStore } from '../../db/types';
import type { ImportTuning } from '../../workflows/contract';
import { temporal, testSealer } from './harness';

export interface TestApi {
  app: ReturnType<typeof createApp>;
  url: string;
  close(): Promise<void>;
  /** fetch() against the listening server, JSON in and out (the body typed loosely, as tests read it). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call(method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; json: any }>;
}

export async function startApi(options: {
  store: ContactStore;
  taskQueue: string;
  tuning?: Partial<ImportTuning>;
}): Promise<TestApi> {
  const { client } = await temporal();
  const imports = new ImportService({
    client,
    sealer: testSealer,
    taskQueue: options.taskQueue,
    tuning: { pageSize: 100, pagesPerBatch: 2, maxBatchesPerRun: 100, ...options.tuning },
  });
  const app = createApp({ imports, store: options.store, temporal: client });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    app,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
    async call(method, path, body) {
      const response = await fetch(url + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
    },
  };
}
