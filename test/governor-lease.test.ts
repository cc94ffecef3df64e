/**
 * A crashed worker's concurrency lease comes back within seconds: a real process holding the only
 * slot of a key (test/support/lease-holder.ts) keeps it while it lives, renewing it past its TTL,
 * and once SIGKILLed, another worker's request gets the slot within the lease's TTL
 * (`GOVERNOR_DEFAULTS.leaseTtlMs`), on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GOVERNOR_DEFAULTS } from '../config/defaults';
import type { Store } from '../db/types';
import { createRequestGovernor } from '../providers/kit/governor';
import { storeCases, uniqueId } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const TTL = GOVERNOR_DEFAULTS.leaseTtlMs;

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

for (const storeCase of storeCases()) {
  describe(`a crashed worker's lease (${storeCase.name})`, { skip: storeCase.skip }, () => {
    let store: Store;
    let holder: ChildProcess | undefined;

    before(async () => {
      store = await storeCase.open();
    });
    after(async () => {
      if (holder) {
        holder.kill('SIGKILL');
        await exited(holder);
      }
      await store.close();
    });

    it('stays held while its worker lives, and comes back within the TTL once the worker is SIGKILLed', async (t) => {
      const key = uniqueId('gov-crash');
      const env: NodeJS.ProcessEnv = { ...process.env, ...storeCase.env, LEASE_HOLDER_KEY: key };
      if (storeCase.name === 'sqlite') env.LEASE_HOLDER_SQLITE = path.join(storeCase.env.DATA_DIR as string, 'contacts.db');
      const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/lease-holder.ts')], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      holder = proc;
      await new Promise<void>((resolve, reject) => {
        let output = '';
        proc.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('lease-holder: holding')) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`lease-holder exited (${code}) before holding the lease`)));
      });

      const governor = createRequestGovernor({ state: store.budgets, ...GOVERNOR_DEFAULTS, warn: () => undefined });
      const slot = { provider: 'test-provider', kind: 'app', scope: 'app' as const, id: key, budget: { rate: null, concurrency: 1 } };
      let sentAt = 0;
      const waiting = new AbortController();
      const request = governor.run({ keys: [slot], send: async () => (sentAt = Date.now()), refusal: () => null, signal: waiting.signal });
      // Alive, it renews: past one and a half TTLs the slot is still its own.
      await new Promise((resolve) => setTimeout(resolve, TTL * 1.5));
      assert.equal(sentAt, 0, 'the slot was taken from a live worker');

      const killedAt = Date.now();
      proc.kill('SIGKILL');
      await exited(proc);
      const timer = setTimeout(() => waiting.abort(new Error(`no slot ${2 * TTL} ms after the kill`)), 2 * TTL);
      try {
        await request;
      } finally {
        clearTimeout(timer);
      }
      const returnedMs = sentAt - killedAt;
      t.diagnostic(`the lease came back ${returnedMs} ms after the kill`);
      assert.ok(returnedMs <= TTL + 1000, `the lease came back ${returnedMs} ms after the kill (TTL ${TTL} ms)`);
    });
  });
}
