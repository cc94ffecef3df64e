/**
 * Isolation as a new user meets it: `npm start` (the real script, its own dev server, worker and
 * API) with API keys for two tenants. Tenant A's eight CardDAV imports point at a server that sends
 * one byte every 5 s, then at one whose answer never ends; tenant B's 2,500-contact Google import
 * completes beside them each time. The worker stays one process (not restarted), its RSS far below
 * 1 GB, and A's imports say why they wait.
 *
 * B's times (alone, beside the dribbling imports, beside the endless ones) and the worker's peak RSS
 * are printed for bench/README.md ("Fairness and isolation between tenants"); they are figures of a
 * shared machine, so nothing here asserts on them but the memory bound.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImportView } from '../api/schemas';
import { openStore } from '../db';
import { uniqueId, waitFor } from './support/harness';
import { startHostileServer, type HostileServer } from '../demo-provider/hostile-server';
import { startNpmStart, type NpmStart } from './support/npm-start';

const CONTACTS = 2_500;
const NOISY_IMPORTS = 8;
const ONE_GB = 1024 ** 3;

/** The resident set of process `pid`, in bytes. */
function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

describe('two tenants under npm start', { timeout: 900_000 }, () => {
  let service: NpmStart;
  let hostile: HostileServer;
  const keys: Record<'a' | 'b', string> = { a: '', b: '' };

  before(async () => {
    hostile = await startHostileServer();
    service = await startNpmStart({ env: { DEMO_CONTACTS: String(CONTACTS) } });
    const store = await openStore({ kind: 'sqlite', file: path.join(service.dataDir, 'contacts.db') });
    try {
      keys.a = (await store.apiKeys.create({ scope: 'tenant', tenant: 'tenant-a', name: 'isolation a' })).key;
      keys.b = (await store.apiKeys.create({ scope: 'tenant', tenant: 'tenant-b', name: 'isolation b' })).key;
    } finally {
      await store.close();
    }
  });
  after(async () => {
    await service?.stop();
    await hostile?.close();
  });

  async function call(tenant: 'a' | 'b', method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(service.apiUrl + route, {
      method,
      headers: { authorization: `Bearer ${keys[tenant]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
  }
  async function start(tenant: 'a' | 'b', source: unknown): Promise<string> {
    const res = await call(tenant, 'POST', '/v1/imports', { userId: uniqueId(`npm-start-${tenant}`), source });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    return ImportView.parse(res.json).importId;
  }
  const view = async (tenant: 'a' | 'b', importId: string) => ImportView.parse((await call(tenant, 'GET', `/v1/imports/${importId}`)).json);

  /** Tenant B's import, from its POST to the status that says it completed; seconds. */
  async function timeTenantB(): Promise<number> {
    const started = performance.now();
    const importId = await start('b', { provider: 'google-people', accessToken: 'demo-token' });
    const done = await waitFor(async () => {
      const status = await view('b', importId);
      return status.state !== 'running' && status;
    }, `tenant B's import to end (npm start said:\n${service.tail()})`, 300_000);
    assert.equal(done.state, 'completed', JSON.stringify(done));
    assert.equal(done.saved, CONTACTS);
    return Math.round((performance.now() - started) / 10) / 100;
  }

  async function cancelAll(importIds: readonly string[]): Promise<void> {
    for (const importId of importIds) await call('a', 'POST', `/v1/imports/${importId}/cancel`);
    for (const importId of importIds) await waitFor(async () => (await view('a', importId)).state === 'cancelled', `import ${importId} to cancel`, 180_000);
  }

  it("completes tenant B's import beside tenant A's dribbling and endless sources, in one worker well under 1 GB", async () => {
    const [worker] = service.pidsOf('worker/main.ts');
    assert.ok(worker, `no worker process (npm start said:\n${service.tail()})`);
    let peakRss = rssOf(worker);
    const sampler = setInterval(() => {
      if (fs.existsSync(`/proc/${worker}`)) peakRss = Math.max(peakRss, rssOf(worker));
    }, 200);
    try {
      await timeTenantB();
      const alone = await timeTenantB();

      const dribbling: string[] = [];
      for (let i = 0; i < NOISY_IMPORTS; i += 1) {
        dribbling.push(await start('a', { provider: 'carddav', url: `${hostile.url}/dribble/?every=5000`, username: 'alice', password: 'secret-pw' }));
      }
      await waitFor(() => (hostile.requests.dribble ?? 0) >= 2, "tenant A's imports to reach the dribbling server");
      const besideDribbling = await timeTenantB();
      await cancelAll(dribbling);

      const endless: string[] = [];
      for (let i = 0; i < NOISY_IMPORTS; i += 1) {
        endless.push(await start('a', { provider: 'carddav', url: `${hostile.url}/endless/`, username: 'alice', password: 'secret-pw' }));
      }
      const waiting = await waitFor(async () => (await view('a', endless[0]!)).waiting, 'an endless import to say why it waits', 180_000);
      assert.equal(waiting.reason, 'response_too_large', JSON.stringify(waiting));
      const besideEndless = await timeTenantB();
      await cancelAll(endless);

      assert.deepEqual(service.pidsOf('worker/main.ts'), [worker], 'the worker was restarted');
      assert.ok(peakRss < ONE_GB, `the worker grew to ${Math.round(peakRss / 2 ** 20)} MB`);
      const ratio = (seconds: number) => Math.round((seconds / alone) * 100) / 100;
      console.log(
        `isolation under npm start: tenant B's ${CONTACTS} contacts alone ${alone} s; beside ${NOISY_IMPORTS} dribbling imports of A ` +
          `${besideDribbling} s (${ratio(besideDribbling)}x); beside ${NOISY_IMPORTS} endless ones ${besideEndless} s (${ratio(besideEndless)}x); ` +
          `worker peak RSS ${Math.round(peakRss / 2 ** 20)} MB; the endless server sent ${Math.round(hostile.bytesSent / 2 ** 20)} MB in all`,
      );
    } finally {
      clearInterval(sampler);
    }
  });
});
