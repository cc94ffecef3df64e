/**
 * The rate governor (`providers/kit/governor.ts`) over a real store, without Temporal: two governors
 * on two connections stand for two workers. A closure stops both; an app budget nobody configured
 * is learned from the demo provider's 429s; credentials share an app budget fairly; long waits fail
 * as `ProviderThrottled`; metrics carry the provider and the key's kind only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { GOVERNOR_DEFAULTS } from '../config/defaults';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { type Budget, type BudgetKey } from '../providers/kit/budgets';
import { createRequestGovernor, type GovernorObserver, type GovernorOptions, type Refusal, type RequestGovernor } from '../providers/kit/governor';
import { parseRetryAfter } from '../providers/kit/retry-after';
import { FAILURE_TYPES } from '../workflows/contract';
import { storeCases, uniqueId } from './support/harness';

const sqlite = storeCases()[0]!;

function key(kind: string, scope: BudgetKey['scope'], budget: Budget, id = uniqueId(`gov-${kind}`)): BudgetKey {
  return { provider: 'test-provider', kind, scope, id, budget };
}

const LEARN: Budget = { rate: 'learn', concurrency: null };

/**
 * Stands for a request's I/O: SQLite answers synchronously, so a loop of governed requests whose
 * send does no I/O would never let a timer run.
 */
const io = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the rate governor', () => {
  let stores: Store[];
  let provider: DemoProvider;

  function governor(at: number, overrides: Partial<GovernorOptions> = {}): RequestGovernor {
    return createRequestGovernor({ state: (stores[at] as Store).budgets, ...GOVERNOR_DEFAULTS, warn: () => undefined, ...overrides });
  }

  before(async () => {
    stores = [await sqlite.open(), await sqlite.open()];
    provider = await startDemoProvider({ contacts: 100_000 });
  });
  after(async () => {
    await provider.close();
    for (const store of stores) await store.close();
  });

  it('closes the key a 429 names for every worker until its Retry-After ends, then sends again', async () => {
    const user = key('user', 'credential', LEARN);
    const app = key('app', 'app', { rate: null, concurrency: 1 });
    const [a, b] = [governor(0), governor(1)];
    let refusedAt = 0;
    let sentAgainAt = 0;
    const otherSends: number[] = [];
    let stop = false;
    // Worker B sends as fast as its budgets let it.
    const other = (async () => {
      while (!stop) {
        await b.run({ keys: [key('user', 'credential', LEARN), app], send: async () => otherSends.push(await io().then(() => Date.now())), refusal: () => null });
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    let sends = 0;
    await a.run({
      keys: [user, app],
      send: async () => {
        sends += 1;
        if (sends === 1) return (refusedAt = Date.now());
        return (sentAgainAt = Date.now());
      },
      refusal: (): Refusal | null => (sends === 1 ? { kind: 'app', status: 429, retryAfterMs: 1500 } : null),
    });
    stop = true;
    await other;
    assert.equal(sends, 2, 'sent again once the key reopened');
    assert.ok(sentAgainAt - refusedAt >= 1500, `sent again ${sentAgainAt - refusedAt} ms after the 429`);
    const during = otherSends.filter((at) => at > refusedAt && at < refusedAt + 1500);
    assert.deepEqual(during, [], 'the other worker sent nothing on the closed key');
    assert.ok(otherSends.some((at) => at < refusedAt) && otherSends.some((at) => at >= refusedAt + 1500), 'the other worker sent before and after');
  });

  it('learns an app budget nobody configured from the provider’s 429s: few refusals, most of the quota used', async () => {
    provider.resetStats();
    provider.configure({ faults: { appQuota: '10/s' } });
    const app = key('app', 'app', LEARN);
    const gov = governor(0);
    const seconds = 6;
    const end = Date.now() + seconds * 1000;
    const list = () => fetch(`${provider.url}/v1/people/me/connections?personFields=names&pageSize=1`, { headers: { Authorization: 'Bearer learn' } });
    try {
      await Promise.all(
        Array.from({ length: 3 }, async (_, i) => {
          while (Date.now() < end) {
            const answer = await gov.run({
              keys: [key('user', 'credential', LEARN, `gov-learn-user-${i}`), app],
              send: async () => {
                const response = await list();
                await response.arrayBuffer();
                return response;
              },
              refusal: (response) => (response.status === 429 ? { kind: 'app', status: 429, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) } : null),
            });
            assert.ok(answer.status === 200 || answer.status === 429, `answered ${answer.status}`);
          }
        }),
      );
    } finally {
      provider.configure({ faults: {} });
    }
    const { requests, quotaRefusals, pagesServed } = provider.stats;
    assert.ok(quotaRefusals >= 1, 'the provider refused at least once (or nothing was learned)');
    assert.ok(quotaRefusals / requests <= 0.15, `${quotaRefusals} of ${requests} requests refused`);
    assert.ok(pagesServed / seconds >= 0.5 * 10, `${pagesServed} pages in ${seconds} s: under half the quota`);
  });

  it('gives each credential a fair share of the app budget, however many requests it has in flight', async () => {
    const app = key('app', 'app', { rate: { count: 20, perMs: 1000 }, concurrency: null });
    const [greedy, modest] = [key('user', 'credential', LEARN), key('user', 'credential', LEARN)];
    const gov = governor(0);
    const sent = { greedy: 0, modest: 0 };
    const end = Date.now() + 2000;
    const loop = async (who: keyof typeof sent, credential: BudgetKey) => {
      while (Date.now() < end) await gov.run({ keys: [credential, app], send: async () => io().then(() => (sent[who] += 1)), refusal: () => null });
    };
    await Promise.all([loop('greedy', greedy), loop('greedy', greedy), loop('greedy', greedy), loop('greedy', greedy), loop('modest', modest)]);
    const total = sent.greedy + sent.modest;
    assert.ok(total >= 35 && total <= 46, `${total} requests in 2 s at 20/s`);
    assert.ok(sent.modest / total >= 0.4, `the credential with one request in flight got ${sent.modest} of ${total}`);
  });

  it('fails a request as ProviderThrottled, after the wait, when its key stays closed longer than a batch waits', async () => {
    const app = key('app', 'app', LEARN);
    await (stores[0] as Store).budgets.close(app.id, { forMs: 30_000, by: 429, learn: false, epoch: 0, increaseFraction: 0.1 });
    let sent = false;
    const failure = await governor(1)
      .run({ keys: [app], send: async () => (sent = true), refusal: () => null })
      .then(
        () => assert.fail('the request was sent on a closed key'),
        (error: unknown) => error,
      );
    assert.ok(failure instanceof ApplicationFailure, String(failure));
    assert.equal(failure.type, FAILURE_TYPES.providerThrottled);
    assert.equal(failure.nonRetryable, false);
    const delay = msToNumber(failure.nextRetryDelay ?? 0);
    assert.ok(delay > 29_000 && delay <= 30_000, `nextRetryDelay ${delay} ms`);
    assert.equal(sent, false);
  });

  it('hands the refusal back after sending again maxRefusals times, and an outage at once', async () => {
    const app = key('app', 'app', LEARN);
    let sends = 0;
    const answer = await governor(0, { maxRefusals: 3 }).run({
      keys: [app],
      send: async () => (sends += 1),
      refusal: (): Refusal => ({ kind: 'app', status: 429, retryAfterMs: 0 }),
    });
    assert.equal(answer, 3);
    assert.equal(sends, 3);
    let outages = 0;
    await governor(0).run({ keys: [key('app', 'app', LEARN)], send: async () => (outages += 1), refusal: (): Refusal => ({ kind: 'app', status: 503, retryAfterMs: undefined }) });
    assert.equal(outages, 1, 'a 503 naming no time is not sent again: the batch retries it as an outage');
  });

  it('ends a waiting request with its signal’s reason and gives its lease back', async () => {
    const app = key('app', 'app', { rate: null, concurrency: 1 });
    const gov = governor(0);
    let release!: () => void;
    const holding = gov.run({ keys: [app], send: () => new Promise<void>((resolve) => (release = resolve)), refusal: () => null });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const controller = new AbortController();
    const waiting = gov.run({ keys: [app], send: async () => assert.fail('sent while another held the only slot'), refusal: () => null, signal: controller.signal });
    const reason = new Error('cancelled');
    controller.abort(reason);
    await assert.rejects(waiting, (error) => error === reason);
    release();
    await holding;
    let sent = false;
    await gov.run({ keys: [app], send: async () => (sent = true), refusal: () => null });
    assert.equal(sent, true, 'the slot came back');
  });

  it('reports grants, waits and 429s by provider and key kind only', async () => {
    const events: string[] = [];
    const observer: GovernorObserver = {
      granted: (p, kind, waitedMs) => events.push(`granted ${p} ${kind} ${waitedMs > 0 ? 'waited' : 'at once'}`),
      waiting: (p, kind, delta) => events.push(`waiting ${p} ${kind} ${delta}`),
      throttled: (p, kind) => events.push(`throttled ${p} ${kind}`),
    };
    const app = key('app', 'app', { rate: { count: 10, perMs: 1000 }, concurrency: null });
    const gov = governor(0, { observer });
    let sends = 0;
    await gov.run({
      keys: [app],
      send: async () => (sends += 1),
      refusal: (): Refusal | null => (sends === 1 ? { kind: 'app', status: 429, retryAfterMs: 200 } : null),
    });
    assert.deepEqual(events, [
      'granted test-provider app at once',
      'throttled test-provider app',
      'waiting test-provider app 1',
      'waiting test-provider app -1',
      'granted test-provider app waited',
    ]);
    assert.ok(events.every((event) => !event.includes(app.id)), 'no event names the key');
  });
});
