/**
 * 1. Throughput: the plain loop (`bench/plain-loop.ts`) and one service import of the same size, side
 * by side, in `--rounds` interleaved rounds (each the loop, then the service), with the worker's RSS,
 * every process's CPU seconds, and the loop's and the worker's CPU split by stage. The rows of every
 * round stay until the size's last round, so the loop's table and the service's grow alike; the
 * figures are medians over the rounds. The same-code loop (`bench/baseline.ts`, the "orchestration
 * cost" line) runs once, in the first round, and its rows go at once.
 */
import os from 'node:os';
import path from 'node:path';
import type { Provider } from '../workflows/contract';
import type { BaselineResult } from './baseline';
import { loopCpu, median, medianSplit, readWorkerCpu, workerCpuSince, type StageCpu } from './cpu-split';
import { PROVIDER } from './http-client';
import type { HistoryFigures } from './measure-history';
import { dropPlainLoopTable, type PlainLoopResult } from './plain-loop';
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
  /** Its process's CPU by stage (unless `--no-stages`). */
  stages?: StageCpu;
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
  /** The worker's CPU by stage (unless `--no-stages`). */
  stages?: StageCpu;
}

/** One round: the loop, then the service, each into a table that already holds the earlier rounds' rows. */
export interface RoundFigures {
  plainLoop?: PlainLoopFigures;
  service: ServiceFigures;
  /** Service / plain loop, throughput. */
  ratio?: number;
  /** Worker CPU / plain-loop CPU. */
  cpuRatio?: number;
}

/** One row of the throughput table; the history phase adds `history`. */
export interface ThroughputRow {
  store: Store;
  contacts: number;
  /** 1-minute load average after each part of the last round: other work on the machine skews every figure. */
  loadAverage?: { plainLoop?: number; baseline?: number; service?: number };
  /** Every round as measured; the fields below are their medians, figure by figure. */
  rounds?: RoundFigures[];
  /** What the service is measured against. */
  plainLoop?: PlainLoopFigures;
  /** The project's own code path in a loop: what orchestration costs ("orchestration cost" line). */
  baseline?: BaselineFigures;
  service?: ServiceFigures;
  /** Service / plain loop, the median of the rounds' ratios. */
  ratio?: number;
  /** Service / same-code-path baseline. */
  orchestrationRatio?: number;
  /** Worker CPU / plain-loop CPU for the same contacts, the median of the rounds' (target ≤ 1.1). */
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
 * Imports `row.contacts` in `--rounds` rounds, each with the plain loop (when `withLoops`) and then
 * through the service; the same-code loop once, in the first round. Checks the row counts, keeps
 * each round's rows until the last round, then deletes them. Fills `row` as figures arrive, so an
 * error leaves in it what was measured before. Resolves to the first round's service import.
 */
export async function measureThroughput(run: BenchRun, service: Service, row: ThroughputRow, withLoops: boolean): Promise<ServiceImport> {
  const { progress, options } = run;
  const { store, contacts: n } = row;
  const { admin } = service;
  const rounds = withLoops ? options.rounds : 1;
  const prefix = `${run.tag}${store}-${n}-`;
  const loopTable = plainLoopTarget(run, service);
  await run.provider.configure({ contacts: n });
  let first: ServiceImport | undefined;
  row.rounds = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      const label = `${store} ${fmt(n)}, round ${r}/${rounds}`;
      let plainLoop: PlainLoopFigures | undefined;
      if (withLoops) {
        progress(`${label}: plain loop`);
        plainLoop = await runPlainLoop(run, service, n, `${prefix}loop-r${r}`);
        progress(`  plain loop ${fmt(plainLoop.contactsPerSecond)} contacts/s (${plainLoop.seconds} s), CPU s ${JSON.stringify(plainLoop.cpuSeconds)}`);
        if (r === 1) await measureBaseline(run, service, row, `${prefix}baseline`);
      }
      progress(`${label}: service import`);
      const user = `${prefix}service-r${r}`;
      const { figures, imported } = await runService(run, service, user, n);
      const rows = await admin.count(user);
      if (rows !== n) throw new Error(`service import left ${rows} rows, expected ${n}`);
      first ??= imported;
      row.loadAverage = { ...row.loadAverage, service: round(os.loadavg()[0] ?? 0, 2) };
      const ratios = plainLoop
        ? {
            ratio: round(figures.contactsPerSecond / plainLoop.contactsPerSecond, 2),
            cpuRatio: round(figures.cpuSeconds.worker / plainLoop.cpuSeconds.loop, 2),
          }
        : {};
      row.rounds.push({ plainLoop, service: figures, ...ratios });
      progress(`  service ${fmt(figures.contactsPerSecond)} contacts/s (${figures.seconds} s), ratio ${ratios.ratio ?? '–'}, worker CPU ÷ loop ${ratios.cpuRatio ?? '–'}, worker peak RSS ${figures.workerPeakRssMB} MB, CPU s ${JSON.stringify(figures.cpuSeconds)}`);
      Object.assign(row, medians(row.rounds));
    }
  } finally {
    await admin.deleteUsers(prefix);
    if (withLoops) await dropPlainLoopTable(loopTable);
  }
  if (row.baseline) row.orchestrationRatio = round((row.service?.contactsPerSecond ?? 0) / row.baseline.contactsPerSecond, 2);
  return first as ServiceImport;
}

/** The same-code loop once, its rows deleted at once so both sides' tables keep growing alike. */
async function measureBaseline(run: BenchRun, service: Service, row: ThroughputRow, user: string): Promise<void> {
  const { store, contacts: n } = row;
  run.progress(`${store} ${fmt(n)}: same-code loop`);
  row.baseline = await runBaseline(run, service, user, n);
  if ((os.loadavg()[0] ?? 0) > os.cpus().length) run.progress(`  note: load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} cores: something else is running`);
  const rows = await service.admin.count(user);
  if (rows !== n) throw new Error(`baseline left ${rows} rows, expected ${n}`);
  row.loadAverage = { baseline: round(os.loadavg()[0] ?? 0, 2) };
  run.progress(`  same-code loop ${fmt(row.baseline.contactsPerSecond)} contacts/s (${row.baseline.seconds} s)`);
  await service.admin.deleteUsers(user);
}

/** The median of every figure over the rounds: a row of medians, not one round's figures. */
function medians(rounds: readonly RoundFigures[]): Pick<ThroughputRow, 'plainLoop' | 'service' | 'ratio' | 'cpuRatio'> {
  const m = (values: Array<number | undefined>, digits = 2) => round(median(values.filter((v): v is number => v !== undefined)), digits);
  const services = rounds.map((r) => r.service);
  const loops = rounds.flatMap((r) => (r.plainLoop ? [r.plainLoop] : []));
  const serviceStages = services.flatMap((s) => (s.stages ? [s.stages] : []));
  const loopStages = loops.flatMap((l) => (l.stages ? [l.stages] : []));
  const service: ServiceFigures = {
    contacts: services[0]?.contacts ?? 0,
    seconds: m(services.map((s) => s.seconds)),
    contactsPerSecond: Math.round(median(services.map((s) => s.contactsPerSecond))),
    workerPeakRssMB: m(services.map((s) => s.workerPeakRssMB), 1),
    workerStartRssMB: m(services.map((s) => s.workerStartRssMB), 1),
    cpuSeconds: {
      worker: m(services.map((s) => s.cpuSeconds.worker)),
      api: m(services.map((s) => s.cpuSeconds.api)),
      temporal: m(services.map((s) => s.cpuSeconds.temporal)),
      bench: m(services.map((s) => s.cpuSeconds.bench)),
      provider: m(services.map((s) => s.cpuSeconds.provider)),
    },
    ...(serviceStages.length ? { stages: medianSplit(serviceStages) } : {}),
  };
  const plainLoop: PlainLoopFigures | undefined = loops.length
    ? {
        seconds: m(loops.map((l) => l.seconds)),
        contactsPerSecond: Math.round(median(loops.map((l) => l.contactsPerSecond))),
        peakRssMB: m(loops.map((l) => l.peakRssMB), 1),
        cpuSeconds: { loop: m(loops.map((l) => l.cpuSeconds.loop)), provider: m(loops.map((l) => l.cpuSeconds.provider)) },
        ...(loopStages.length ? { stages: medianSplit(loopStages) } : {}),
      }
    : undefined;
  return { service, plainLoop, ratio: m(rounds.map((r) => r.ratio)), cpuRatio: m(rounds.map((r) => r.cpuRatio)) };
}

/** Where the plain loop keeps its table on `service`'s store: its own SQLite file beside the service's, or the same PostgreSQL database. */
export function plainLoopTarget(run: BenchRun, service: Service): { sqliteFile?: string; postgresUrl?: string } {
  if (service.store === 'postgres') return { postgresUrl: run.options.postgresUrl };
  return { sqliteFile: path.join(service.env.DATA_DIR ?? os.tmpdir(), 'plain-loop.db') };
}

/**
 * The plain loop in a process of its own, for `userId`, on its own table in the service's store,
 * reading the demo provider's People API, or its Microsoft Graph side (`api: 'graph'`). Its CPU is
 * split by stage unless `--no-stages`.
 */
export async function runPlainLoop(run: BenchRun, service: Service, n: number, userId: string, api: 'people' | 'graph' = 'people'): Promise<PlainLoopFigures> {
  const target = plainLoopTarget(run, service);
  const profile = run.options.stages ? path.join(service.env.DATA_DIR ?? os.tmpdir(), `${userId}.cpuprofile`) : undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, PLAIN_LOOP_PROVIDER_URL: run.provider.url, PLAIN_LOOP_USER: userId, PLAIN_LOOP_API: api };
  if (target.postgresUrl) env.PLAIN_LOOP_POSTGRES_URL = target.postgresUrl;
  if (target.sqliteFile) env.PLAIN_LOOP_SQLITE_FILE = target.sqliteFile;
  if (profile) env.PLAIN_LOOP_PROFILE = profile;
  const providerBefore = cpuSeconds(run.provider.pid);
  const child = spawnScript('plain-loop', 'bench/plain-loop.ts', env);
  const line = await child.waitFor(/^(\{.*\})$/, Math.max(120_000, n * 2));
  await child.exited;
  const result = JSON.parse(line) as PlainLoopResult;
  if (result.contacts !== n || result.rows !== n) throw new Error(`plain loop imported ${result.contacts} contacts into ${result.rows} rows, expected ${n}`);
  // The profiler's own thread is what measuring costs: left out here as in the worker's figures.
  const loop = result.cpuSeconds - result.profilerThreadCpuSeconds;
  return {
    seconds: round(result.seconds, 2),
    contactsPerSecond: Math.round(result.contacts / result.seconds),
    peakRssMB: mb(result.peakRssBytes),
    cpuSeconds: { loop: round(loop, 2), provider: round(cpuSeconds(run.provider.pid) - providerBefore) },
    ...(profile
      ? { stages: loopCpu(profile, { main: result.mainThreadCpuSeconds, core: 0, profiler: result.profilerThreadCpuSeconds, total: result.cpuSeconds }) }
      : {}),
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
  const stagesBefore = await readWorkerCpu(service.worker.pid, service.cpuStagesFile, 'before');
  const sampler = new RssSampler(service.worker.pid).start();
  const before = serviceCpu(run, service);
  const started = performance.now();
  const { view } = await service.imports.postImport(userId, provider);
  const end = await service.imports.waitForEnd(view.importId, Math.max(180_000, n * 2));
  const seconds = (performance.now() - started) / 1000;
  const after = serviceCpu(run, service);
  sampler.stop();
  const stagesAfter = await readWorkerCpu(service.worker.pid, service.cpuStagesFile, 'after');
  if (end.state !== 'completed') throw new Error(`service import ended ${end.state}: ${end.error ?? ''}`);
  if (end.saved !== n) throw new Error(`service import says ${end.saved} saved, expected ${n}`);
  const stages = service.cpuStagesFile ? workerCpuSince(stagesBefore, stagesAfter) : undefined;
  const cpu = serviceCpuSince(before, after);
  // The profiler's own thread is what measuring costs: left out here as in the loop's figures.
  if (stages) cpu.worker = round(cpu.worker - stages.profiler, 2);
  return {
    figures: {
      contacts: n,
      seconds: round(seconds, 2),
      contactsPerSecond: Math.round(n / seconds),
      workerPeakRssMB: mb(sampler.peak),
      workerStartRssMB: mb(sampler.first ?? 0),
      cpuSeconds: cpu,
      ...(stages ? { stages } : {}),
    },
    imported: {
      workflowId: view.workflowId,
      firstRunId: view.runId,
      rssSeries: sampler.series.map(([t, rss]) => [t, mb(rss)]),
    },
  };
}
