/**
 * What the operator command tests stand on: a demo provider of {@link N} contacts, the API and a
 * worker on a task queue of the suite's own over a SQLite store, and a codec server as the API
 * serves it (the test keyring, operator keys only) that the documented commands decode through.
 * Imports start through the API and are held at the provider, so a command meets each one at a
 * known page.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { createAuthenticator } from '../../api/auth';
import { createCodecApp } from '../../api/codec';
import { createPayloadCodec } from '../../encryption/payload-codec';
import { parsePayloadKeys } from '../../config/parse';
import type { ContactStore, Store } from '../../db/types';
import { startDemoProvider, type DemoProvider } from '../../demo-provider/server';
import { FAILURE_TYPES } from '../../workflows/contract';
import { startApi, type ImportView, type TestApi } from './api';
import { fill, runDocumented, useCodec, type Vars } from './documented-commands';
import { storeCases, startWorker, temporal, TEST_PAYLOAD_KEYS, uniqueId, waitFor } from './harness';

/** How many contacts the provider holds: a finished import saved exactly this many. */
export const N = 1_000;
/** The tenant of the suite's API key: every workflow ID here is `import-contacts/ops-cli/…`. */
export const TENANT = 'ops-cli';

/** An import the test started, held at the provider: its user, its id and its workflow. */
export interface RunningImport {
  userId: string;
  importId: string;
  workflowId: string;
}

export interface OperatedImports {
  provider: DemoProvider;
  /** The store as the suite's tenant sees it. */
  contacts: ContactStore;
  /**
   * Runs the test's part in the import `userId`, holding the provider at `holdFromOffset`: returns
   * once that many contacts are saved and the request for the next page waits at the provider.
   */
  runningImport(prefix: string, holdFromOffset?: number): Promise<RunningImport>;
  /**
   * An import of its own that failed for good: four pages saved and the fifth held, then the
   * provider refuses the token. The held page was let in before that, so it is saved too, and the
   * sixth page fails the import with ProviderUnauthenticated.
   */
  failedImport(prefix: string): Promise<RunningImport & { failed: ImportView }>;
  /** Waits for the API to report the import in `state`, and returns that status. */
  apiSays(importId: string, state: ImportView['state']): Promise<ImportView>;
  /** How the run `runId` of `workflowId` ended, as Temporal's client reports it. */
  failureOfRun(workflowId: string, runId: string): Promise<unknown>;
  /** Asserts that run `runId` failed with an ApplicationFailure of `type`. */
  assertFailedWith(workflowId: string, runId: string, type: string): Promise<void>;
  /** Visibility is eventually consistent: polls the listing until it shows the workflow id. */
  listed(template: string, vars: Vars, workflowId: string): Promise<string>;
}

/**
 * Registers the calling suite's hooks: the provider, store, API, worker and codec server before
 * it, closed after it; no fault left set and no import of a test left running after each test.
 * `provider` and `contacts` are filled by the suite's `before`: read them when a test runs.
 */
export function operatedImports(): OperatedImports {
  let store: Store;
  let api: TestApi;
  let worker: Worker;
  let workerRun: Promise<void>;
  let codecServer: ServerType | undefined;
  const ops = {} as OperatedImports;

  before(async () => {
    ops.provider = await startDemoProvider({ contacts: N });
    const sqlite = storeCases().find((c) => c.name === 'sqlite')!;
    store = await sqlite.open();
    ops.contacts = store.tenant(TENANT);
    // One task queue for this suite's API and worker, apart from every other suite's.
    const taskQueue = uniqueId('operations-cli');
    api = await startApi({ store, taskQueue, tenant: TENANT });
    worker = await startWorker({ store, providerUrl: ops.provider.url, taskQueue });
    workerRun = worker.run();
    // The codec server as the API serves it (api/main.ts): the test keyring, operator keys only.
    const { key: operatorKey } = await store.apiKeys.create({ scope: 'operator', name: 'operations-cli' });
    const operators = createAuthenticator({ keys: store.apiKeys, loopbackOnly: false });
    const codecApp = createCodecApp({
      codec: createPayloadCodec(parsePayloadKeys('TEST_PAYLOAD_KEYS', TEST_PAYLOAD_KEYS)),
      authorize: (authorization, origin) => operators.authenticate(authorization, 'operator', origin),
      corsOrigins: [],
    });
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: codecApp.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    codecServer = server;
    useCodec({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/codec`, auth: `Bearer ${operatorKey}` });
  });
  after(async () => {
    ops.provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await new Promise<void>((resolve) => {
      if (!codecServer) return resolve();
      codecServer.close(() => resolve());
      if ('closeAllConnections' in codecServer) codecServer.closeAllConnections();
    });
    await api?.close();
    await ops.provider?.close();
    await store?.close();
  });
  /** Workflow IDs of the imports the running test started. */
  const startedThisTest: string[] = [];

  // Each test sets its own hold or revocation; none survives it, even when an assertion fails.
  beforeEach(() => ops.provider.configure({ faults: {} }));
  // A test that fails half-way leaves its import running, held at the provider, where the next
  // test's hold and page counts would meet it: end it first.
  afterEach(async () => {
    const { client } = await temporal();
    for (const workflowId of startedThisTest.splice(0)) {
      const handle = client.workflow.getHandle(workflowId);
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      // It may complete between the two calls (a test that waited for its last contacts): then it is done.
      await handle.terminate('operations-cli test clean-up').catch((err: unknown) => {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
    }
    ops.provider.configure({ faults: {} });
  });

  async function startImport(userId: string, accessToken = 'demo-token'): Promise<ImportView> {
    const { json: view } = await api.startImport({ userId, source: { provider: 'google-people', accessToken } });
    startedThisTest.push(view.workflowId);
    assert.equal(view.workflowId, `import-contacts/${TENANT}/google-people/${userId}`);
    return view;
  }

  ops.apiSays = (importId, state) =>
    waitFor(async () => {
      const status = await api.getImport(importId);
      return status.state === state && status;
    }, `the API to say ${state}`, 30_000);

  ops.failureOfRun = async (workflowId, runId) => {
    const { client } = await temporal();
    const err = await client.workflow
      .getHandle(workflowId, runId, { followRuns: false })
      .result()
      .then(
        () => assert.fail(`run ${runId} of ${workflowId} completed; expected it to have failed`),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkflowFailedError, `expected a WorkflowFailedError, got ${String(err)}`);
    return err.cause;
  };

  ops.assertFailedWith = async (workflowId, runId, type) => {
    const cause = await ops.failureOfRun(workflowId, runId);
    assert.ok(cause instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(cause)}`);
    assert.equal(cause.type, type, `run ${runId} failed with ${cause.type}: ${cause.message}`);
  };

  ops.listed = (template, vars, workflowId) =>
    waitFor(async () => {
      const output = await runDocumented(template, vars);
      return output.includes(workflowId) && output;
    }, `\`${fill(template, vars)}\` to list ${workflowId}`, 30_000);

  ops.runningImport = async (prefix, holdFromOffset = 200) => {
    const { provider } = ops;
    const userId = uniqueId(prefix);
    provider.configure({ faults: { holdFromOffset } });
    provider.resetStats();
    const started = await startImport(userId);
    await waitFor(
      async () => (await api.getImport(started.importId)).saved === holdFromOffset,
      `the import to stop at ${holdFromOffset} contacts`,
      30_000,
    );
    // The status moves when a batch ends; the next batch's first request may still be on its way.
    await waitFor(
      () => provider.stats.requests === provider.stats.pagesServed + 1,
      `the request for the page at ${holdFromOffset} to reach the provider`,
      30_000,
    );
    return { userId, importId: started.importId, workflowId: started.workflowId };
  };

  ops.failedImport = async (prefix) => {
    const running = await ops.runningImport(prefix, 400);
    ops.provider.configure({ faults: { revokedTokens: ['demo-token'] } });
    const failed = await ops.apiSays(running.importId, 'failed');
    await ops.assertFailedWith(running.workflowId, failed.runId, FAILURE_TYPES.providerUnauthenticated);
    return { ...running, failed };
  };

  return ops;
}
