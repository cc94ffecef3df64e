/**
 * `npm start` keeps the service up. One instance, with its own dev server on free ports
 * and a temporary DATA_DIR, is the subject: its worker and its dev server are SIGKILLed mid-import
 * and come back, the import ending with exactly N contacts; while its dev server does not answer,
 * status answers 503 at once. A second instance whose Temporal port is taken stops and says why.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImportView, TemporalUnavailableBody } from '../api/schemas';
import { openStore } from '../db';
import type { ContactStore, Store } from '../db/types';
import { DEFAULT_TENANT } from '../workflows/contract';
import { uniqueId, waitFor } from './support/harness';
import { startNpmStart, type NpmStart } from './support/npm-start';

const N = 2_000;
/** Pages of 100, 2 per batch, each page 300 ms late: an import lasts several seconds, long enough to kill things under it. */
const SERVICE_ENV = {
  DEMO_CONTACTS: String(N),
  DEMO_SLOW_MS: '300',
  IMPORT_PAGE_SIZE: '100',
  IMPORT_PAGES_PER_BATCH: '2',
};

describe('npm start', { timeout: 600_000 }, () => {
  let service: NpmStart;
  let db: Store;
  /** The contacts `npm start`'s API stores for callers without a key (it listens on loopback). */
  let store: ContactStore;

  before(async () => {
    service = await startNpmStart({ env: SERVICE_ENV });
    db = await openStore({ kind: 'sqlite', file: path.join(service.dataDir, 'contacts.db') });
    store = db.tenant(DEFAULT_TENANT);
  });
  after(async () => {
    await db?.close();
    await service?.stop();
  });

  async function call(method: string, route: string, body?: unknown) {
    const res = await fetch(service.apiUrl + route, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
  }

  async function startImport(userId: string): Promise<ImportView> {
    const res = await call('POST', '/v1/imports', { userId, source: { provider: 'google-people', accessToken: 'demo-token' } });
    assert.equal(res.status, 202, `starting an import: ${JSON.stringify(res.json)}`);
    return ImportView.parse(res.json);
  }

  /** The import's status once it answers 200 and `check` holds. */
  const statusWhen = (importId: string, check: (view: ImportView) => boolean, what: string, timeoutMs = 180_000) =>
    waitFor(
      async () => {
        const res = await call('GET', `/v1/imports/${importId}`);
        if (res.status !== 200) return undefined;
        const view = ImportView.parse(res.json);
        return check(view) && view;
      },
      `${what} (npm start said:\n${service.tail()})`,
      timeoutMs,
    );

  async function expectExactlyN(importId: string, userId: string): Promise<void> {
    const done = await statusWhen(importId, (view) => view.state !== 'running', 'the import to end');
    assert.equal(done.state, 'completed', `the import ended ${done.state}: ${done.error ?? ''}`);
    assert.equal(done.saved, N, 'the status counts exactly N contacts');
    assert.equal(await store.countContacts(userId, 'google-people'), N, 'exactly N contacts are stored');
  }

  it('restarts a SIGKILLed worker, and the import ends with exactly N contacts', async () => {
    const userId = uniqueId('worker-kill');
    const { importId } = await startImport(userId);
    await statusWhen(importId, (view) => view.saved >= 200, 'the import to be under way');
    const [worker, ...others] = service.pidsOf('worker/main.ts');
    assert.ok(worker !== undefined && others.length === 0, `one worker process (found ${[worker, ...others].join(', ')})`);
    const seen = service.lines.length;
    process.kill(worker, 'SIGKILL');

    const said = () => service.lines.slice(seen).join('\n');
    await waitFor(() => /start: worker is running again/.test(said()), `the worker to be restarted (npm start said:\n${said()})`);
    assert.match(said(), /start: worker exited unexpectedly \(signal SIGKILL\) after [\d.]+ s; restarting it in 1 s \(log: .*logs\/worker\.log\)/);
    const [restarted] = service.pidsOf('worker/main.ts');
    assert.ok(restarted !== undefined && restarted !== worker, 'a new worker process runs');
    await expectExactlyN(importId, userId);
    assert.ok(fs.readFileSync(path.join(service.dataDir, 'logs', 'worker.log'), 'utf8').includes('worker exited (signal SIGKILL)'));
  });

  it('answers status with 503 temporal_unavailable within 3 s while its dev server does not answer', async () => {
    const userId = uniqueId('frozen');
    const { importId } = await startImport(userId);
    await statusWhen(importId, (view) => view.saved >= 200, 'the import to be under way');
    const [server] = service.pidsOf('start-dev');
    assert.ok(server !== undefined, 'the dev server runs');
    // Frozen rather than killed: connections hang instead of being refused, the harder case, and the
    // supervisor sees no exit to restart.
    process.kill(server, 'SIGSTOP');
    // The service answers in under 3 s; the bound leaves room for a loaded machine.
    const timedStatus = async () => {
      const began = performance.now();
      const res = await call('GET', `/v1/imports/${importId}`);
      const tookMs = performance.now() - began;
      assert.ok(tookMs < 4_500, `GET /v1/imports/{id} took ${Math.round(tookMs)} ms (${res.status})`);
      return res;
    };
    try {
      // A status read just before may be answered once more from the API's 2 s cache.
      await waitFor(async () => (await timedStatus()).status === 503, 'the status to answer 503');
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        const res = await timedStatus();
        assert.equal(res.status, 503, `attempt ${attempt}: ${JSON.stringify(res.json)}`);
        const body = TemporalUnavailableBody.parse(res.json);
        assert.equal(body.error.code, 'temporal_unavailable');
        assert.ok(Number(res.headers.get('retry-after')) > 0, 'a Retry-After header says when to ask again');
        assert.ok(body.partial && body.partial.saved >= 200 && body.partial.saved <= N, `the store's count: ${JSON.stringify(body)}`);
      }
      await service.waitForLine(/^\[api\] .*\bapi: lost the connection to Temporal/, 'the API to say it lost Temporal');
    } finally {
      process.kill(server, 'SIGCONT');
    }
    await service.waitForLine(/^\[api\] .*\bapi: Temporal at .* answers again/, 'the API to say Temporal is back');
    await expectExactlyN(importId, userId);
    assert.equal(service.lines.filter((line) => /api: lost the connection/.test(line)).length, 1, 'one line for the outage');
  });

  it('restarts a SIGKILLed dev server on the same database, and the import ends with exactly N contacts', async () => {
    const userId = uniqueId('server-kill');
    const { importId } = await startImport(userId);
    await statusWhen(importId, (view) => view.saved >= 200, 'the import to be under way');
    const [server] = service.pidsOf('start-dev');
    assert.ok(server !== undefined, 'the dev server runs');
    const seen = service.lines.length;
    process.kill(server, 'SIGKILL');

    const said = () => service.lines.slice(seen).join('\n');
    await waitFor(() => /start: temporal is running again/.test(said()), `the dev server to be restarted (npm start said:\n${said()})`);
    assert.match(said(), /start: temporal exited unexpectedly \(signal SIGKILL\)/);
    const [restarted] = service.pidsOf('start-dev');
    assert.ok(restarted !== undefined && restarted !== server, 'a new dev server runs');
    assert.ok(service.pidsOf('start-dev').every((pid) => pid !== server));
    await expectExactlyN(importId, userId);
    assert.ok(
      !service.lines.some((line) => /temporalio_client::retry|retried \d+ times/.test(line)),
      'no retry storm in the log: the worker reports the outage once',
    );
  });

  it('a second instance whose Temporal port is taken stops, saying what holds it', async () => {
    const [server] = service.pidsOf('start-dev');
    assert.ok(server !== undefined, 'the first instance runs its dev server');
    const second = await startNpmStart({ ports: { temporal: service.ports.temporal }, env: SERVICE_ENV, ready: false });
    try {
      const code = await second.exited;
      const said = second.tail();
      assert.equal(code, 1, `it stops with exit code 1:\n${said}`);
      assert.match(said, new RegExp(`127\\.0\\.0\\.1:${service.ports.temporal} \\(Temporal dev server, TEMPORAL_PORT\\) is held by pid ${server}`));
      assert.match(said, /TEMPORAL_PORT=\d+/, 'it says how to choose another port');
      assert.ok(!fs.existsSync(path.join(second.dataDir, 'temporal.db')), 'it started no dev server');
      assert.deepEqual(second.pidsOf('worker/main.ts'), [], 'and no worker');
    } finally {
      await second.stop();
    }
    const live = await call('GET', '/livez');
    assert.equal(live.status, 200, 'the first instance keeps running');
  });
});
