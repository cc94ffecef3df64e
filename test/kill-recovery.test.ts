/**
 * The checkpoint is written in the page's transaction. A worker process SIGKILLed again and again
 * at random points of one import leaves exactly N rows, never writes a page twice (the stored
 * checkpoint counts every committed page transaction) and re-fetches at most two pages per kill
 * with fetch-ahead (the default; the demo provider counts every page it serves): the one being
 * written and the one fetched ahead; one without it. bench/README.md has the measured figures.
 *
 * The worker is `test/support/kill-worker.ts`, a process of its own built from the same worker code
 * as `worker/main.ts`. After each kill the test fails the dead attempt through the client
 * (`client.activity.fail` by activity id), which is what the server does on its own once the 10 s
 * heartbeat timeout passes: 30 kills do not spend 5 minutes waiting for it.
 *
 * `KILL_RECOVERY_CONTACTS` (default 50,000) and `KILL_RECOVERY_KILLS` (default 8) size it;
 * `KILL_RECOVERY_FETCH_AHEAD` (1 or 0) is the worker's `IMPORT_FETCH_AHEAD` on every store, and
 * sets the bound: 1 page re-fetched per kill at 0, 2 at 1. Unset, every store runs the default and
 * SQLite the other setting too, so both bounds are held.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { pagesRefetchedPerKill, WORKER_DEFAULTS } from '../config/defaults';
import { parseInteger } from '../config/parse';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { importKey } from '../workflows/contract';
import { startApi, type TestApi } from './support/api';
import { storeCases, temporal, TEST_KEYS_ENV, temporalAddress, uniqueId, waitFor, workflowBundle } from './support/harness';

// The long form (200,000 contacts, 30 kills) takes 3-4 minutes per store on two cores:
// `npm run bench -- --only kill` runs it. `npm test` runs this shorter form.
const N = Number(process.env.KILL_RECOVERY_CONTACTS ?? 50_000);
const KILLS = Number(process.env.KILL_RECOVERY_KILLS ?? 8);
const CHOSEN_FETCH_AHEAD =
  process.env.KILL_RECOVERY_FETCH_AHEAD === undefined ? undefined : parseInteger('KILL_RECOVERY_FETCH_AHEAD', process.env.KILL_RECOVERY_FETCH_AHEAD, 0, { min: 0, max: 1 });
/** The runs: each store with the chosen setting, or with the default and SQLite with the other too. */
const RUNS: Array<{ fetchAhead: number; stores: 'all' | 'sqlite' }> =
  CHOSEN_FETCH_AHEAD !== undefined
    ? [{ fetchAhead: CHOSEN_FETCH_AHEAD, stores: 'all' }]
    : [
        { fetchAhead: WORKER_DEFAULTS.fetchAhead, stores: 'all' },
        { fetchAhead: 1 - WORKER_DEFAULTS.fetchAhead, stores: 'sqlite' },
      ];
const PAGE_SIZE = 1000;
const ROOT = path.resolve(__dirname, '..');
/** After the row count passes a kill's target, the kill lands up to this much later: anywhere in a page's cycle. */
const JITTER_MS = 120;

/** Extra fetches so far: every serving of a page beyond its first. */
function refetches(provider: DemoProvider): number {
  let extra = 0;
  for (const count of provider.stats.pageTokensServed.values()) extra += count - 1;
  return extra;
}

async function bundlePath(dir: string): Promise<string> {
  const bundle = await workflowBundle();
  if ('codePath' in bundle) return bundle.codePath;
  const file = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(file, bundle.code);
  return file;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const cases = RUNS.flatMap(({ fetchAhead, stores }) =>
  storeCases()
    .filter((c) => stores === 'all' || c.name === stores)
    .map((storeCase) => ({ storeCase, fetchAhead })),
);

for (const { storeCase, fetchAhead: FETCH_AHEAD } of cases) {
  const REFETCH_BOUND = pagesRefetchedPerKill(FETCH_AHEAD);
  describe(`SIGKILL at random points (${storeCase.name}, fetch-ahead ${FETCH_AHEAD})`, { skip: storeCase.skip }, () => {
    let store: Store;
    let provider: DemoProvider;
    let api: TestApi;
    let dir: string;
    const queue = uniqueId(`kill-recovery-${storeCase.name}-${FETCH_AHEAD}`);

    before(async () => {
      store = await storeCase.open();
      provider = await startDemoProvider({ contacts: N });
      api = await startApi({ store, taskQueue: queue, tuning: { pageSize: PAGE_SIZE, pagesPerBatch: 5 } });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kill-recovery-'));
    });
    after(async () => {
      await api.close();
      await provider.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it(`${KILLS} kills of the worker during a ${N.toLocaleString('en-US')}-contact import (fetch-ahead ${FETCH_AHEAD}): exactly N rows, no page written twice, at most ${REFETCH_BOUND} page(s) re-fetched per kill`, async (t) => {
      const { client } = await temporal();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...storeCase.env,
        ...TEST_KEYS_ENV,
        TEMPORAL_ADDRESS: await temporalAddress(),
        KILL_WORKER_QUEUE: queue,
        KILL_WORKER_BUNDLE: await bundlePath(dir),
        KILL_WORKER_PROVIDER: provider.url,
        KILL_WORKER_SQLITE: path.join(storeCase.env.DATA_DIR ?? dir, 'contacts.db'),
        IMPORT_FETCH_AHEAD: String(FETCH_AHEAD),
      };
      if (storeCase.name === 'sqlite') delete env.DATABASE_URL;
      let child: ChildProcess | undefined;
      /** A worker process, loaded and connected; it polls once `go` is called. */
      const standby = async (): Promise<{ proc: ChildProcess; go: () => Promise<void> }> => {
        const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/kill-worker.ts')], {
          cwd: ROOT,
          env: { ...env, KILL_WORKER_STANDBY: '1' },
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        let output = '';
        const said = (what: string) =>
          new Promise<void>((resolve, reject) => {
            if (output.includes(what)) return resolve();
            proc.once('exit', (code) => reject(new Error(`kill-worker exited (${code}) before saying "${what}"`)));
            proc.stdout?.on('data', () => output.includes(what) && resolve());
          });
        proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
        await said('kill-worker: standing by');
        return {
          proc,
          go: async () => {
            proc.stdin?.write('go\n');
            await said('kill-worker: polling');
          },
        };
      };
      // Two on standby: loading one takes longer than a kill cycle on a busy machine.
      const standbys = [standby(), standby()];
      const spawnWorker = async (): Promise<ChildProcess> => {
        const ready = await (standbys.shift() as ReturnType<typeof standby>);
        standbys.push(standby());
        await ready.go();
        return ready.proc;
      };

      const userId = uniqueId('killed');
      const contacts = store.tenant(api.tenant);
      try {
        child = await spawnWorker();
        const { json: started } = await api.startImport({ userId, source: { provider: 'google-people', accessToken: 'demo-token' } });
        const handle = client.workflow.getHandle(started.workflowId);
        const perKill: number[] = [];
        /** Per kill: ms to a polling worker, then ms to two new pages saved. */
        const timings: Array<[number, number]> = [];
        const attempts: string[] = [];
        let kills = 0;
        while (kills < KILLS) {
          // A random point inside this kill's share of the import (the last 5 % is left to finish).
          const share = (N * 0.95) / KILLS;
          const target = Math.floor(share * kills + Math.random() * share);
          await waitFor(async () => (await contacts.countContacts(userId)) > target, `row ${target} saved`, 120_000);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * JITTER_MS));
          const before = refetches(provider);
          const gone = exited(child);
          child.kill('SIGKILL');
          await gone;
          kills += 1;
          // What the server would do 10 s after the last heartbeat: the dead attempt fails, and is retried.
          // The dead worker's sticky queue would hold the next workflow task for its 10 s timeout too.
          await client.workflowService
            .resetStickyTaskQueue({ namespace: 'default', execution: { workflowId: started.workflowId } })
            .catch(() => undefined);
          const description = await handle.describe();
          for (const pending of description.raw.pendingActivities ?? []) {
            if (!pending.activityId) continue;
            await client.activity
              .fail({ workflowId: started.workflowId, activityId: pending.activityId }, ApplicationFailure.retryable('the worker running it was SIGKILLed', 'WorkerKilled'))
              .then(() => attempts.push(`${pending.activityId}#${pending.attempt}`))
              .catch((err: unknown) => attempts.push(`${pending.activityId}#${pending.attempt}:${String(err).slice(0, 60)}`));
          }
          const restartAt = performance.now();
          child = await spawnWorker();
          const pollingAt = performance.now();
          // The refetches this kill caused show once the new worker is past the pages it re-reads.
          const rows = await contacts.countContacts(userId);
          if (rows >= N) break;
          await waitFor(async () => (await contacts.countContacts(userId)) > rows + 2 * PAGE_SIZE || (await contacts.countContacts(userId)) >= N, 'progress after the restart', 120_000);
          perKill.push(refetches(provider) - before);
          timings.push([Math.round(pollingAt - restartAt), Math.round(performance.now() - pollingAt)]);
        }
        const done = await waitFor(async () => {
          const status = await api.getImport(started.importId);
          return (status.state === 'completed' || status.state === 'failed') && status;
        }, 'the import to end', 300_000);
        assert.equal(done.state, 'completed', `the import ended ${done.state}: ${done.error ?? ''}`);
        assert.equal(await contacts.countContacts(userId), N, 'exactly N rows');

        const stored = await contacts.readCheckpoint(importKey(started.workflowId, started.runId));
        assert.ok(stored, 'the import stored its checkpoint');
        const { checkpoint, writes } = stored;
        assert.equal(checkpoint.pages, N / PAGE_SIZE, 'the checkpoint counts every page');
        assert.equal(checkpoint.saved, N);
        assert.equal(checkpoint.cursor, null, 'the checkpoint is past the last page');
        assert.equal(writes - checkpoint.pages, 0, `pages written twice: ${writes} page transactions for ${checkpoint.pages} pages`);

        const extra = refetches(provider);
        t.diagnostic(`${kills} kills, fetch-ahead ${FETCH_AHEAD}; pages fetched twice: ${extra} in all, per kill ${JSON.stringify(perKill)}; ms to polling and to progress ${JSON.stringify(timings)}; failed attempts ${JSON.stringify(attempts)}`);
        assert.equal(kills, KILLS, `only ${kills} kills landed before the import finished`);
        // With fetch-ahead a kill while page k is written loses k and the k+1 already fetched, so the
        // bound is 2 per kill; without it only k (see bench/README.md).
        for (const [i, count] of perKill.entries()) {
          assert.ok(count <= REFETCH_BOUND, `kill ${i + 1} caused ${count} pages to be fetched again (fetch-ahead ${FETCH_AHEAD} allows ${REFETCH_BOUND})`);
        }
        assert.ok(extra <= REFETCH_BOUND * kills, `${extra} pages fetched again for ${kills} kills (fetch-ahead ${FETCH_AHEAD})`);
      } finally {
        const waiting = await Promise.all(standbys.map((s) => s.catch(() => undefined)));
        for (const proc of [child, ...waiting.map((s) => s?.proc)]) {
          if (!proc) continue;
          const gone = exited(proc);
          proc.kill('SIGKILL');
          await gone;
        }
      }
    });
  });
}
