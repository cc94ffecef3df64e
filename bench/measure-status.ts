/**
 * 2. Status latency: autocannon against the status route and, on the same API process, routes that
 * answer without Temporal, while an import runs; then the status query and `describe` straight
 * through the Temporal client, to show where the status time goes.
 */
import path from 'node:path';
import { statusQuery } from '../workflows/contract';
import type { BenchRun, Service } from './service';
import { ROOT, cpuSeconds, percentile, round, sleep, spawnNode } from './support';

/** Connections of each autocannon run, and callers of each direct loop. */
export const STATUS_CONCURRENCY = 32;

export interface LatencyFigures {
  route: string;
  label: string;
  requestsPerSecond: number;
  p50ms: number;
  p99ms: number;
  non2xx: number;
  errors: number;
  /**
   * The API process's CPU (user + system, from `/proc`) per answer during the run, in µs: what the
   * p99 ratio follows with 32 closed-loop connections, and steadier than latency on a shared machine.
   */
  apiCpuUsPerAnswer: number;
}

export interface LoopFigures {
  callsPerSecond: number;
  p50ms: number;
  p99ms: number;
  failures: number;
}

export interface StatusFigures {
  /** The store the API read each status's stored state from. */
  store: Service['store'];
  routes: LatencyFigures[];
  /** status p99 / constant route p99, for each constant route measured. */
  p99Ratios: Record<string, number>;
  /** The status query and `describe` called straight through the client, 32 at a time. */
  direct: { query: LoopFigures; describe: LoopFigures };
  savedDuringMeasurement: number;
}

export async function measureStatus(run: BenchRun, service: Service): Promise<StatusFigures> {
  const { imports } = service;
  const userId = `${run.tag}status`;
  // Enough contacts that the import is still running when all four measurements are done.
  await run.provider.configure({ contacts: 100_000_000 });
  const { view } = await imports.postImport(userId);
  for (let v = view; v.saved === 0; v = await imports.getImport(view.importId)) await sleep(200);
  const savedBefore = (await imports.getImport(view.importId)).saved;
  const routes: Array<[string, string]> = [
    [`/v1/imports/${view.importId}`, 'status (workflow query), import running'],
    ['/livez', 'constant small JSON: liveness'],
    ['/openapi.json', 'constant large JSON: OpenAPI document'],
    ['/healthz', 'not constant: Temporal getSystemInfo + DB ping'],
  ];
  const results: LatencyFigures[] = [];
  for (const [route, label] of routes) {
    const shown = route.startsWith('/v1/imports') ? '/v1/imports/{id}' : route;
    run.progress(`  autocannon -c ${STATUS_CONCURRENCY} -d ${run.options.durationSeconds} ${shown}`);
    const figures = await autocannon(run, `${imports.url}${route}`, shown, label, service.api.pid);
    run.progress(
      `    ${figures.requestsPerSecond} req/s, p50 ${figures.p50ms} ms, p99 ${figures.p99ms} ms, non-2xx ${figures.non2xx}, errors ${figures.errors}, API CPU ${figures.apiCpuUsPerAnswer} µs/answer`,
    );
    results.push(figures);
  }
  // Where the status time goes: the workflow query alone (Temporal server → worker) and `describe`
  // (answered by the server from the memo), each by 32 concurrent callers, without the API.
  const handle = run.client.workflow.getHandle(view.workflowId);
  const direct = {
    query: await closedLoop(run, 'query', () => handle.query(statusQuery)),
    describe: await closedLoop(run, 'describe', () => handle.describe()),
  };
  const during = await imports.getImport(view.importId);
  if (during.state !== 'running') throw new Error(`the status import was ${during.state} before the latency runs ended: measurements are not "while an import runs"`);
  await imports.cancelImport(view.importId);
  await imports.waitForEnd(view.importId, 60_000);
  await run.provider.configure({ contacts: run.options.contacts });
  const status = results[0] as LatencyFigures;
  const p99Ratios: Record<string, number> = {};
  for (const r of results.slice(1)) p99Ratios[r.route] = round(status.p99ms / Math.max(r.p99ms, 1), 2);
  await service.admin.deleteUsers(userId);
  return { store: service.store, routes: results, p99Ratios, direct, savedDuringMeasurement: during.saved - savedBefore };
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function autocannon(run: BenchRun, url: string, route: string, label: string, apiPid: number): Promise<LatencyFigures> {
  const seconds = run.options.durationSeconds;
  const cpuBefore = cpuSeconds(apiPid);
  const bin = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
  // A process of its own, so the load generator does not share an event loop with the demo provider.
  const child = spawnNode('autocannon', bin, ['-c', String(STATUS_CONCURRENCY), '-d', String(seconds), '-j', '-n', url]);
  const line = await child.waitFor(/^(\{.*\})$/, (seconds + 60) * 1000);
  await child.exited;
  const result = JSON.parse(line) as AutocannonJson;
  const cpu = cpuSeconds(apiPid) - cpuBefore;
  return {
    route,
    label,
    requestsPerSecond: Math.round(result.requests.average),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    apiCpuUsPerAnswer: Math.round((cpu * 1e6) / Math.max(result.requests.total, 1)),
  };
}

/** 32 callers, each calling `call` again as soon as it returns, for half the autocannon duration. */
async function closedLoop(run: BenchRun, name: string, call: () => Promise<unknown>): Promise<LoopFigures> {
  const latencies: number[] = [];
  let failures = 0;
  const seconds = Math.max(2, run.options.durationSeconds / 2);
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: STATUS_CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          await run.client.withDeadline(Date.now() + 10_000, call);
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
  run.progress(`    direct ${name} ×${STATUS_CONCURRENCY}: ${figures.callsPerSecond}/s, p50 ${figures.p50ms} ms, p99 ${figures.p99ms} ms, failures ${failures}`);
  return figures;
}
