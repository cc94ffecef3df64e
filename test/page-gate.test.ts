/**
 * The worker's page gate (`activities/page-gate.ts`): a priority semaphore over pages in flight,
 * least attained service first. First on its own (no I/O at all), then inside the `importBatch`
 * activity through `MockActivityEnvironment`, with a real SQLite store and fake sources, to show a
 * batch gives back every permit however it ends, heartbeats while it waits at the gate, and fetches
 * ahead only when told to, with the request on the wire before a save that holds the thread.
 *
 * Nothing here measures time: "still waiting" is checked after the event loop has run every
 * pending callback (`settle()`, test/support/promises.ts), which no amount of machine speed changes.
 *
 *   npx tsx scripts/run-tests.ts test/page-gate.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../activities/index';
import { createPageGate, permitScope, type PageGate, type PagePermit } from '../activities/page-gate';
import type { ContactSource, SourcePage } from '../providers';
import type { ContactRecord, Store } from '../db/types';
import { EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import type { ImportBatchInput, ImportBatchResult } from '../workflows/contract';
import { storeCases, testSealer, uniqueId, waitFor } from './support/harness';
import { isSettled, rejectionOf, settle } from './support/promises';
import { withSavePage } from './support/store-wrap';
import { readProviderSettings } from '../providers';
import { httpRequest } from '../providers/kit/http';

void describe('page gate', () => {
  void it('hands out no more permits than it has, and the next one once a permit is released', async () => {
    const gate = createPageGate(2);
    const first = await gate.acquire(0);
    await gate.acquire(0);
    const third = gate.acquire(0);
    assert.equal(await isSettled(third), false, 'a third page went in flight past 2 permits');
    assert.deepEqual(gate.state(), { permits: 2, inFlight: 2, waiting: 1 });
    first.release();
    assert.equal(await isSettled(third), true, 'the released permit did not pass to the waiter');
    assert.deepEqual(gate.state(), { permits: 2, inFlight: 2, waiting: 0 });
  });

  void it('refuses to be built without a permit', () => {
    assert.throws(() => createPageGate(0), RangeError);
    assert.throws(() => createPageGate(1.5), RangeError);
  });

  void it('grants the waiter whose import has saved the fewest pages first, ties in arrival order', async () => {
    const gate = createPageGate(1);
    const held = await gate.acquire(0);
    const granted: Array<[string, PagePermit]> = [];
    const ask = (name: string, attained: number) => void gate.acquire(attained).then((permit) => granted.push([name, permit]));
    // Arrival order: a huge import, two mid-sized ones, a brand-new one, two more mid-sized ones.
    ask('huge', 500);
    ask('mid-1', 3);
    ask('new', 0);
    ask('mid-2', 3);
    ask('mid-3', 3);
    await settle();
    assert.equal(granted.length, 0, 'a waiter was granted while the only permit was held');
    let permit = held;
    for (let i = 1; i <= 5; i += 1) {
      permit.release();
      await settle();
      assert.equal(granted.length, i, 'one release should grant exactly one waiter');
      permit = (granted.at(-1) ?? assert.fail('nobody was granted'))[1];
    }
    const order = granted.map(([name]) => name);
    assert.deepEqual(order, ['new', 'mid-1', 'mid-2', 'mid-3', 'huge']);
  });

  void it('lets a waiter be overtaken only so many times, so an import with many pages is not starved', async () => {
    const gate = createPageGate(1, undefined, 2);
    const held = await gate.acquire(0);
    const granted: Array<[string, PagePermit]> = [];
    const ask = (name: string, attained: number) => void gate.acquire(attained).then((permit) => granted.push([name, permit]));
    ask('huge', 1000);
    // Two new imports overtake it; the third has to wait behind it.
    ask('new-1', 0);
    ask('new-2', 0);
    ask('new-3', 0);
    ask('new-4', 1);
    let permit = held;
    for (let i = 1; i <= 5; i += 1) {
      permit.release();
      await settle();
      permit = (granted.at(-1) ?? assert.fail('nobody was granted'))[1];
    }
    assert.deepEqual(
      granted.map(([name]) => name),
      ['new-1', 'new-2', 'huge', 'new-3', 'new-4'],
    );
  });

  void it('serves equal waiters first come, first served', async () => {
    const gate = createPageGate(1);
    let permit = await gate.acquire(7);
    const order: number[] = [];
    const waiting = [1, 2, 3, 4].map((n) =>
      gate.acquire(7).then((granted) => {
        order.push(n);
        return granted;
      }),
    );
    for (const next of waiting) {
      permit.release();
      permit = await next;
    }
    assert.deepEqual(order, [1, 2, 3, 4]);
  });

  void it('takes an aborted waiter out of the queue and rejects it with the signal reason', async () => {
    const gate = createPageGate(1);
    const held = await gate.acquire(0);
    const controller = new AbortController();
    const cancelled = gate.acquire(0, controller.signal);
    const after = gate.acquire(9);
    await settle();
    assert.equal(gate.state().waiting, 2);
    const reason = new Error('batch cancelled');
    controller.abort(reason);
    assert.equal(await rejectionOf(cancelled), reason);
    assert.equal(gate.state().waiting, 1, 'the aborted waiter is still queued');
    held.release();
    // The permit skips the aborted waiter and goes to the one behind it.
    (await after).release();
    assert.deepEqual(gate.state(), { permits: 1, inFlight: 0, waiting: 0 });
  });

  void it('rejects at once when the signal is already aborted, taking no permit', async () => {
    const gate = createPageGate(3);
    const reason = new Error('already over');
    assert.equal(await rejectionOf(gate.acquire(0, AbortSignal.abort(reason))), reason);
    assert.deepEqual(gate.state(), { permits: 3, inFlight: 0, waiting: 0 });
  });

  void it('ignores a second release of the same permit', async () => {
    const gate = createPageGate(1);
    const permit = await gate.acquire(0);
    const next = gate.acquire(0);
    const last = gate.acquire(0);
    permit.release();
    permit.release();
    await next;
    assert.equal(await isSettled(last), false, 'a double release handed out a second permit');
    assert.deepEqual(gate.state(), { permits: 1, inFlight: 1, waiting: 1 });
  });

  void it('returns every permit of a scope when it closes, and a permit granted after close at once', async () => {
    const gate = createPageGate(2);
    const ended = new AbortController();
    const scope = permitScope(gate, ended.signal);
    const saved = await scope.acquire(0);
    await scope.acquire(0);
    saved.release();
    // Granted (the promise settled) but not yet taken by the scope's continuation when it closes.
    const late = scope.acquire(0);
    scope.close();
    ended.abort(new Error('batch over'));
    await rejectionOf(late);
    assert.deepEqual(gate.state(), { permits: 2, inFlight: 0, waiting: 0 }, 'a closed scope leaked a permit');
  });

  void it('never deadlocks a batch that asks for its next page while holding the current one', async () => {
    // One permit, three imports each fetching ahead: page k holds the only permit while k+1 waits.
    const gate = createPageGate(1);
    const saved: string[] = [];
    const runImport = async (name: string, pages: number) => {
      const scope = permitScope(gate, new AbortController().signal);
      try {
        let next = scope.acquire(0);
        for (let k = 0; k < pages; k += 1) {
          const permit = await next;
          if (k + 1 < pages) next = scope.acquire(k);
          // The save: it goes on while the fetch-ahead waits, and gives the permit back.
          await settle();
          saved.push(`${name}${k}`);
          permit.release();
        }
      } finally {
        scope.close();
      }
    };
    await Promise.all([runImport('a', 5), runImport('b', 5), runImport('c', 2)]);
    assert.equal(saved.length, 12);
    assert.deepEqual(gate.state(), { permits: 1, inFlight: 0, waiting: 0 });
    // Least attained service: the short import is done before either long one has saved three pages.
    const cDone = saved.indexOf('c1');
    assert.ok(!saved.slice(0, cDone).includes('a2') && !saved.slice(0, cDone).includes('b2'), `order: ${saved.join(' ')}`);
  });
});

function contactRecord(n: number): ContactRecord {
  return { externalId: `gate/${n}`, etag: `etag-${n}`, displayName: `Gate ${n}`, email: null, phone: null, organization: null, raw: { n } };
}

/** A source of `pages` pages of two contacts, cursors `"1"`, `"2"`…; `onFetch` sees each request first. */
function fakeSource(pages: number, onFetch: (cursor: string | null) => Promise<void> | void = () => undefined): ContactSource & { requests: Array<string | null> } {
  const requests: Array<string | null> = [];
  return {
    requests,
    async fetchPage({ cursor }) {
      requests.push(cursor);
      await onFetch(cursor);
      const k = cursor === null ? 0 : Number(cursor);
      const page: SourcePage = { contacts: [contactRecord(2 * k), contactRecord(2 * k + 1)], nextCursor: k + 1 < pages ? String(k + 1) : null, total: 2 * pages };
      return page;
    },
  };
}

/** `store` whose page saves wait for `hold` (when set) before writing: a save that takes as long as the test likes. */
function slowSaves(store: Store, hold: { until?: Promise<void>; reached?: () => void }): Store {
  return withSavePage(store, async (real, ...args) => {
    hold.reached?.();
    await hold.until;
    return real.savePage(...args);
  });
}

void describe('importBatch at the page gate', () => {
  let store: Store;

  before(async () => {
    const sqlite = storeCases()[0];
    assert.ok(sqlite, 'the harness offers no SQLite store case');
    store = await sqlite.open();
  });
  after(async () => {
    await store?.close();
  });

  function run(options: { gate: PageGate; source: ContactSource; fetchAhead?: boolean; keepAliveHeartbeatMs?: number; store?: Store }) {
    const { importBatch } = createActivities({
      store: options.store ?? store,
      sealer: testSealer,
      sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: 'http://127.0.0.1:9' }) },
      openSource: () => options.source,
      pageGate: options.gate,
      ...(options.fetchAhead === undefined ? {} : { fetchAhead: options.fetchAhead }),
      keepAliveHeartbeatMs: options.keepAliveHeartbeatMs ?? 600_000,
    });
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (detail: unknown) => heartbeats.push(detail));
    const userId = uniqueId('gate-user');
    const input: ImportBatchInput = {
      tenant: 'page-gate',
      provider: 'google-people',
      userId,
      sealedCredentials: testSealer.seal(`ya29.${userId}`),
      pageSize: 2,
      maxPages: 10,
      checkpoint: EMPTY_CHECKPOINT,
      importKey: uniqueId('gate-import'),
      mode: 'full',
    };
    const result: Promise<ImportBatchResult> = env.run(importBatch, input);
    return { env, result, heartbeats, userId };
  }

  void it('gives back every permit when the batch completes, fails on a page, or is cancelled at the gate', async () => {
    const gate = createPageGate(1);
    const done = await run({ gate, source: fakeSource(3) }).result;
    assert.equal(done.checkpoint.pages, 3);
    assert.deepEqual(gate.state(), { permits: 1, inFlight: 0, waiting: 0 }, 'a completed batch kept a permit');

    const failing = createPageGate(2);
    await rejectionOf(run({ gate: failing, source: fakeSource(3, (cursor) => (cursor === '2' ? Promise.reject(new Error('provider broke on page 3')) : undefined)) }).result);
    assert.deepEqual(failing.state(), { permits: 2, inFlight: 0, waiting: 0 }, 'a batch failing on a page kept a permit');
    const twoPermits = createPageGate(2);
    await rejectionOf(run({ gate: twoPermits, source: fakeSource(3, (c) => (c === '1' ? Promise.reject(new Error('fetch-ahead failed')) : undefined)) }).result);
    assert.deepEqual(twoPermits.state(), { permits: 2, inFlight: 0, waiting: 0 }, 'a batch whose fetch-ahead failed kept a permit');

    const held = await gate.acquire(0);
    const waiting = run({ gate, source: fakeSource(3) });
    const outcome = rejectionOf(waiting.result);
    await waitFor(() => gate.state().waiting === 1, 'the batch to queue at the gate');
    waiting.env.cancel();
    assert.ok((await outcome) instanceof CancelledFailure, 'a batch cancelled at the gate did not end as cancelled');
    assert.deepEqual(gate.state(), { permits: 1, inFlight: 1, waiting: 0 }, 'the cancelled batch is still queued');
    held.release();
    assert.deepEqual(gate.state(), { permits: 1, inFlight: 0, waiting: 0 });
  });

  void it('heartbeats while it waits at the gate', async () => {
    const gate = createPageGate(1);
    const held = await gate.acquire(0);
    const waiting = run({ gate, source: fakeSource(1), keepAliveHeartbeatMs: 20 });
    await waitFor(() => gate.state().waiting === 1, 'the batch to queue at the gate');
    await waitFor(() => waiting.heartbeats.length > 0, 'a keep-alive heartbeat from the batch waiting at the gate');
    held.release();
    assert.equal((await waiting.result).checkpoint.pages, 1);
  });

  void it('fetches the next page during the save with fetch-ahead, and only after it without', async () => {
    for (const fetchAhead of [true, false]) {
      let release!: () => void;
      let reached!: () => void;
      const saving = new Promise<void>((resolve) => (reached = resolve));
      const hold: { until?: Promise<void>; reached?: () => void } = { until: new Promise<void>((resolve) => (release = resolve)), reached: () => reached() };
      const source = fakeSource(2);
      const batch = run({ gate: createPageGate(4), source, fetchAhead, store: slowSaves(store, hold) });
      // The first page's save has begun and is held.
      await saving;
      await settle();
      if (fetchAhead) await waitFor(() => source.requests.length === 2, 'the page fetched ahead during the save');
      else assert.deepEqual(source.requests, [null], 'without fetch-ahead the next page was asked for before the save committed');
      hold.reached = undefined;
      release();
      assert.equal((await batch.result).checkpoint.pages, 2);
      assert.deepEqual(source.requests, [null, '1']);
    }
  });

  void it('puts the page fetched ahead on the wire before a save that holds the thread', async () => {
    // SQLite saves on the worker's thread: while it writes, no request can leave this process. The
    // provider here is a server on a thread of its own, and the first page's save holds this thread
    // (as SQLite does) until that server has the second page's request, or 10 s have passed.
    const provider = await threadServer();
    try {
      const source = httpSource(provider.url, 2);
      let secondArrivedDuringSave: boolean | undefined;
      const holdingSave = withSavePage(store, (real, ...args) => {
        if (secondArrivedDuringSave === undefined) secondArrivedDuringSave = provider.blockUntilRequests(2, 10_000);
        return real.savePage(...args);
      });
      const batch = run({ gate: createPageGate(4), source, fetchAhead: true, store: holdingSave });
      assert.equal((await batch.result).checkpoint.pages, 2);
      assert.equal(secondArrivedDuringSave, true, 'the page fetched ahead reached the provider only once the save had let the thread go');
    } finally {
      await provider.close();
    }
  });
});

/**
 * An HTTP server on a worker thread, so it answers while this thread is held: `blockUntilRequests`
 * holds this thread (as a synchronous SQLite write does) until the server has had `n` requests, and
 * says whether it had them before `timeoutMs` passed.
 */
async function threadServer(): Promise<{ url: string; blockUntilRequests(n: number, timeoutMs: number): boolean; close(): Promise<void> }> {
  const requests = new Int32Array(new SharedArrayBuffer(4));
  const code = `
    const http = require('node:http');
    const { parentPort, workerData } = require('node:worker_threads');
    const server = http.createServer((req, res) => {
      Atomics.add(workerData, 0, 1);
      Atomics.notify(workerData, 0);
      res.end('{}');
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', () => server.close(() => parentPort.close()));
  `;
  const worker = new Worker(code, { eval: true, workerData: requests });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    blockUntilRequests(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (let seen = Atomics.load(requests, 0); seen < n; seen = Atomics.load(requests, 0)) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        Atomics.wait(requests, 0, seen, left);
      }
      return true;
    },
    async close() {
      worker.postMessage('close');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

/** A source of `pages` pages of two contacts, each fetched from `url` through the service's HTTP client. */
function httpSource(url: string, pages: number): ContactSource {
  return {
    async fetchPage({ cursor, signal }) {
      const k = cursor === null ? 0 : Number(cursor);
      const outcome = await httpRequest({ method: 'GET', url: `${url}/page/${k}`, destinations: { allowPrivate: true }, signal }, 'text');
      assert.equal(outcome.kind, 'answer');
      return { contacts: [contactRecord(2 * k), contactRecord(2 * k + 1)], nextCursor: k + 1 < pages ? String(k + 1) : null, total: 2 * pages };
    },
  };
}
