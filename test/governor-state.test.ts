/**
 * The rate governor's shared state (`db/rate-budgets.ts`) under contention, on both stores: many
 * acquirers over two store instances (two connections, as two workers have) never share a slot or
 * exceed a concurrency; a closure holds every grant back; a learned rate starts at the first 429;
 * an import's status reads the closure of its keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BudgetStore, Store } from '../db/types';
import { storeCases, uniqueId } from './support/harness';

const FAR = 120_000;
const close429 = { forMs: 1500, by: 429 as const, learn: false, epoch: 0, increaseFraction: 0.1 };

for (const storeCase of storeCases()) {
  describe(`budget state (${storeCase.name})`, { skip: storeCase.skip }, () => {
    let one: Store;
    let two: Store;
    /** Two connections to one database, as two workers would hold. */
    let budgets: [BudgetStore, BudgetStore];

    before(async () => {
      one = await storeCase.open();
      two = await storeCase.open();
      budgets = [one.budgets, two.budgets];
    });
    after(async () => {
      await one.close();
      await two.close();
    });

    it('gives 30 concurrent acquirers on two connections distinct slots, exactly one interval apart', async () => {
      const key = uniqueId('gov-rate');
      const intervalMs = 20;
      const starts: number[] = [];
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const state = budgets[i % 2] as BudgetStore;
          for (let n = 0; n < 10; n++) {
            const reservation = await state.reserve(key, { mode: 'fixed', intervalMs }, FAR);
            assert.equal(reservation.granted, true, 'every slot within the wait is granted');
            starts.push(reservation.reservedAt + reservation.waitMs);
          }
        }),
      );
      starts.sort((a, b) => a - b);
      assert.equal(starts.length, 300);
      for (let i = 1; i < starts.length; i++) {
        const gap = (starts[i] as number) - (starts[i - 1] as number);
        assert.ok(gap >= intervalMs - 0.01, `slots ${i - 1} and ${i} are ${gap} ms apart, less than the ${intervalMs} ms interval`);
      }
      // Every slot was taken at once and queued: the last starts about 299 intervals after the first.
      const span = (starts.at(-1) as number) - (starts[0] as number);
      assert.ok(span >= 299 * intervalMs - 1 && span < 299 * intervalMs + 2_000, `300 slots span ${span} ms`);
    });

    it('refuses a slot beyond the wait the caller accepts, and says when the next one is', async () => {
      const key = uniqueId('gov-max');
      const first = await budgets[0].reserve(key, { mode: 'fixed', intervalMs: 1000 }, 500);
      const second = await budgets[1].reserve(key, { mode: 'fixed', intervalMs: 1000 }, 500);
      assert.equal(first.granted, true);
      assert.equal(second.granted, false, 'the next slot is a second away, the caller waits half');
      assert.ok(second.waitMs > 500 && second.waitMs <= 1000, `next slot in ${second.waitMs} ms`);
      const third = await budgets[1].reserve(key, { mode: 'fixed', intervalMs: 1000 }, 2000);
      assert.equal(third.granted, true, 'the refused reservation took nothing: the next caller gets that slot');
      assert.ok(third.waitMs > 500 && third.waitMs <= 1000, `granted ${third.waitMs} ms ahead`);
    });

    it('never lets more requests hold a key than its concurrency, across 20 acquirers on two connections', async () => {
      const key = uniqueId('gov-slots');
      const limit = 3;
      let holding = 0;
      let most = 0;
      let cycles = 0;
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const state = budgets[i % 2] as BudgetStore;
          const holder = `test:${i}`;
          for (let n = 0; n < 4; n++) {
            let slot: number | null;
            while ((slot = await state.acquireSlot(key, limit, holder, 30_000)) === null) await new Promise((r) => setTimeout(r, 2));
            holding += 1;
            most = Math.max(most, holding);
            await new Promise((r) => setTimeout(r, 3 + (i % 5)));
            holding -= 1;
            cycles += 1;
            await state.releaseSlot(key, slot, holder);
          }
        }),
      );
      assert.equal(cycles, 80);
      assert.ok(most <= limit, `${most} requests held the key at once, over its concurrency of ${limit}`);
      assert.equal(most, limit, 'the slots were all in use at some point');
    });

    it('gives a slot whose lease was not renewed to the next caller once its TTL passes', async () => {
      const key = uniqueId('gov-ttl');
      assert.equal(await budgets[0].acquireSlot(key, 1, 'crashed', 300), 0);
      assert.equal(await budgets[1].acquireSlot(key, 1, 'next', 300), null, 'held while its lease lives');
      assert.equal(await budgets[0].renewSlot(key, 0, 'next', 300), false, 'only its holder renews it');
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(await budgets[1].acquireSlot(key, 1, 'next', 300), 0, 'free once the lease expired');
      assert.equal(await budgets[0].renewSlot(key, 0, 'crashed', 300), false, 'the old holder lost it');
    });

    it('holds every grant back until a closure ends, on any connection', async () => {
      const key = uniqueId('gov-close');
      await budgets[0].reserve(key, { mode: 'none' }, FAR);
      const remaining = await budgets[0].close(key, close429);
      assert.ok(remaining > 1400 && remaining <= 1500, `closed for ${remaining} ms`);
      const held = await budgets[1].reserve(key, { mode: 'none' }, FAR);
      assert.ok(held.waitMs > 1300 && held.waitMs <= 1500, `the next grant waits ${held.waitMs} ms`);
      const closed = await budgets[1].closedUntil([uniqueId('open-key'), key]);
      assert.ok(closed.until - closed.now > 1300 && closed.until - closed.now <= 1500, `closedUntil says ${closed.until - closed.now} ms ahead`);
      assert.equal((await budgets[1].closedUntil([uniqueId('open-key')])).until, 0);
      const shorter = await budgets[1].close(key, { ...close429, forMs: 100 });
      assert.ok(shorter > 1300, 'a shorter Retry-After does not reopen the key early');
    });

    it('learns a rate at the first 429 (half the last second’s), and lowers it again only for requests granted since', async () => {
      const key = uniqueId('gov-learn');
      for (let i = 0; i < 10; i++) {
        const free = await (budgets[i % 2] as BudgetStore).reserve(key, { mode: 'learn' }, FAR);
        assert.equal(free.waitMs, 0, 'nothing is held back before the first 429');
      }
      const refused = await budgets[0].reserve(key, { mode: 'learn' }, FAR);
      await budgets[0].close(key, { ...close429, forMs: 0, learn: true, epoch: refused.epoch });
      // 11 grants in the last second, halved: 5.5/s, an interval of about 182 ms.
      const a = await budgets[1].reserve(key, { mode: 'learn' }, FAR);
      const b = await budgets[1].reserve(key, { mode: 'learn' }, FAR);
      const interval = b.reservedAt + b.waitMs - (a.reservedAt + a.waitMs);
      assert.ok(interval > 150 && interval < 200, `learned interval ${interval} ms`);
      // A refusal of a request granted before that decrease changes nothing.
      await budgets[1].close(key, { ...close429, forMs: 0, learn: true, epoch: refused.epoch });
      const c = await budgets[0].reserve(key, { mode: 'learn' }, FAR);
      const same = c.reservedAt + c.waitMs - (b.reservedAt + b.waitMs);
      assert.ok(same > 150 && same < 215, `still about 182 ms (with the slow rise), got ${same}`);
      // One granted since: the interval doubles.
      await budgets[1].close(key, { ...close429, forMs: 0, learn: true, epoch: c.epoch });
      const d = await budgets[0].reserve(key, { mode: 'learn' }, FAR);
      const e = await budgets[0].reserve(key, { mode: 'learn' }, FAR);
      const doubled = e.reservedAt + e.waitMs - (d.reservedAt + d.waitMs);
      assert.ok(doubled > 300 && doubled < 420, `doubled interval ${doubled} ms`);
    });

    it("tells an import's status the latest closure among its keys, and forgets the user's registrations on erasure", async () => {
      const tenant = uniqueId('tenant');
      const user = uniqueId('user');
      const importKey = `${uniqueId('wf')}/run`;
      const [credential, app] = [uniqueId('gov-user'), uniqueId('gov-app')];
      await budgets[0].registerImport(tenant, user, importKey, [credential, app]);
      await budgets[1].registerImport(tenant, user, importKey, [credential, app]);
      assert.equal(await budgets[0].waitOf(tenant, importKey), null, 'nothing closed');
      await budgets[0].close(app, { ...close429, forMs: 3000 });
      await budgets[0].close(credential, { ...close429, forMs: 1000, by: 503 });
      const wait = await budgets[1].waitOf(tenant, importKey);
      assert.equal(wait?.cause, 'throttled', 'the app key closes longest, by a 429');
      const until = Date.parse(wait.until);
      assert.ok(until > Date.now() + 2000 && until <= Date.now() + 3000, `until ${wait.until}`);
      assert.equal(await budgets[1].waitOf(uniqueId('other-tenant'), importKey), null, "another tenant's import of the same key reads nothing");
      await one.tenant(tenant).deleteUser(user);
      assert.equal(await budgets[1].waitOf(tenant, importKey), null, 'erasure forgets which keys the import used');
    });
  });
}
