/**
 * 1. Throughput: the baseline loop (`bench/baseline.ts`, a process of its own) and one service import
 * of the same size, side by side, with the worker's RSS and every process's CPU seconds.
 */
import os from 'node:os';
import path from 'node:path';
import type { Provider } from '../workflows/contract';
import type { BaselineResult } from './baseline';
import { PROVIDER } from './http-client';
import type { HistoryFigures } from './measure-history';
import type { PlainLoopResult } from './plain-loop';
import type { Store } from './options';
import { serviceCpu, serviceCpuSince, type BenchRun, type Service } from './service';
import { RssSampler, cpuSeconds, fmt, mb, round, spawnScript } from './support';

/** CPU seconds each process used during one import. */
export interface CpuSplit {
  worker: number;
  api: number;
  temporal: number;
  /** This process: demo provider, polling, and (for the baseline) nothing else. */
  bench: number;
  /** The baseline's own process. */
  baseline?: number;
  /** The demo provider's process. */
  provider?: number;
}

/** The plain loop (`bench/plain-loop.ts`): nothing of the project, its own process and table. */
export interface PlainLoopFigures {
  seconds: number;
  contactsPerSecond: number;
  peakRssMB: number;
  /** Its own process, and the provider's. */
  cpuSeconds: { loop: number; provider: number };
}

export interface BaselineFigures {
  seconds: number;
  contactsPerSecond: number;
  peakRssMB: number;
  cpuSeconds: CpuSplit;
}

export interface ServiceFigures {
  contacts: number;
  seconds: number;
  contactsPerSecond: number;
  workerPeakRssMB: number;
  workerStartRssMB: number;
  cpuSeconds: CpuSplit;
}

/** One row of the throughput table; the history phase adds `history`. */
export interface ThroughputRow {
  store: Store;
  contacts: number;
  /** 1-minute load average after each part: other work on the machine skews every figure. */
  loadAverage?: { plainLoop?: number; baseline?: number; service?: number };
  /** What the service is measured against. */
  plainLoop?: PlainLoopFigures;
  /** The project's own code path in a loop: what orchestration costs ("orchestration cost" line). */
  baseline?: BaselineFigures;
  service?: ServiceFigures;
  /** Service / plain loop. */
  ratio?: number;
  /** Service / same-code-path baseline. */
  orchestrationRatio?: number;
  /** Worker CPU / plain-loop CPU for the same contacts (target ≤ 1.1). */
  cpuRatio?: number;
  history?: HistoryFigures;
}

/** The completed service import, for the history phase, and the worker's RSS during it (MB, 1 s apart). */
export interface ServiceImport {
  workflowId: string;
  firstRunId: string;
  rssSeries: Array<[number, number]>;
}

/**
 * Imports `row.contacts` with the baseline loop (when `withBaseline`) and then through the service,
 * checks the row counts, and deletes the rows. Fills `row` as figures arrive, so an error leaves in
 * it what was measured before.
 */
export async function measureThroughput(run: BenchRun, service: Service, row: ThroughputRow, withBaseline: boolean): Promise<ServiceImport> {
  const { progress } = run;
  const { store, contacts: n } = row;
  const { admin } = service;
  await run.provider.configure({ contacts: n });
  if (withBaseline) {
    progress(`${store} ${fmt(n)}: plain loop`);
    row.plainLoop = await runPlainLoop(run, service, n);
    progress(`  plain loop ${fmt(row.plainLoop.contactsPerSecond)} contacts/s (${row.plainLoop.seconds} s), CPU s ${JSON.stringify(row.plainLoop.cpuSeconds)}`);
    const user = `${run.tag}${store}-baseline-${n}`;
    progress(`${store} ${fmt(n)}: baseline loop`);
    row.baseline = await runBaseline(run, service, user, n);
    if ((os.loadavg()[0] ?? 0) > os.cpus().length) progress(`  note: load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} cores: something else is running`);
    const rows = await admin.count(user);
    if (rows !== n) throw new Error(`baseline left ${rows} rows, expected ${n}`);
    row.loadAverage = { baseline: round(os.loadavg()[0] ?? 0, 2) };
    progress(`  baseline ${fmt(row.baseline.contactsPerSecond)} contacts/s (${row.baseline.seconds} s)`);
    await admin.deleteUsers(user);
  }
  const user = `${run.tag}${store}-service-${n}`;
  progress(`${store} ${fmt(n)}: service import`);
  const { figures, imported } = await runService(run, service, user, n);
  const rows = await admin.count(user);
  if (rows !== n) throw new Error(`service import left ${rows} rows, expected ${n}`);
  row.service = figures;
  row.loadAverage = { ...row.loadAverage, service: round(os.loadavg()[0] ?? 0, 2) };
  if (row.plainLoop) {
    row.ratio = round(figures.contactsPerSecond / row.plainLoop.contactsPerSecond, 2);
    row.cpuRatio = round(figures.cpuSeconds.worker / row.plainLoop.cpuSeconds.loop, 2);
  }
  if (row.baseline) row.orchestrationRatio = round(figures.contactsPerSecond / row.baseline.contactsPerSecond, 2);
  progress(`  service ${fmt(figures.contactsPerSecond)} contacts/s (${figures.seconds} s), ratio ${row.ratio ?? '–'} (orchestration ${row.orchestrationRatio ?? '–'}), worker peak RSS ${figures.workerPeakRssMB} MB, CPU s ${JSON.stringify(figures.cpuSeconds)}`);
  await admin.deleteUsers(user);
  return imported;
}

/**
 * The plain loop in a process of its own, on its own table in the service's store, reading the
 * demo provider's People API, or its Microsoft Graph side (`api: 'graph'`).
 */
export async function runPlainLoop(run: BenchRun, service: Service, n: number, api: 'people' | 'graph' = 'people'): Promise<PlainLoopFigures> {
  const env: NodeJS.ProcessEnv = { ...process.env, PLAIN_LOOP_PROVIDER_URL: run.provider.url, PLAIN_LOOP_API: api };
  if (service.store === 'postgres') env.PLAIN_LOOP_POSTGRES_URL = run.options.postgresUrl;
  else env.PLAIN_LOOP_SQLITE_FILE = path.join(service.env.DATA_DIR ?? os.tmpdir(), 'plain-loop.db');
  const providerBefore = cpuSeconds(run.provider.pid);
  const child = spawnScript('plain-loop', 'bench/plain-loop.ts', env);
  const line = await child.waitFor(/^(\{.*\})$/, Math.max(120_000, n * 2));
  await child.exited;
  const result = JSON.parse(line) as PlainLoopResult;
  if (result.contacts !== n || result.rows !== n) throw new Error(`plain loop imported ${result.contacts} contacts into ${result.rows} rows, expected ${n}`);
  return {
    seconds: round(result.seconds, 2),
    contactsPerSecond: Math.round(result.contacts / result.seconds),
    peakRssMB: mb(result.peakRssBytes),
    cpuSeconds: { loop: round(result.cpuSeconds), provider: round(cpuSeconds(run.provider.pid) - providerBefore) },
  };
}

async function runBaseline(run: BenchRun, service: Service, userId: string, n: number): Promise<BaselineFigures> {
  const before = serviceCpu(run, service);
  const child = spawnScript('baseline', 'bench/baseline.ts', { ...service.env, BENCH_USER_ID: userId });
  const line = await child.waitFor(/^(\{.*\})$/, Math.max(120_000, n * 2));
  await child.exited;
  const after = serviceCpu(run, service);
  const result = JSON.parse(line) as BaselineResult;
  if (result.contacts !== n) throw new Error(`baseline imported ${result.contacts} contacts, expected ${n}`);
  return {
    seconds: round(result.seconds, 2),
    contactsPerSecond: Math.round(result.contacts / result.seconds),
    peakRssMB: mb(result.peakRssBytes),
    cpuSeconds: { ...serviceCpuSince(before, after), baseline: round(result.cpuSeconds) },
  };
}

/** One service import of `n` contacts from `provider`, timed from the POST to the poll that sees `completed`. */
export async function runService(
  run: BenchRun,
  service: Service,
  userId: string,
  n: number,
  provider: Provider = PROVIDER,
): Promise<{ figures: ServiceFigures; imported: ServiceImport }> {
  const sampler = new RssSampler(service.worker.pid).start();
  const before = serviceCpu(run, service);
  const started = performance.now();
  const { view } = await service.imports.postImport(userId, provider);
  const end = await service.imports.waitForEnd(view.importId, Math.max(180_000, n * 2));
  const seconds = (performance.now() - started) / 1000;
  const after = serviceCpu(run, service);
  sampler.stop();
  if (end.state !== 'completed') throw new Error(`service import ended ${end.state}: ${end.error ?? ''}`);
  if (end.saved !== n) throw new Error(`service import says ${end.saved} saved, expected ${n}`);
  return {
    figures: {
      contacts: n,
      seconds: round(seconds, 2),
      contactsPerSecond: Math.round(n / seconds),
      workerPeakRssMB: mb(sampler.peak),
      workerStartRssMB: mb(sampler.first ?? 0),
      cpuSeconds: serviceCpuSince(before, after),
    },
    imported: {
      workflowId: view.workflowId,
      firstRunId: view.runId,
      rssSeries: sampler.series.map(([t, rss]) => [t, mb(rss)]),
    },
  };
}


