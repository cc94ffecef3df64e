/**
 * `npm run bench`: what durable orchestration costs, measured side by side on one machine (issue 4).
 *
 *   npm run bench                                  100k and 1M, SQLite (and PostgreSQL when DATABASE_URL is set)
 *   npm run bench -- --contacts 20000 --skip-million
 *   npm run bench -- --only throughput,history --skip-million --env IMPORT_PAGES_PER_BATCH=50 --out ppb50
 *
 * It starts its own headless Temporal dev server on a free port, the demo provider in this process,
 * one worker and the API as child processes (so the worker's RSS can be sampled and the worker
 * SIGKILLed), and stops all of it at the end, on errors and on Ctrl-C. It prints a Markdown table
 * and writes `bench/results/<out>.json` (default `latest.json`). See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig, WORKER_NODE_FLAGS } from '../config';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { freePort, resolveTemporalCli, startDevServer, type DevServer } from '../scripts/temporal-cli';
import { SEARCH_ATTRIBUTE_DEFINITIONS, importWorkflowId, statusQuery } from '../workflows/contract';
import type { BaselineResult } from './baseline';
import {
  RESULTS_DIR,
  ROOT,
  RssSampler,
  cpuSeconds,
  mb,
  openStoreAdmin,
  percentile,
  round,
  runningChildren,
  sleep,
  spawnNode,
  spawnBuilt,
  spawnScript,
  buildService,
  type Child,
  type StoreAdmin,
} from './support';

const PHASES = ['throughput', 'history', 'status', 'start', 'recovery'] as const;
type Phase = (typeof PHASES)[number];

const { values: args } = parseArgs({
  options: {
    contacts: { type: 'string', default: '100000' },
    large: { type: 'string', default: '1000000' },
    'skip-million': { type: 'boolean', default: false },
    only: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: 'latest' },
    'no-pg': { type: 'boolean', default: false },
    starts: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    'kill-at': { type: 'string', default: '0.3' },
  },
});

function positiveInt(name: string, raw: string): number {
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number (got "${raw}")`);
  return n;
}

const N = positiveInt('contacts', args.contacts);
const LARGE = positiveInt('large', args.large);
const SIZES = args['skip-million'] || LARGE === N ? [N] : [N, LARGE];
const STARTS = positiveInt('starts', args.starts);
const DURATION_S = positiveInt('duration', args.duration);
const KILL_AT = Number(args['kill-at']);
const only = new Set<Phase>(
  args.only
    ? args.only.split(',').map((p) => {
        if (!PHASES.includes(p as Phase)) throw new Error(`--only takes a comma list of ${PHASES.join(', ')} (got "${p}")`);
        return p as Phase;
      })
    : PHASES,
);
const overrides: Record<string, string> = {};
for (const pair of args.env) {
  const eq = pair.indexOf('=');
  if (eq < 1) throw new Error(`--env takes KEY=VALUE (got "${pair}")`);
  overrides[pair.slice(0, eq)] = pair.slice(eq + 1);
}
const PG_URL = args['no-pg'] ? undefined : process.env.DATABASE_URL || undefined;

const TAG = `bench-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}-`;
const SECRET_TOKEN = `bench-secret-${randomBytes(6).toString('hex')}`;
/** Strings of the demo provider's contacts (and the access token) that must never reach history. */
const FORBIDDEN_IN_HISTORY = ['Lovelace', 'example.com', '+1 555-', SECRET_TOKEN];
const began = performance.now();

function progress(message: string): void {
  const t = ((performance.now() - began) / 1000).toFixed(0).padStart(4);
  console.log(`[bench ${t}s] ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Processes under test
// ---------------------------------------------------------------------------------------------

interface Service {
  worker: Child;
  api: Child;
  apiUrl: string;
  env: NodeJS.ProcessEnv;
}

interface Env {
  devServer: DevServer;
  provider: DemoProvider;
  client: Client;
  connection: Connection;
  dataDir: string;
  baseEnv: NodeJS.ProcessEnv;
}

async function startWorker(env: NodeJS.ProcessEnv, name = 'worker'): Promise<Child> {
  const worker = spawnBuilt(name, 'worker/main.ts', env, WORKER_NODE_FLAGS);
  await worker.waitFor(/^worker: polling/, 120_000);
  return worker;
}

async function startService(ctx: Env, store: 'sqlite' | 'postgres'): Promise<Service> {
  const env: NodeJS.ProcessEnv = { ...ctx.baseEnv, PORT: String(await freePort()) };
  if (store === 'postgres') env.DATABASE_URL = PG_URL;
  else delete env.DATABASE_URL;
  // The worker migrates the store first, so the API does not race it on a fresh SQLite file.
  const worker = await startWorker(env);
  const api = spawnBuilt('api', 'api/main.ts', env);
  const apiUrl = await api.waitFor(/^api: listening on (http:\/\/\S+)/, 60_000);
  return { worker, api, apiUrl, env };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers against the API
// ---------------------------------------------------------------------------------------------

interface ImportView {
  importId: string;
  workflowId: string;
  runId: string;
  state: string;
  saved: number;
  pages: number;
  error?: string;
}

/**
 * `fetch`, tried once more on a network error: undici may reuse a keep-alive socket the API has just
 * closed after its idle timeout, and does not retry a POST itself. Starting an import twice is
 * safe (USE_EXISTING), so a retry is too.
 */
async function fetchRetry(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

async function postImport(apiUrl: string, userId: string): Promise<{ status: number; view: ImportView }> {
  const response = await fetchRetry(`${apiUrl}/v1/imports`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId, source: { provider: 'google-people', accessToken: SECRET_TOKEN } }),
  });
  const body = (await response.json()) as ImportView;
  if (response.status !== 202 && response.status !== 200) {
    throw new Error(`POST /v1/imports answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return { status: response.status, view: body };
}

async function getImport(apiUrl: string, importId: string): Promise<ImportView> {
  const response = await fetchRetry(`${apiUrl}/v1/imports/${importId}`);
  const body = (await response.json()) as ImportView;
  if (response.status !== 200) throw new Error(`GET /v1/imports/{id} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

const POLL_MS = 100;

/** Polls the import every 100 ms until it leaves `running`; calls `onPoll` with each view. */
async function waitForEnd(
  apiUrl: string,
  importId: string,
  timeoutMs: number,
  onPoll?: (view: ImportView) => Promise<void> | void,
): Promise<ImportView> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = performance.now();
  for (;;) {
    const view = await getImport(apiUrl, importId);
    await onPoll?.(view);
    if (view.state !== 'running' && view.state !== 'paused') return view;
    if (Date.now() > deadline) throw new Error(`import ${importId} still ${view.state} after ${timeoutMs / 1000} s (saved ${view.saved})`);
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      progress(`  … ${view.saved.toLocaleString('en-US')} saved`);
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput
// ---------------------------------------------------------------------------------------------

interface CpuSplit {
  worker: number;
  api: number;
  temporal: number;
  /** This process: demo provider, polling, and (for the baseline) nothing else. */
  bench: number;
  /** The baseline's own process. */
  baseline?: number;
}

interface ServiceRun {
  contacts: number;
  seconds: number;
  contactsPerSecond: number;
  workerPeakRssMB: number;
  workerStartRssMB: number;
  rssSeries: Array<[number, number]>;
  cpuSeconds: CpuSplit;
  workflowId: string;
  firstRunId: string;
}

interface ThroughputRow {
  store: 'sqlite' | 'postgres';
  contacts: number;
  /** 1-minute load average after each half: other work on the machine skews every figure. */
  loadAverage?: { baseline?: number; service?: number };
  baseline?: { seconds: number; contactsPerSecond: number; peakRssMB: number; cpuSeconds: CpuSplit };
  service?: Omit<ServiceRun, 'rssSeries' | 'workflowId' | 'firstRunId'>;
  ratio?: number;
  history?: HistoryFigures;
}

function benchCpu(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
}

function cpuSnapshot(ctx: Env, service: Service) {
  return {
    worker: cpuSeconds(service.worker.pid),
    api: cpuSeconds(service.api.pid),
    temporal: ctx.devServer.process.pid ? cpuSeconds(ctx.devServer.process.pid) : 0,
    bench: benchCpu(),
  };
}

function cpuSince(before: ReturnType<typeof cpuSnapshot>, after: ReturnType<typeof cpuSnapshot>): CpuSplit {
  return {
    worker: round(after.worker - before.worker),
    api: round(after.api - before.api),
    temporal: round(after.temporal - before.temporal),
    bench: round(after.bench - before.bench),
  };
}

async function runBaseline(ctx: Env, service: Service, userId: string, n: number): Promise<NonNullable<ThroughputRow['baseline']>> {
  const before = cpuSnapshot(ctx, service);
  const child = spawnScript('baseline', 'bench/baseline.ts', { ...service.env, BENCH_USER_ID: userId });
  const line = await child.waitFor(/^(\{.*\})$/, Math.max(120_000, n * 2));
  await child.exited;
  const after = cpuSnapshot(ctx, service);
  const result = JSON.parse(line) as BaselineResult;
  if (result.contacts !== n) throw new Error(`baseline imported ${result.contacts} contacts, expected ${n}`);
  return {
    seconds: round(result.seconds, 2),
    contactsPerSecond: Math.round(result.contacts / result.seconds),
    peakRssMB: mb(result.peakRssBytes),
    cpuSeconds: { ...cpuSince(before, after), baseline: round(result.cpuSeconds) },
  };
}

async function runService(ctx: Env, service: Service, userId: string, n: number): Promise<ServiceRun> {
  const sampler = new RssSampler(service.worker.pid).start();
  const before = cpuSnapshot(ctx, service);
  const started = performance.now();
  const { view } = await postImport(service.apiUrl, userId);
  const end = await waitForEnd(service.apiUrl, view.importId, Math.max(180_000, n * 2));
  const seconds = (performance.now() - started) / 1000;
  const after = cpuSnapshot(ctx, service);
  sampler.stop();
  if (end.state !== 'completed') throw new Error(`service import ended ${end.state}: ${end.error ?? ''}`);
  if (end.saved !== n) throw new Error(`service import says ${end.saved} saved, expected ${n}`);
  return {
    contacts: n,
    seconds: round(seconds, 2),
    contactsPerSecond: Math.round(n / seconds),
    workerPeakRssMB: mb(sampler.peak),
    workerStartRssMB: mb(sampler.first ?? 0),
    rssSeries: sampler.series.map(([t, rss]) => [t, mb(rss)]),
    cpuSeconds: cpuSince(before, after),
    workflowId: view.workflowId,
    firstRunId: view.runId,
  };
}

// ---------------------------------------------------------------------------------------------
// 4. History
// ---------------------------------------------------------------------------------------------

interface HistoryFigures {
  contacts: number;
  runs: number;
  events: number;
  bytes: number;
  eventsPer10k: number;
  bytesPer10k: number;
  largestRunEvents: number;
  largestRunBytes: number;
  /** Forbidden strings (contact names, emails, phones, the access token) found in any run. */
  contactDataFound: string[];
}

async function measureHistory(client: Client, workflowId: string, firstRunId: string, contacts: number): Promise<HistoryFigures> {
  const namespace = client.options.namespace;
  const figures: HistoryFigures = {
    contacts,
    runs: 0,
    events: 0,
    bytes: 0,
    eventsPer10k: 0,
    bytesPer10k: 0,
    largestRunEvents: 0,
    largestRunBytes: 0,
    contactDataFound: [],
  };
  const found = new Set<string>();
  let runId: string | null = firstRunId;
  while (runId) {
    const description = await client.workflow.getHandle(workflowId, runId).describe();
    const bytes = description.historySize ?? 0;
    figures.runs += 1;
    figures.events += description.historyLength;
    figures.bytes += bytes;
    figures.largestRunEvents = Math.max(figures.largestRunEvents, description.historyLength);
    figures.largestRunBytes = Math.max(figures.largestRunBytes, bytes);
    let nextPageToken: Uint8Array | undefined;
    let next: string | null = null;
    do {
      const page: temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse =
        await client.workflowService.getWorkflowExecutionHistory({
          namespace,
          execution: { workflowId, runId },
          nextPageToken,
        });
      const raw = Buffer.from(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(page).finish());
      for (const needle of FORBIDDEN_IN_HISTORY) if (raw.includes(needle)) found.add(needle === SECRET_TOKEN ? 'access token' : needle);
      for (const event of page.history?.events ?? []) {
        const newRun = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
        if (newRun) next = newRun;
      }
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken);
    runId = next;
  }
  figures.eventsPer10k = round((figures.events / contacts) * 10_000);
  figures.bytesPer10k = Math.round((figures.bytes / contacts) * 10_000);
  figures.contactDataFound = [...found];
  return figures;
}

// ---------------------------------------------------------------------------------------------
// 2. Status latency
// ---------------------------------------------------------------------------------------------

interface LatencyFigures {
  route: string;
  label: string;
  requestsPerSecond: number;
  p50ms: number;
  p99ms: number;
  non2xx: number;
  errors: number;
}

interface AutocannonJson {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function autocannon(url: string, route: string, label: string): Promise<LatencyFigures> {
  const bin = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
  // A process of its own, so the load generator does not share an event loop with the demo provider.
  const child = spawnNode('autocannon', bin, ['-c', '32', '-d', String(DURATION_S), '-j', '-n', url]);
  const line = await child.waitFor(/^(\{.*\})$/, (DURATION_S + 60) * 1000);
  await child.exited;
  const result = JSON.parse(line) as AutocannonJson;
  return {
    route,
    label,
    requestsPerSecond: Math.round(result.requests.average),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

interface StatusFigures {
  routes: LatencyFigures[];
  /** status p99 / constant route p99, for each constant route measured. */
  p99Ratios: Record<string, number>;
  /** The status query and `describe` called straight through the client, 32 at a time. */
  direct: { query: LoopFigures; describe: LoopFigures };
  savedDuringMeasurement: number;
}

async function measureStatus(ctx: Env, service: Service, admin: StoreAdmin): Promise<StatusFigures> {
  const userId = `${TAG}status`;
  // Enough contacts that the import is still running when all four measurements are done.
  ctx.provider.configure({ contacts: 100_000_000 });
  const { view } = await postImport(service.apiUrl, userId);
  for (let v = view; v.saved === 0; v = await getImport(service.apiUrl, view.importId)) await sleep(200);
  const savedBefore = (await getImport(service.apiUrl, view.importId)).saved;
  const routes: Array<[string, string]> = [
    [`/v1/imports/${view.importId}`, 'status (workflow query), import running'],
    ['/livez', 'constant small JSON: liveness'],
    ['/openapi.json', 'constant large JSON: OpenAPI document'],
    ['/healthz', 'not constant: Temporal getSystemInfo + DB ping'],
  ];
  const results: LatencyFigures[] = [];
  for (const [route, label] of routes) {
    progress(`  autocannon -c 32 -d ${DURATION_S} ${route.startsWith('/v1/imports') ? '/v1/imports/{id}' : route}`);
    const figures = await autocannon(`${service.apiUrl}${route}`, route.startsWith('/v1/imports') ? '/v1/imports/{id}' : route, label);
    progress(`    ${figures.requestsPerSecond} req/s, p50 ${figures.p50ms} ms, p99 ${figures.p99ms} ms, non-2xx ${figures.non2xx}, errors ${figures.errors}`);
    results.push(figures);
  }
  // Where the status time goes: the workflow query alone (Temporal server → worker) and `describe`
  // (answered by the server from the memo), each by 32 concurrent callers, without the API.
  const handle = ctx.client.workflow.getHandle(view.workflowId);
  const direct = {
    query: await closedLoop('query', () => handle.query(statusQuery)),
    describe: await closedLoop('describe', () => handle.describe()),
  };
  const during = await getImport(service.apiUrl, view.importId);
  if (during.state !== 'running') throw new Error(`the status import was ${during.state} before the latency runs ended: measurements are not "while an import runs"`);
  await fetchRetry(`${service.apiUrl}/v1/imports/${view.importId}/cancel`, { method: 'POST' });
  await waitForEnd(service.apiUrl, view.importId, 60_000);
  ctx.provider.configure({ contacts: N });
  const status = results[0] as LatencyFigures;
  const p99Ratios: Record<string, number> = {};
  for (const r of results.slice(1)) p99Ratios[r.route] = round(status.p99ms / Math.max(r.p99ms, 1), 2);
  await admin.deleteUsers(userId);
  return { routes: results, p99Ratios, direct, savedDuringMeasurement: during.saved - savedBefore };
}

interface LoopFigures {
  callsPerSecond: number;
  p50ms: number;
  p99ms: number;
  failures: number;
}

/** 32 callers, each calling `call` again as soon as it returns, for half the autocannon duration. */
async function closedLoop(name: string, call: () => Promise<unknown>): Promise<LoopFigures> {
  const latencies: number[] = [];
  let failures = 0;
  const seconds = Math.max(2, DURATION_S / 2);
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          await ctx().client.withDeadline(Date.now() + 10_000, call);
          latencies.push(performance.now() - t0);
        } catch {
          failures += 1;
        }
      }
    }),
  );
  const figures = {
    callsPerSecond: Math.round(latencies.length / seconds),
    p50ms: round(percentile(latencies, 50)),
    p99ms: round(percentile(latencies, 99)),
    failures,
  };
  progress(`    direct ${name} ×32: ${figures.callsPerSecond}/s, p50 ${figures.p50ms} ms, p99 ${figures.p99ms} ms, failures ${failures}`);
  return figures;
}

// ---------------------------------------------------------------------------------------------
// 3. Start latency
// ---------------------------------------------------------------------------------------------

interface StartFigures {
  starts: number;
  concurrency: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  startsPerSecond: number;
  created: number;
}

const START_CONCURRENCY = 10;

async function measureStarts(ctx: Env, service: Service, admin: StoreAdmin): Promise<StartFigures> {
  const prefix = `${TAG}start-`;
  // Every page request waits, so the imports started here do not run and load the machine.
  ctx.provider.configure({ faults: { holdFromOffset: 0 } });
  const latencies: number[] = [];
  let created = 0;
  let nextIndex = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: START_CONCURRENCY }, async () => {
      for (let i = nextIndex++; i < STARTS; i = nextIndex++) {
        const t0 = performance.now();
        const { status } = await postImport(service.apiUrl, `${prefix}${i}`);
        latencies.push(performance.now() - t0);
        if (status === 202) created += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  progress(`  ${STARTS} started in ${seconds.toFixed(1)} s; terminating them`);
  let terminateNext = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = terminateNext++; i < STARTS; i = terminateNext++) {
        await ctx.client.workflow
          .getHandle(importWorkflowId('google-people', `${prefix}${i}`))
          .terminate('benchmark clean-up')
          .catch(() => undefined);
      }
    }),
  );
  ctx.provider.configure({ faults: {} });
  // Held activities learn of the termination at their next heartbeat (every 2 s) and stop.
  await sleep(3_000);
  await admin.deleteUsers(prefix);
  return {
    starts: STARTS,
    concurrency: START_CONCURRENCY,
    p50ms: round(percentile(latencies, 50)),
    p99ms: round(percentile(latencies, 99)),
    maxMs: round(Math.max(...latencies)),
    startsPerSecond: round(STARTS / seconds),
    created,
  };
}

// ---------------------------------------------------------------------------------------------
// 5. Recovery after SIGKILL
// ---------------------------------------------------------------------------------------------

interface RecoveryFigures {
  contacts: number;
  killedAtSaved: number;
  /** Pages the server's last heartbeat was behind the rows actually committed when the worker died. */
  heartbeatLagPages: number | null;
  pagesFetchedTwice: number;
  contactsFetchedTwice: number;
  /** From spawning the new worker to its "polling" line (bundling workflow code, connecting). */
  workerReadySeconds: number;
  /** From spawning the new worker to the first page the provider served to it. */
  firstFetchSeconds: number;
  /** From spawning the new worker to the first new row committed: "resumed progress". */
  resumedSeconds: number;
  /** From the SIGKILL to resumed progress. */
  killToResumedSeconds: number;
  completed: boolean;
  finalRows: number;
}

async function measureRecovery(ctx: Env, service: Service, admin: StoreAdmin, n: number): Promise<RecoveryFigures> {
  const userId = `${TAG}recovery`;
  ctx.provider.configure({ contacts: n });
  ctx.provider.resetStats();
  const { view } = await postImport(service.apiUrl, userId);
  const pageSize = loadConfig(service.env).importDefaults.pageSize;
  for (;;) {
    const v = await getImport(service.apiUrl, view.importId);
    if (v.saved >= n * KILL_AT) break;
    if (v.state !== 'running') throw new Error(`recovery import ended (${v.state}) before ${KILL_AT * 100}% was saved`);
    await sleep(20);
  }
  const killedAt = performance.now();
  service.worker.kill('SIGKILL');
  await service.worker.exited;
  const killedAtSaved = await admin.count(userId);
  const pagesAtKill = ctx.provider.stats.pagesServed;
  let heartbeatLagPages: number | null = null;
  try {
    const description = await ctx.client.workflow.getHandle(view.workflowId).describe();
    const data = description.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0]?.data;
    if (data) {
      const beat = JSON.parse(Buffer.from(data).toString('utf8')) as { checkpoint: { saved: number } };
      heartbeatLagPages = round((killedAtSaved - beat.checkpoint.saved) / pageSize, 2);
    }
  } catch {
    // Diagnostic only.
  }
  progress(`  SIGKILLed the worker at ${killedAtSaved.toLocaleString('en-US')} rows (heartbeat ${heartbeatLagPages ?? '?'} pages behind); starting another`);

  const spawnedAt = performance.now();
  const workerPromise = startWorker(service.env, 'worker-restarted');
  let readyAt = 0;
  let firstFetchAt = 0;
  let resumedAt = 0;
  let worker: Child | undefined;
  void workerPromise.then((w) => {
    readyAt = performance.now();
    worker = w;
  });
  const deadline = Date.now() + 120_000;
  while ((!firstFetchAt || !resumedAt) && Date.now() < deadline) {
    if (!firstFetchAt && ctx.provider.stats.pagesServed > pagesAtKill) firstFetchAt = performance.now();
    if (!resumedAt && (await admin.count(userId)) > killedAtSaved) resumedAt = performance.now();
    await sleep(50);
  }
  service.worker = worker ?? (await workerPromise);
  if (!readyAt) readyAt = performance.now();
  const end = await waitForEnd(service.apiUrl, view.importId, Math.max(180_000, n * 2));
  const twice = [...ctx.provider.stats.pageTokensServed.values()].filter((count) => count > 1);
  const extraServes = twice.reduce((sum, count) => sum + count - 1, 0);
  const finalRows = await admin.count(userId);
  await admin.deleteUsers(userId);
  return {
    contacts: n,
    killedAtSaved,
    heartbeatLagPages,
    pagesFetchedTwice: extraServes,
    contactsFetchedTwice: extraServes * pageSize,
    workerReadySeconds: round((readyAt - spawnedAt) / 1000, 2),
    firstFetchSeconds: round((firstFetchAt - spawnedAt) / 1000, 2),
    resumedSeconds: round((resumedAt - spawnedAt) / 1000, 2),
    killToResumedSeconds: round((resumedAt - killedAt) / 1000, 2),
    completed: end.state === 'completed' && end.saved === n,
    finalRows,
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface Results {
  date: string;
  machine: Record<string, string | number>;
  settings: Record<string, unknown>;
  throughput: ThroughputRow[];
  status?: StatusFigures;
  start?: StartFigures;
  recovery?: RecoveryFigures;
  rssSeries?: Record<string, Array<[number, number]>>;
  targets?: Array<{ target: string; measured: string; met: boolean | null }>;
  errors: string[];
}

function machine(): Record<string, string | number> {
  let temporalCli = 'unknown';
  try {
    temporalCli = execFileSync(resolveTemporalCli(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Reported as unknown.
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    temporalCli,
  };
}

const fmt = (n: number | undefined) => (n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));

function targets(results: Results): NonNullable<Results['targets']> {
  const out: NonNullable<Results['targets']> = [];
  for (const row of results.throughput) {
    if (row.ratio !== undefined) {
      out.push({ target: `service/baseline ≥ 1.0 (${row.store}, ${fmt(row.contacts)})`, measured: row.ratio.toFixed(2), met: row.ratio >= 1 });
    }
  }
  const status = results.status;
  if (status) {
    for (const [route, ratio] of Object.entries(status.p99Ratios)) {
      if (route === '/healthz') continue;
      out.push({ target: `status p99 ≤ 3× constant route p99 (vs ${route})`, measured: `${ratio}×`, met: ratio <= 3 });
    }
  }
  const withHistory = results.throughput.filter((r) => r.history);
  for (const row of withHistory) {
    const h = row.history as HistoryFigures;
    out.push({ target: `≤ 20 events / 10k contacts (${row.store}, ${fmt(row.contacts)})`, measured: String(h.eventsPer10k), met: h.eventsPer10k <= 20 });
    out.push({ target: `≤ 4 KB history / 10k contacts (${row.store}, ${fmt(row.contacts)})`, measured: `${(h.bytesPer10k / 1024).toFixed(2)} KB`, met: h.bytesPer10k <= 4096 });
    out.push({ target: `no run > 4 MB (${row.store}, ${fmt(row.contacts)})`, measured: `${(h.largestRunBytes / 1024).toFixed(0)} KB`, met: h.largestRunBytes <= 4 * 1024 * 1024 });
    out.push({ target: `no contact data in history (${row.store}, ${fmt(row.contacts)})`, measured: h.contactDataFound.length ? `found: ${h.contactDataFound.join(', ')}` : 'none found', met: h.contactDataFound.length === 0 });
  }
  const rssRows = results.throughput.filter((r) => r.service);
  if (rssRows.length > 0) {
    const peak = Math.max(...rssRows.map((r) => r.service?.workerPeakRssMB ?? 0));
    const shape = rssRows.map((r) => `${fmt(r.contacts)} (${r.store}): ${r.service?.workerPeakRssMB} MB`).join('; ');
    out.push({ target: 'worker RSS ≤ 300 MB, flat in N', measured: shape, met: peak <= 300 });
  }
  if (results.recovery) {
    const r = results.recovery;
    out.push({ target: 'at most one page fetched twice after SIGKILL', measured: String(r.pagesFetchedTwice), met: r.pagesFetchedTwice <= 1 });
  }
  return out;
}

function markdown(results: Results): string {
  const lines: string[] = [];
  lines.push(`Machine: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, ${results.machine.os}, Node ${results.machine.node}, ${results.date}`);
  lines.push('');
  if (results.throughput.length > 0) {
    lines.push('| Store | Contacts | Baseline c/s | Service c/s | Ratio | Worker peak RSS | Events/10k | Bytes/10k | Runs | Largest run |');
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of results.throughput) {
      const h = r.history;
      lines.push(
        `| ${r.store} | ${fmt(r.contacts)} | ${fmt(r.baseline?.contactsPerSecond)} | ${fmt(r.service?.contactsPerSecond)} | ${r.ratio?.toFixed(2) ?? '–'} | ${r.service ? `${r.service.workerPeakRssMB} MB` : '–'} | ${h?.eventsPer10k ?? '–'} | ${h ? fmt(h.bytesPer10k) : '–'} | ${h?.runs ?? '–'} | ${h ? `${h.largestRunEvents} ev, ${fmt(h.largestRunBytes / 1024)} KB` : '–'} |`,
      );
    }
    lines.push('');
  }
  if (results.status) {
    lines.push(`| Route (autocannon -c 32 -d ${DURATION_S}, import running) | req/s | p50 ms | p99 ms | non-2xx |`);
    lines.push('|---|--:|--:|--:|--:|');
    for (const r of results.status.routes) lines.push(`| \`${r.route}\` ${r.label} | ${fmt(r.requestsPerSecond)} | ${r.p50ms} | ${r.p99ms} | ${fmt(r.non2xx)} |`);
    const { query, describe } = results.status.direct;
    lines.push(`| (no API) status query via the client, 32 callers | ${fmt(query.callsPerSecond)} | ${query.p50ms} | ${query.p99ms} | ${query.failures} failed |`);
    lines.push(`| (no API) describe via the client, 32 callers | ${fmt(describe.callsPerSecond)} | ${describe.p50ms} | ${describe.p99ms} | ${describe.failures} failed |`);
    lines.push('');
  }
  if (results.start) {
    const s = results.start;
    lines.push(`Start latency: ${s.starts} × POST /v1/imports (${s.concurrency} at a time): p50 ${s.p50ms} ms, p99 ${s.p99ms} ms, max ${s.maxMs} ms, ${s.startsPerSecond} starts/s, ${s.created} created.`);
    lines.push('');
  }
  if (results.recovery) {
    const r = results.recovery;
    lines.push(
      `Recovery (${fmt(r.contacts)} contacts, SIGKILL at ${fmt(r.killedAtSaved)} rows): ${r.pagesFetchedTwice} pages (${fmt(r.contactsFetchedTwice)} contacts) fetched twice; heartbeat was ${r.heartbeatLagPages ?? '?'} pages behind; new worker ready ${r.workerReadySeconds} s, first page ${r.firstFetchSeconds} s, first new row ${r.resumedSeconds} s after restart (${r.killToResumedSeconds} s after the kill); completed: ${r.completed}, rows ${fmt(r.finalRows)}.`,
    );
    lines.push('');
  }
  if (results.targets && results.targets.length > 0) {
    lines.push('| Target | Measured | Met |');
    lines.push('|---|---|:-:|');
    for (const t of results.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? '?' : t.met ? 'yes' : '**no**'} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

let cleanup: (() => Promise<void>) | undefined;
let currentEnv: Env | undefined;

function ctx(): Env {
  if (!currentEnv) throw new Error('the benchmark environment is not started yet');
  return currentEnv;
}

async function main(): Promise<void> {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  for (const file of fs.readdirSync(RESULTS_DIR)) if (file.endsWith('.log')) fs.rmSync(path.join(RESULTS_DIR, file));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-bench-'));
  const results: Results = {
    date: new Date().toISOString(),
    machine: machine(),
    settings: {},
    throughput: [],
    rssSeries: {},
    errors: [],
  };
  progress(`machine: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}`);
  progress('building the service (npm run build): worker and API run compiled, as deployed');
  buildService();

  // Filled in as things start, so that clean-up stops whatever did.
  const started: { devServer?: DevServer; provider?: DemoProvider; connection?: Connection } = {};
  const admins: StoreAdmin[] = [];
  cleanup = async () => {
    cleanup = undefined;
    await Promise.all(runningChildren().map((c) => c.stop(5_000)));
    for (const admin of admins) {
      await admin.deleteUsers(TAG).catch(() => undefined);
      await admin.close().catch(() => undefined);
    }
    await started.connection?.close().catch(() => undefined);
    await started.provider?.close().catch(() => undefined);
    await started.devServer?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  progress('starting a headless Temporal dev server');
  const devServer = (started.devServer = await startDevServer({
    headless: true,
    searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS,
    log: () => undefined,
  }));
  const provider = (started.provider = await startDemoProvider({ contacts: N }));
  const connection = (started.connection = await Connection.connect({ address: devServer.address }));
  const client = new Client({ connection, namespace: 'default' });
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: devServer.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: `${TAG}queue`,
    GOOGLE_PEOPLE_BASE_URL: provider.url,
    DATA_DIR: dataDir,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ...overrides,
  };
  const ctx: Env = (currentEnv = { devServer, provider, client, connection, dataDir, baseEnv });
  const effective = loadConfig(baseEnv);
  results.settings = {
    sizes: SIZES,
    phases: [...only],
    overrides,
    importDefaults: effective.importDefaults,
    workerMaxConcurrentActivities: effective.workerMaxConcurrentActivities,
    heartbeatThrottleMs: effective.heartbeatThrottleMs,
    baselinePageSize: 1000,
    pollMs: POLL_MS,
    service: 'compiled by npm run build, run with node (as deployed)',
    postgres: PG_URL ? PG_URL.replace(/\/\/[^@/]*@/, '//…@') : null,
  };
  progress(`settings: ${JSON.stringify(results.settings)}`);

  const stores: Array<'sqlite' | 'postgres'> = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
  for (const store of stores) {
    progress(`${store}: starting worker and API`);
    const service = await startService(ctx, store);
    const admin = openStoreAdmin(loadConfig(service.env).database);
    admins.push(admin);
    try {
      if (only.has('throughput') || only.has('history')) {
        for (const n of SIZES) {
          const row: ThroughputRow = { store, contacts: n };
          results.throughput.push(row);
          provider.configure({ contacts: n });
          if (only.has('throughput')) {
            const user = `${TAG}${store}-baseline-${n}`;
            progress(`${store} ${fmt(n)}: baseline loop`);
            row.baseline = await runBaseline(ctx, service, user, n);
            if ((os.loadavg()[0] ?? 0) > os.cpus().length) progress(`  note: load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} cores: something else is running`);
            const rows = await admin.count(user);
            if (rows !== n) throw new Error(`baseline left ${rows} rows, expected ${n}`);
            row.loadAverage = { baseline: round(os.loadavg()[0] ?? 0, 2) };
            progress(`  baseline ${fmt(row.baseline.contactsPerSecond)} contacts/s (${row.baseline.seconds} s)`);
            await admin.deleteUsers(user);
          }
          const user = `${TAG}${store}-service-${n}`;
          progress(`${store} ${fmt(n)}: service import`);
          const run = await runService(ctx, service, user, n);
          const rows = await admin.count(user);
          if (rows !== n) throw new Error(`service import left ${rows} rows, expected ${n}`);
          const { rssSeries, workflowId, firstRunId, ...figures } = run;
          row.service = figures;
          row.loadAverage = { ...row.loadAverage, service: round(os.loadavg()[0] ?? 0, 2) };
          if (results.rssSeries) results.rssSeries[`${store}-${n}`] = rssSeries;
          if (row.baseline) row.ratio = round(run.contactsPerSecond / row.baseline.contactsPerSecond, 2);
          progress(`  service ${fmt(run.contactsPerSecond)} contacts/s (${run.seconds} s), ratio ${row.ratio ?? '–'}, worker peak RSS ${run.workerPeakRssMB} MB, CPU s ${JSON.stringify(run.cpuSeconds)}`);
          if (only.has('history')) {
            row.history = await measureHistory(client, workflowId, firstRunId, n);
            progress(`  history: ${row.history.runs} runs, ${row.history.events} events, ${fmt(row.history.bytes)} bytes; per 10k: ${row.history.eventsPer10k} events, ${fmt(row.history.bytesPer10k)} bytes; contact data: ${row.history.contactDataFound.join(', ') || 'none'}`);
          }
          await admin.deleteUsers(user);
        }
      }
      if (store === 'sqlite') {
        if (only.has('status')) {
          progress('status latency while an import runs');
          results.status = await measureStatus(ctx, service, admin);
        }
        if (only.has('recovery')) {
          progress(`recovery: SIGKILL the worker at ${KILL_AT * 100}% of ${fmt(N)}`);
          results.recovery = await measureRecovery(ctx, service, admin, N);
          progress(`  ${results.recovery.pagesFetchedTwice} pages fetched twice; resumed ${results.recovery.resumedSeconds} s after restart`);
        }
        if (only.has('start')) {
          progress(`start latency: ${STARTS} × POST /v1/imports`);
          results.start = await measureStarts(ctx, service, admin);
          progress(`  p50 ${results.start.p50ms} ms, p99 ${results.start.p99ms} ms`);
        }
      }
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      results.errors.push(`${store}: ${message}`);
      progress(`ERROR (${store}): ${message}`);
    } finally {
      provider.configure({ contacts: N, faults: {} });
      await service.api.stop();
      await service.worker.stop();
      await admin.deleteUsers(TAG);
    }
  }

  results.targets = targets(results);
  const table = markdown(results);
  console.log(`\n${table}\n`);
  const out = path.join(RESULTS_DIR, `${args.out.replace(/\.json$/, '')}.json`);
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  progress(`wrote ${path.relative(ROOT, out)}`);
  await cleanup?.();
  if (results.errors.length > 0) process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    progress(`${signal}: stopping everything the benchmark started`);
    void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

main().catch(async (err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await cleanup?.();
  process.exit(1);
});
