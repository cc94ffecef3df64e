/**
 * For the Microsoft Graph import tests: the tests' Graph look-alike, a store, the API on a real port
 * and a real worker whose Microsoft source reads from the look-alike and refreshes at its token
 * endpoint; mailboxes seeded with folders of contacts, and imports run to their end.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { ContactStore, Store } from '../../db/types';
import { expectContactPage, expectImport, startApi, type ImportView, type TestApi } from './api';
import { graphContact, LOOKALIKE_CLIENT, startGraphLookalike, type GraphLookalike } from './graph-lookalike';
import { startWorker, uniqueId, waitFor, type StoreCase } from './harness';

/** Pages of 5 and batches of 2 pages: a few contacts make several pages and batches. */
export const GRAPH_TUNING = { pageSize: 5, pagesPerBatch: 2, reauthTimeoutSeconds: 3600 };

/** The folders {@link GraphBed.seed} makes, and their contacts' ids. */
export const SEEDED = {
  contacts: Array.from({ length: 12 }, (_, i) => `d${i}`),
  work: Array.from({ length: 8 }, (_, i) => `w${i}`),
  team: Array.from({ length: 3 }, (_, i) => `t${i}`),
};
export const SEEDED_COUNT = SEEDED.contacts.length + SEEDED.work.length + SEEDED.team.length;

export interface GraphBed {
  graph: GraphLookalike;
  store: Store;
  contacts: ContactStore;
  api: TestApi;
  /**
   * A new mailbox (named like its user): the default folder, `work` in it and `team` in `work`,
   * with {@link SEEDED}'s contacts; resolves to the user id.
   */
  seed(prefix: string): string;
  /** `source` of the user's mailbox: `at-<user>` unless other tokens are given. */
  source(userId: string, tokens?: { accessToken?: string; refreshToken?: string }): Record<string, string>;
  /** Starts an import through the API and waits for it to end `completed`; its final status. */
  importOnce(body: Record<string, unknown>): Promise<ImportView>;
  /** The external ids of the user's listed (live) contacts. */
  listedIds(userId: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startGraphBed(storeCase: StoreCase, tenant: string): Promise<GraphBed> {
  const graph = await startGraphLookalike();
  const store = await storeCase.open();
  const taskQueue = uniqueId(`graph-${storeCase.name}`);
  const api = await startApi({ store, taskQueue, tenant, tuning: GRAPH_TUNING });
  const providerEnv = {
    MICROSOFT_GRAPH_BASE_URL: graph.url,
    MICROSOFT_TOKEN_URL: graph.tokenUrl,
    MICROSOFT_CLIENT_ID: LOOKALIKE_CLIENT.clientId,
    MICROSOFT_CLIENT_SECRET: LOOKALIKE_CLIENT.clientSecret,
  };
  const worker: Worker = await startWorker({ store, providerUrl: 'http://127.0.0.1:9', taskQueue, providerEnv });
  const workerRun = worker.run();

  return {
    graph,
    store,
    contacts: store.tenant(tenant),
    api,
    seed(prefix) {
      const userId = uniqueId(prefix);
      graph.addMailbox(userId);
      graph.addFolder(userId, 'work');
      graph.addFolder(userId, 'team', 'work');
      for (const [folder, ids] of Object.entries(SEEDED)) {
        ids.forEach((id, i) => graph.put(userId, folder, graphContact(id, 'Ada', `${folder} ${i}`)));
      }
      return userId;
    },
    source: (userId, tokens = { accessToken: `at-${userId}` }) => ({ provider: 'microsoft-graph', ...tokens }),
    async importOnce(body) {
      const started = expectImport(await api.call('POST', '/v1/imports', body), 202);
      return waitFor(async () => {
        const status = await api.getImport(started.importId);
        assert.ok(status.state !== 'failed', `the import failed: ${status.errorType ?? ''} ${status.error ?? ''}`);
        return status.state === 'completed' && status;
      }, 'the import to complete');
    },
    async listedIds(userId) {
      const page = expectContactPage(await api.call('GET', `/v1/users/${userId}/contacts?limit=1000`));
      return page.items.map((item) => item.externalId).sort();
    },
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api.close();
      await graph.close();
      await store.close();
    },
  };
}

/**
 * Registers the suite's hooks: a bed started before its tests, with no faults, request hook or delay
 * left over before each test, and closed after them. Each test takes the bed from the function it
 * returns.
 */
export function graphBedFor(storeCase: StoreCase, tenant: string): () => GraphBed {
  let bed: GraphBed | undefined;
  before(async () => {
    bed = await startGraphBed(storeCase, tenant);
  });
  beforeEach(() => {
    if (!bed) return;
    bed.graph.faults = [];
    bed.graph.onRequest = undefined;
    bed.graph.delayMs = 5;
  });
  after(() => bed?.close());
  return () => bed ?? assert.fail('the Graph test bed did not start');
}
