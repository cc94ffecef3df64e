/**
 * Budgets as written and declared (`providers/kit/budgets.ts`): the syntax, its errors, each
 * provider's keys and defaults (documented in docs/provider-limits.md), and which key a provider's
 * refusal closes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../config/parse';
import { PROVIDERS, readProviderSettings } from '../providers';
import { carddavRefusal } from '../providers/carddav/budgets';
import { googlePeopleRefusal } from '../providers/google-people/budgets';
import { microsoftGraphRefusal } from '../providers/microsoft-graph/budgets';
import { formatBudget, parseBudget, readBudgets, type BudgetDeclaration, type Budgets } from '../providers/kit/budgets';

const ROOT = path.resolve(__dirname, '..');
const rate = (count: number, perMs: number) => ({ count, perMs });
/** The budget of `kind` as written. */
const shown = (budgets: Budgets, kind: string) => formatBudget(budgets[kind] ?? assert.fail(`no ${kind} budget`));

describe('budgets', () => {
  it('reads a rate, a concurrency, both, learn and off', () => {
    assert.deepEqual(parseBudget('X', '20/s'), { rate: rate(20, 1000), concurrency: null });
    assert.deepEqual(parseBudget('X', '600/min'), { rate: rate(600, 60_000), concurrency: null });
    assert.deepEqual(parseBudget('X', '10000/10min'), { rate: rate(10_000, 600_000), concurrency: null });
    assert.deepEqual(parseBudget('X', '1_000 / h'), { rate: rate(1000, 3_600_000), concurrency: null });
    assert.deepEqual(parseBudget('X', '4'), { rate: 'learn', concurrency: 4 }, 'a concurrency alone leaves the rate to learn');
    assert.deepEqual(parseBudget('X', '10000/10min,4'), { rate: rate(10_000, 600_000), concurrency: 4 });
    assert.deepEqual(parseBudget('X', ' 4 , 10000/10MIN '), { rate: rate(10_000, 600_000), concurrency: 4 });
    assert.deepEqual(parseBudget('X', 'learn'), { rate: 'learn', concurrency: null });
    assert.deepEqual(parseBudget('X', 'off'), { rate: null, concurrency: null });
    for (const written of ['20/s', '600/min', '10000/10min', '4', '10000/10min,4', 'learn', 'off', '90/min,2']) {
      assert.equal(formatBudget(parseBudget('X', written)), written, `${written} reads back as written`);
    }
  });

  it('refuses what is not a budget, naming the variable and saying what it takes', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /got ""/],
      ['fast', /got "fast"/],
      ['0/s', /0 is not a whole number of 1 or more/],
      ['20/0s', /0 is not a whole number/],
      ['20/fortnight', /got "20\/fortnight"/],
      ['20/s,30/s', /names a rate twice/],
      ['4,5', /names a concurrency twice/],
      ['off,4', /off stands alone/],
      ['2.5/s', /got "2.5\/s"/],
    ];
    for (const [raw, why] of cases) {
      assert.throws(
        () => parseBudget('GOOGLE_PEOPLE_APP_RATE', raw),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message.startsWith('GOOGLE_PEOPLE_APP_RATE must be a rate such as 20/s, 600/min or 10000/10min, a concurrency such as 4') &&
          why.test(error.message),
        `"${raw}"`,
      );
    }
  });

  it('takes a declaration’s default when unset, learns instead where the default was not published for, and joins a concurrency variable', () => {
    const declarations: BudgetDeclaration[] = [
      { kind: 'mailbox', scope: 'credential', variable: 'T_MAILBOX_RATE', concurrencyVariable: 'T_MAILBOX_CONCURRENCY', default: '10000/10min', source: 'test' },
    ];
    assert.deepEqual(readBudgets({}, declarations).mailbox, { rate: rate(10_000, 600_000), concurrency: null });
    assert.deepEqual(readBudgets({}, declarations, false).mailbox, { rate: 'learn', concurrency: null });
    const bounded: BudgetDeclaration[] = [{ ...(declarations[0] as BudgetDeclaration), default: '10000/10min,4' }];
    assert.deepEqual(readBudgets({}, bounded, false).mailbox, { rate: 'learn', concurrency: 4 }, 'a declared concurrency holds where the rate is learned');
    assert.deepEqual(readBudgets({ T_MAILBOX_CONCURRENCY: '4' }, declarations).mailbox, { rate: rate(10_000, 600_000), concurrency: 4 });
    assert.deepEqual(readBudgets({ T_MAILBOX_RATE: '5/s', T_MAILBOX_CONCURRENCY: '4' }, declarations).mailbox, { rate: rate(5, 1000), concurrency: 4 });
    assert.throws(() => readBudgets({ T_MAILBOX_RATE: '5/s,2', T_MAILBOX_CONCURRENCY: '4' }, declarations), /both set a concurrency/);
    assert.throws(() => readBudgets({ T_MAILBOX_CONCURRENCY: '4/s' }, declarations), /T_MAILBOX_CONCURRENCY must be a whole number of requests/);
  });

  it("budgets Google's own API by Google's published limits, and the demo provider or a proxy by learning", () => {
    const google = readProviderSettings({})['google-people'].budgets;
    assert.deepEqual([shown(google, 'user'), shown(google, 'app')], ['90/min', 'learn']);
    const demo = readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: 'http://127.0.0.1:8090' })['google-people'].budgets;
    assert.equal(shown(demo, 'user'), 'learn', 'a per-user quota Google publishes is not the demo provider’s');
    const set = readProviderSettings({ GOOGLE_PEOPLE_APP_RATE: '3000/min', GOOGLE_PEOPLE_USER_RATE: 'off' })['google-people'].budgets;
    assert.deepEqual([shown(set, 'app'), shown(set, 'user')], ['3000/min', 'off']);
    assert.throws(() => readProviderSettings({ CARDDAV_HOST_RATE: 'plenty' }), /CARDDAV_HOST_RATE must be a rate/);
  });

  it('documents every budget variable with its default in docs/provider-limits.md, which the README links', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/provider-limits.md'), 'utf8');
    for (const provider of PROVIDERS) {
      for (const declaration of (provider as { budgets?: readonly BudgetDeclaration[] }).budgets ?? []) {
        const row = doc.split('\n').find((line) => line.startsWith(`| \`${declaration.variable}\``));
        assert.ok(row, `docs/provider-limits.md has no row for ${declaration.variable}`);
        assert.ok(row.includes(`\`${declaration.default}\``), `its row gives the default ${declaration.default}: ${row}`);
      }
    }
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.split('\n## Provider limits\n')[1]?.split('\n## ')[0] ?? '';
    assert.match(section, /docs\/provider-limits\.md/, 'the README has a Provider limits section linking the details');
  });

  it('closes the key the provider names: Google’s per-user quota the user’s, any other its project’s; CardDAV’s and Graph’s 429 the account’s or mailbox’s', () => {
    const http = (status: number, message: string, retryAfter: string | null = null) => ({
      kind: 'http' as const,
      status,
      body: JSON.stringify({ error: { code: status, message, status: 'RESOURCE_EXHAUSTED' } }),
      retryAfter,
    });
    const perUser = "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'people.googleapis.com'.";
    const perProject = "Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)' and limit 'Critical read requests (Contact and Profile Reads) per minute' of service 'people.googleapis.com'.";
    assert.deepEqual(googlePeopleRefusal(http(429, perUser, '7')), { kind: 'user', status: 429, retryAfterMs: 7000 });
    assert.deepEqual(googlePeopleRefusal(http(429, perProject)), { kind: 'app', status: 429, retryAfterMs: undefined });
    assert.deepEqual(googlePeopleRefusal(http(503, 'unavailable', '3')), { kind: 'app', status: 503, retryAfterMs: 3000 });
    assert.equal(googlePeopleRefusal(http(500, 'internal')), null);
    assert.deepEqual(carddavRefusal({ status: 429, retryAfter: '2' }), { kind: 'account', status: 429, retryAfterMs: 2000 });
    assert.deepEqual(carddavRefusal({ status: 503, retryAfter: null }), { kind: 'host', status: 503, retryAfterMs: undefined });
    assert.equal(carddavRefusal({ status: 207, retryAfter: null }), null);
    assert.deepEqual(microsoftGraphRefusal({ status: 429, retryAfter: '5' }), { kind: 'mailbox', status: 429, retryAfterMs: 5000 });
    assert.deepEqual(microsoftGraphRefusal({ status: 503, retryAfter: '2' }), { kind: 'app', status: 503, retryAfterMs: 2000 });
    assert.equal(microsoftGraphRefusal({ status: 404, retryAfter: null }), null);
  });
});
