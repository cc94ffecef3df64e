/**
 * `npm run bench`: what durable orchestration costs, measured side by side on one machine.
 *
 *   npm run bench                                  100k and 1M, SQLite (and PostgreSQL when DATABASE_URL is set)
 *   npm run bench -- --contacts 20000 --skip-million
 *   npm run bench -- --only throughput,history --skip-million --env IMPORT_PAGES_PER_BATCH=50 --out ppb50
 *   npm run bench -- --only files --no-pg          vCard file and CardDAV imports against their plain loops
 *   npm run bench -- --only graph --graph-contacts 20000   Microsoft Graph imports against theirs
 *   npm run bench -- --only governor --no-pg       the rate governor against an app-wide quota of 20/s
 *   TEMPORAL_DB_URL=… npm run bench -- --only fairness-cluster --no-pg   Temporal's fairness on the cluster's services
 *   npm run bench -- --only governor-alternatives --no-pg   its shared state in the store, an entity workflow, Temporal's task-queue rate limit
 *
 * The runner: options (`options.ts`) → a dev server, the demo provider and, per store, a worker and
 * the API (`service.ts`) → the phases (`measure-*.ts`) → the report (`report.ts`). It stops all it
 * started at the end, on errors and on Ctrl-C. It prints a Markdown table and writes
 * `bench/results/<out>.json` (default `latest.json`). See bench/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { parseTemporalDbUrl } from '../scripts/cluster-temporal';
import { DEFAULT_TUNING } from '../config/defaults';
import { POLL_MS } from './http-client';
import { measureConcurrency } from './measure-concurrency';
import { measureFiles, prepareFileFixtures, type FileFixtures } from './measure-files';
import { measureGraph, type GraphRow } from './measure-graph';
import { measureKills } from './measure-kills';
import { measureEvents } from './measure-events';
import { measureFairness } from './measure-fairness';
import { measureGovernor } from './measure-governor';
import { measureGovernorAlternatives } from './measure-governor-alternatives';
import { measureHistory } from './measure-history';
import { measureRecovery } from './measure-recovery';
import { measureStart } from './measure-start';
import { measureStatus } from './measure-status';
import { measureThroughput, type ThroughputRow } from './measure-throughput';
import { parseOptions, runs, type BenchOptions } from './options';
import { markdown, newResults, targets, writeResults, type Results } from './report';
import { Teardown, startBenchRun, startService, stopService, type BenchRun, type Service } from './service';
import { RESULTS_DIR, ROOT, buildService, createProgress, fmt, type Progress } from './support';

async function bench(options: BenchOptions, progress: Progress, teardown: Teardown): Promise<void> {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  for (const file of fs.readdirSync(RESULTS_DIR)) if (file.endsWith('.log')) fs.rmSync(path.join(RESULTS_DIR, file));
  const results = newResults();
  progress(`machine: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}`);
  if (options.build) {
    progress('building the service (npm run build): worker and API run compiled, as deployed');
    buildService();
  } else progress('--no-build: running the service as dist/ holds it');

  const run = await startBenchRun(options, progress, teardown);
  results.settings = settings(run);
  progress(`settings: ${JSON.stringify(results.settings)}`);

  // The files phase's vCard file and Radicale: made once, imported on every store.
  const fixtures = runs(options, 'files') ? await prepareFileFixtures(options, progress, teardown) : undefined;

  for (const store of options.stores) {
    progress(`${store}: starting worker and API`);
    const service = await startService(run, store, teardown, options.stages && runs(options, 'throughput'));
    try {
      await measureStore(run, service, results, fixtures);
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      results.errors.push(`${store}: ${message}`);
      progress(`ERROR (${store}): ${message}`);
    } finally {
      await run.provider.configure({ contacts: options.contacts, faults: {} });
      await stopService(run, service);
    }
  }

  // Many imports on one worker (a worker and API of its own per store), then the kill test.
  if (runs(options, 'concurrency')) {
    for (const store of options.stores) {
      try {
        (results.concurrency ??= []).push(await measureConcurrency(run, store, teardown));
      } catch (err) {
        results.errors.push(`concurrency (${store}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }
  // Temporal's fairness (with and without), an in-process worker: on dev servers of its own, and on
  // the cluster's four Temporal services on the PostgreSQL `npm run cluster` uses (TEMPORAL_DB_URL).
  const fairnessOnCluster = runs(options, 'fairness-cluster') ? process.env.TEMPORAL_DB_URL : undefined;
  if (runs(options, 'fairness-cluster') && !fairnessOnCluster) {
    progress('fairness-cluster: skipped, TEMPORAL_DB_URL is not set (the PostgreSQL of npm run cluster, see docs/deploy.md)');
  }
  if (runs(options, 'fairness') || fairnessOnCluster) {
    progress('fairness: a quiet tenant beside a busy one, matching.enableFairness off and on');
    try {
      const servers = { devServer: runs(options, 'fairness'), cluster: fairnessOnCluster ? parseTemporalDbUrl(fairnessOnCluster) : undefined };
      results.fairness = await measureFairness(progress, servers);
    } catch (err) {
      results.errors.push(`fairness: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  // The rate governor against the provider's app-wide quota: 2 workers, a store of their own per configuration.
  if (runs(options, 'governor')) {
    try {
      results.governor = await measureGovernor(run, teardown);
    } catch (err) {
      results.errors.push(`governor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  // The same scenario with the governor's shared state in each place it could live.
  if (runs(options, 'governor-alternatives')) {
    try {
      results.governorAlternatives = await measureGovernorAlternatives(run, teardown);
    } catch (err) {
      results.errors.push(`governor alternatives: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  if (runs(options, 'kill')) {
    progress(`kill: ${options.kills} SIGKILLs during a ${fmt(options.killContacts)}-contact import (test/kill-recovery.test.ts)`);
    results.kills = await measureKills(run);
  }

  results.targets = targets(results);
  console.log(`\n${markdown(results, options)}\n`);
  writeResults(results, options.resultsFile);
  progress(`wrote ${path.relative(ROOT, options.resultsFile)}`);
  await teardown.run();
  if (results.errors.length > 0) process.exitCode = 1;
}

/** Every phase `--only` selects, on one store; status on the first store only, recovery and start only on SQLite. */
async function measureStore(run: BenchRun, service: Service, results: Results, fixtures: FileFixtures | undefined): Promise<void> {
  const { options, progress } = run;
  const { store } = service;
  if (runs(options, 'throughput') || runs(options, 'history')) {
    for (const n of options.sizes) {
      const row: ThroughputRow = { store, contacts: n };
      results.throughput.push(row);
      const imported = await measureThroughput(run, service, row, runs(options, 'throughput'));
      if (results.rssSeries) results.rssSeries[`${store}-${n}`] = imported.rssSeries;
      if (runs(options, 'history')) {
        const h = (row.history = await measureHistory(run, imported.workflowId, imported.firstRunId, n));
        progress(`  history: ${h.runs} runs, ${h.events} events, ${fmt(h.bytes)} bytes; per 10k: ${h.eventsPer10k} events, ${fmt(h.bytesPer10k)} bytes; contact data: ${h.contactDataFound.join(', ') || 'none'}`);
      }
    }
  }
  if (fixtures) {
    progress(`${store}: vCard file (${fmt(options.fileContacts)}) and CardDAV (${fmt(options.carddavContacts)}) imports`);
    await measureFiles(run, service, fixtures, (results.sourceThroughput ??= []));
  }
  if (runs(options, 'graph')) {
    const row: GraphRow = { store, contacts: options.graphContacts };
    (results.graph ??= []).push(row);
    await measureGraph(run, service, row);
  }
  // On the first store measured: SQLite, or PostgreSQL under --no-sqlite.
  if (runs(options, 'status') && store === options.stores[0]) {
    progress(`${store}: status latency while an import runs`);
    results.status = await measureStatus(run, service);
  }
  if (store !== 'sqlite') return;
  if (runs(options, 'events')) {
    progress('live events: 100 streams on one running import');
    results.events = await measureEvents(run, service);
  }
  if (runs(options, 'recovery')) {
    progress(`recovery: SIGKILL the worker at ${options.killAt * 100}% of ${fmt(options.contacts)}`);
    results.recovery = await measureRecovery(run, service);
    progress(`  ${results.recovery.pagesFetchedTwice} pages fetched twice; resumed ${results.recovery.resumedSeconds} s after restart`);
  }
  if (runs(options, 'start')) {
    progress(`start latency: ${options.starts} × POST /v1/imports`);
    results.start = await measureStart(run, service);
    progress(`  p50 ${results.start.p50ms} ms, p99 ${results.start.p99ms} ms`);
  }
}

/** What the results JSON records about how the run was set up. */
function settings(run: BenchRun): Record<string, unknown> {
  const { options } = run;
  const effective = loadConfig(run.baseEnv);
  return {
    sizes: options.sizes,
    fileContacts: options.fileContacts,
    carddavContacts: options.carddavContacts,
    graphContacts: options.graphContacts,
    phases: options.phases,
    overrides: options.envOverrides,
    importDefaults: effective.importDefaults,
    workerMaxConcurrentActivities: effective.workerMaxConcurrentActivities,
    heartbeatThrottleMs: effective.heartbeatThrottleMs,
    baselinePageSize: DEFAULT_TUNING.pageSize,
    pollMs: POLL_MS,
    service: 'compiled by npm run build, run with node (as deployed)',
    postgres: options.postgresUrl ? options.postgresUrl.replace(/\/\/[^@/]*@/, '//…@') : null,
  };
}

async function main(): Promise<void> {
  const progress = createProgress();
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    // A ConfigError, or parseArgs refusing an unknown flag or a missing value.
    console.error(`bench: ${err instanceof Error ? err.message : String(err)} (flags: bench/README.md)`);
    process.exit(1);
  }
  const teardown = new Teardown();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      progress(`${signal}: stopping everything the benchmark started`);
      void teardown.run().finally(() => process.exit(130));
    });
  }
  try {
    await bench(options, progress, teardown);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await teardown.run();
    process.exit(1);
  }
}

void main();
