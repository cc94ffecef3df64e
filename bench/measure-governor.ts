/**
 * The rate governor against a provider that enforces an app-wide quota: the demo provider refuses
 * with `429` and `Retry-After` beyond {@link QUOTA} (`faults.appQuota`), counted over every user of
 * the app. Two worker processes on one store and `--governor-imports` (10) imports of distinct users
 * started at once, `--governor-contacts` (3,000) each at {@link PAGE_SIZE} contacts a page, in three
 * configurations: the app's rate configured at the quota (`GOOGLE_PEOPLE_APP_RATE`), nothing
 * configured (the rate learned from the `429`s), and `PROVIDER_GOVERNOR=off`.
 *
 * Each configuration gets a data directory (so a SQLite store and governor state) and a task queue
 * of its own, and a fresh quota at the provider, so learning starts from nothing. Figures: the
 * requests the provider saw and refused, the imports' time (first start to last completion, as the
 * imports report them) against the quota's ideal (accepted requests ÷ quota), the share of the
 * quota used, and whether every import saved exactly what the provider holds. See bench/README.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImportView } from '../api/schemas';
import type { ImportsApi } from './http-client';
import { startService, startWorker, stopService, type BenchRun, type Service, type Teardown } from './service';
import { fmt, round, sleep } from './support';

/** The provider's app-wide quota, and the same figure as the governor's budget syntax. */
export const QUOTA = { perSecond: 20, budget: '20/s' } as const;
/** Contacts per request: the issue's page size, so that the imports make hundreds of requests. */
export const PAGE_SIZE = 100;

export const GOVERNOR_CONFIGURATIONS = ['configured', 'learning', 'off'] as const;
export type GovernorConfiguration = (typeof GOVERNOR_CONFIGURATIONS)[number];

/** The worker's environment in each configuration. */
const CONFIGURATION_ENV: Record<GovernorConfiguration, Record<string, string>> = {
  configured: { GOOGLE_PEOPLE_APP_RATE: QUOTA.budget },
  // Against the demo provider an unset Google budget learns (docs/provider-limits.md).
  learning: {},
  off: { PROVIDER_GOVERNOR: 'off' },
};

/** What the provider and the imports say about one run of the imports under the quota ({@link importsUnderQuota}). */
export interface QuotaFigures {
  /** Contact requests the provider received, refused ones included. */
  requests: number;
  /** Of them, refused by the quota with `429`. */
  refused: number;
  /** `refused / requests`, in %. */
  refusedPercent: number;
  /** First import's start to last import's completion, as the imports report them. */
  seconds: number;
  /** The provider's first to last request arrival. */
  providerSpanSeconds: number;
  /** Accepted requests ÷ quota: the time the quota itself needs for the pages. */
  idealSeconds: number;
  /** `seconds / idealSeconds`. */
  ratio: number;
  /** Accepted requests ÷ (quota × seconds), in %. */
  quotaUsedPercent: number;
  /** Accepted requests in the busiest second (by arrival), against the quota. */
  peakAcceptedPerSecond: number;
  /** Every import completed with exactly `contactsEach` saved, in its view and in the store. */
  exact: boolean;
  /** Imports that were not: `state, saved (view) / rows (store)`. */
  inexact: string[];
}

export interface GovernorRow extends QuotaFigures {
  configuration: GovernorConfiguration;
  /** What the workers ran with beyond the bench's environment. */
  env: Record<string, string>;
  workers: number;
  imports: number;
  contactsEach: number;
  pageSize: number;
  quotaPerSecond: number;
}

/** Runs the three configurations one after the other, each on workers, an API and a store of its own. */
export async function measureGovernor(run: BenchRun, teardown: Teardown): Promise<GovernorRow[]> {
  const rows: GovernorRow[] = [];
  for (const configuration of GOVERNOR_CONFIGURATIONS) rows.push(await measureConfiguration(run, teardown, configuration));
  return rows;
}

async function measureConfiguration(run: BenchRun, teardown: Teardown, configuration: GovernorConfiguration): Promise<GovernorRow> {
  const { progress, options } = run;
  const { governorImports: imports, governorContacts: each } = options;
  const env = CONFIGURATION_ENV[configuration];
  const baseEnv = scenarioEnv(run, teardown, `governor-${configuration}`, env, ['GOOGLE_PEOPLE_APP_RATE', 'PROVIDER_GOVERNOR']);
  progress(`governor (${configuration}): 2 workers, ${imports} imports of ${fmt(each)} at ${PAGE_SIZE} a page, the provider's app quota ${QUOTA.budget}${Object.keys(env).length ? `, ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ', nothing configured'}`);
  const service = await startService({ ...run, baseEnv }, 'sqlite', teardown);
  const second = await startWorker(service.env, `worker-2-${configuration}`);
  try {
    const figures = await importsUnderQuota(run, service, `${run.tag}governor-${configuration}`);
    const row: GovernorRow = { configuration, env, workers: 2, imports, contactsEach: each, pageSize: PAGE_SIZE, quotaPerSecond: QUOTA.perSecond, ...figures };
    progress(`  ${describeQuotaFigures(row)}`);
    return row;
  } finally {
    await second.stop();
    await stopService(run, service);
    await run.provider.configure({ contacts: options.contacts, faults: {} });
  }
}

/**
 * The environment of one configuration's workers and API: the bench's, with a data directory (so a
 * store and governor state) and a task queue of their own, `name` in both, the scenario's page size
 * and `env`. Of the `managed` variables, only those `env` sets: the bench's environment may hold others.
 */
export function scenarioEnv(run: BenchRun, teardown: Teardown, name: string, env: Record<string, string>, managed: readonly string[]): NodeJS.ProcessEnv {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `contacts-bench-${name}-`));
  teardown.add(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const baseEnv: NodeJS.ProcessEnv = { ...run.baseEnv, DATA_DIR: dataDir, TEMPORAL_TASK_QUEUE: `${run.tag}${name}`, IMPORT_PAGE_SIZE: String(PAGE_SIZE), ...env };
  for (const key of managed) if (!(key in env)) delete baseEnv[key];
  return baseEnv;
}

/**
 * The scenario every configuration runs: a fresh quota of {@link QUOTA} at the provider, then
 * `--governor-imports` imports of `--governor-contacts` each, users `<prefix>-<i>`, started at once
 * through `service`'s API and waited for; what the provider saw and whether each import is exact.
 */
export async function importsUnderQuota(run: BenchRun, service: Service, prefix: string): Promise<QuotaFigures> {
  const { governorImports: imports, governorContacts: each } = run.options;
  // No quota first, so that the next one starts with a full bucket of its own.
  await run.provider.configure({ contacts: each, faults: {} });
  await run.provider.configure({ faults: { appQuota: QUOTA.budget } });
  await run.provider.resetStats();
  const started = await Promise.all(Array.from({ length: imports }, (_, i) => service.imports.postImport(`${prefix}-${i}`)));
  const ended = await waitAll(service.imports, started.map(({ view }) => view.importId), 900_000);
  const stats = await run.provider.stats();

  const inexact: string[] = [];
  for (const view of ended) {
    const rows = await service.admin.count(view.userId);
    if (view.state !== 'completed' || view.saved !== each || rows !== each) inexact.push(`${view.state}, ${view.saved} / ${rows}`);
  }
  const seconds = (Math.max(...ended.map((v) => Date.parse(v.completedAt ?? v.updatedAt))) - Math.min(...ended.map((v) => Date.parse(v.startedAt)))) / 1000;
  const accepted = stats.requests - stats.quotaRefusals;
  const idealSeconds = accepted / QUOTA.perSecond;
  const arrivals = stats.arrivals;
  return {
    requests: stats.requests,
    refused: stats.quotaRefusals,
    refusedPercent: round((100 * stats.quotaRefusals) / Math.max(1, stats.requests), 2),
    seconds: round(seconds, 2),
    providerSpanSeconds: arrivals.length > 1 ? round((arrivals[arrivals.length - 1]! - arrivals[0]!) / 1000, 2) : 0,
    idealSeconds: round(idealSeconds, 2),
    ratio: round(seconds / idealSeconds, 2),
    quotaUsedPercent: round((100 * accepted) / (QUOTA.perSecond * seconds), 1),
    peakAcceptedPerSecond: peakPerSecond(arrivals, stats.refusedAt),
    exact: inexact.length === 0,
    inexact,
  };
}

/** One line of progress for {@link QuotaFigures}. */
export function describeQuotaFigures(f: QuotaFigures): string {
  return (
    `${f.requests} requests, ${f.refused} refused (${f.refusedPercent} %), ${f.seconds} s against ${f.idealSeconds} s ideal (${f.ratio}×), ` +
    `${f.quotaUsedPercent} % of the quota used, peak ${f.peakAcceptedPerSecond} accepted/s, ${f.exact ? 'every import exact' : `NOT exact: ${f.inexact.join('; ')}`}`
  );
}

/**
 * Accepted requests in the busiest one-second window: arrivals less refusals, both logged by the
 * provider in milliseconds (a refusal is logged as it arrives, so the two line up).
 */
function peakPerSecond(arrivals: readonly number[], refusedAt: readonly number[]): number {
  const refused = new Map<number, number>();
  for (const at of refusedAt) refused.set(at, (refused.get(at) ?? 0) + 1);
  const accepted: number[] = [];
  for (const at of arrivals) {
    const left = refused.get(at) ?? 0;
    if (left > 0) refused.set(at, left - 1);
    else accepted.push(at);
  }
  let peak = 0;
  for (let first = 0, last = 0; last < accepted.length; last += 1) {
    while (accepted[last]! - accepted[first]! >= 1000) first += 1;
    peak = Math.max(peak, last - first + 1);
  }
  return peak;
}

/** Waits for every import to end, reading each twice a second; resolves to their last views. */
async function waitAll(imports: ImportsApi, ids: readonly string[], timeoutMs: number): Promise<ImportView[]> {
  const ended = new Map<string, ImportView>();
  const deadline = Date.now() + timeoutMs;
  while (ended.size < ids.length) {
    if (Date.now() > deadline) throw new Error(`${ids.length - ended.size} governor imports still running after ${timeoutMs / 1000} s`);
    await sleep(500);
    for (const id of ids) {
      if (ended.has(id)) continue;
      const view = await imports.getImport(id);
      if (view.state !== 'running' && view.state !== 'paused') ended.set(id, view);
    }
  }
  return ids.map((id) => ended.get(id)!);
}
