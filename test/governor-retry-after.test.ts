/**
 * A `Retry-After` closes the key for everyone: two workers, one in this process and one a process
 * of its own (test/support/kill-worker.ts), import for two users under one app (each on a task
 * queue of its own, so that each import runs on its own worker). The demo provider refuses
 * one request with a 429 naming the project's quota and `Retry-After: 5`; it records when every
 * request arrives. No request reaches it in the 5 s after the 429, whichever worker or import; both
 * imports show `waiting: rate_limited` until then; both end exact.
 *
 * The app's budget is a concurrency of 1, so no request is ever in flight beside the refused one:
 * what this shows is the closure alone. (With more in flight, those already sent are answered.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { startApi, type TestApi } from './support/api';
import { startWorker, storeCases, temporal, TEST_KEYS_ENV, temporalAddress, uniqueId, waitFor, workflowBundle } from './support/harness';

const CONTACTS = 3000;
const RETRY_AFTER_S = 5;
const ROOT = path.resolve(__dirname, '..');
/** Every worker's budgets: the app's is one request at a time. */
const PROVIDER_ENV = { GOOGLE_PEOPLE_APP_RATE: '1' };

/** A worker process on `taskQueue`, polling. */
async function workerProcess(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/kill-worker.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('kill-worker: polling')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`kill-worker exited (${code}) before polling`)));
  });
  return proc;
}

for (const storeCase of storeCases()) {
  describe(`a Retry-After, two workers (${storeCase.name})`, { skip: storeCase.skip }, () => {
    let store: Store;
    let provider: DemoProvider;
    /** The API of each worker's task queue. */
    let apis: TestApi[] = [];
    let worker: Worker;
    let running: Promise<void>;
    let other: ChildProcess | undefined;
    let dir: string;

    before(async () => {
      provider = await startDemoProvider({ contacts: CONTACTS });
      store = await storeCase.open();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retry-after-'));
      const [here, there] = [uniqueId(`retry-after-${storeCase.name}`), uniqueId(`retry-after-${storeCase.name}`)];
      apis = [await startApi({ store, taskQueue: here }), await startApi({ store, taskQueue: there })];
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue: here, providerEnv: PROVIDER_ENV });
      running = worker.run();
      const bundle = await workflowBundle();
      const bundleFile = 'codePath' in bundle ? bundle.codePath : path.join(dir, 'workflow-bundle.js');
      if (!('codePath' in bundle)) fs.writeFileSync(bundleFile, bundle.code);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...storeCase.env,
        ...TEST_KEYS_ENV,
        TEMPORAL_ADDRESS: await temporalAddress(),
        KILL_WORKER_QUEUE: there,
        KILL_WORKER_BUNDLE: bundleFile,
        KILL_WORKER_PROVIDER: provider.url,
        KILL_WORKER_SQLITE: path.join(storeCase.env.DATA_DIR ?? dir, 'contacts.db'),
        KILL_WORKER_PROVIDER_ENV: JSON.stringify(PROVIDER_ENV),
      };
      if (storeCase.name === 'sqlite') delete env.DATABASE_URL;
      other = await workerProcess(env);
    });
    after(async () => {
      provider?.configure({ faults: {} });
      other?.kill('SIGTERM');
      if (other && other.exitCode === null && other.signalCode === null) await new Promise((resolve) => other?.once('exit', resolve));
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await running;
      for (const api of apis) await api.close();
      await provider?.close();
      await store?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('sends nothing on the closed key before the Retry-After is over, and says rate_limited until then', async () => {
      const users = [uniqueId('ada'), uniqueId('alan')];
      const [here, there] = apis as [TestApi, TestApi];
      const imports = await Promise.all(
        users.map(async (userId, i) => ({
          api: i === 0 ? here : there,
          view: (await (i === 0 ? here : there).startImport({ userId, source: { provider: 'google-people', accessToken: `token-${userId}` } })).json,
        })),
      );
      const read = () => Promise.all(imports.map(({ api, view }) => api.getImport(view.importId)));
      await waitFor(async () => (await read()).every((view) => view.saved >= 200), 'both imports under way');

      provider.resetStats();
      provider.configure({ faults: { script: ['quota'], retryAfterSeconds: RETRY_AFTER_S } });
      const refusedAt = await waitFor(() => provider.stats.refusedAt[0], 'the 429');
      const reopensAt = refusedAt + RETRY_AFTER_S * 1000;

      // The worker closes the key once the 429 reaches it, a moment after the provider sent it.
      const closed = await waitFor(async () => {
        const views = await read();
        return (views.every((view) => view.waiting !== undefined) || Date.now() >= reopensAt) && views;
      }, 'both imports to say they wait');
      assert.ok(Date.now() < reopensAt, 'both said so while the key was closed');
      for (const view of closed) {
        assert.equal(view.state, 'running');
        assert.equal(view.waiting?.reason, 'rate_limited', `import ${view.importId} says why it waits`);
        const until = Date.parse(view.waiting.until ?? '');
        assert.ok(until >= reopensAt && until <= reopensAt + 1000, `until ${view.waiting.until}, the 429 at ${new Date(refusedAt).toISOString()}`);
      }

      const ended = await waitFor(async () => {
        const views = await read();
        return views.every((view) => view.state !== 'running') && views;
      }, 'both imports to end');
      const early = provider.stats.arrivals.filter((at) => at > refusedAt && at < reopensAt);
      assert.deepEqual(early.map((at) => at - refusedAt), [], 'requests arrived while the key was closed (ms after the 429)');
      assert.ok(provider.stats.arrivals.some((at) => at >= reopensAt), 'the imports went on after it');
      for (const [i, view] of ended.entries()) {
        assert.equal(view.state, 'completed');
        assert.equal(view.saved, CONTACTS);
        assert.equal(await store.tenant(here.tenant).countContacts(users[i] as string), CONTACTS, 'every import is exact');
        assert.equal(view.waiting, undefined);
      }
      // Each import's batches ran on its own worker: the closure held both.
      const { client } = await temporal();
      const workersOf = await Promise.all(
        ended.map(async (view) => {
          const history = await client.workflow.getHandle(view.workflowId, view.runId).fetchHistory();
          return new Set((history.events ?? []).map((event) => event.activityTaskStartedEventAttributes?.identity).filter(Boolean));
        }),
      );
      const [ours, theirs] = workersOf.map((identities) => [...identities].join(', '));
      assert.ok(ours && theirs && ours !== theirs, `the imports ran on ${ours} and on ${theirs}`);
    });
  });
}
