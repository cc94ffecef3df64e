/**
 * 3. Start latency: `POST /v1/imports` for `--starts` distinct users, 10 at a time. The demo
 * provider holds every page, so the imports do not run; they are terminated afterwards.
 */
import { DEFAULT_TENANT, importWorkflowId } from '../workflows/contract';
import { PROVIDER } from './http-client';
import type { BenchRun, Service } from './service';
import { percentile, round, sleep } from './support';

const START_CONCURRENCY = 10;
const TERMINATE_CONCURRENCY = 20;

export interface StartFigures {
  starts: number;
  concurrency: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  startsPerSecond: number;
  created: number;
}

export async function measureStart(run: BenchRun, service: Service): Promise<StartFigures> {
  const { starts } = run.options;
  const prefix = `${run.tag}start-`;
  // Every page request waits, so the imports started here do not run and load the machine.
  await run.provider.configure({ faults: { holdFromOffset: 0 } });
  const latencies: number[] = [];
  let created = 0;
  const started = performance.now();
  await forEachIndex(starts, START_CONCURRENCY, async (i) => {
    const t0 = performance.now();
    const { status } = await service.imports.postImport(`${prefix}${i}`);
    latencies.push(performance.now() - t0);
    if (status === 202) created += 1;
  });
  const seconds = (performance.now() - started) / 1000;
  run.progress(`  ${starts} started in ${seconds.toFixed(1)} s; terminating them`);
  await forEachIndex(starts, TERMINATE_CONCURRENCY, async (i) => {
    await run.client.workflow
      .getHandle(importWorkflowId({ tenant: DEFAULT_TENANT, userId: `${prefix}${i}` }, PROVIDER))
      .terminate('benchmark clean-up')
      .catch(() => undefined);
  });
  await run.provider.configure({ faults: {} });
  // Held activities learn of the termination at their next heartbeat (every 2 s) and stop.
  await sleep(3_000);
  await service.admin.deleteUsers(prefix);
  return {
    starts,
    concurrency: START_CONCURRENCY,
    p50ms: round(percentile(latencies, 50)),
    p99ms: round(percentile(latencies, 99)),
    maxMs: round(Math.max(...latencies)),
    startsPerSecond: round(starts / seconds),
    created,
  };
}

/** Calls `each` for 0 … count-1, `concurrency` calls at a time. */
async function forEachIndex(count: number, concurrency: number, each: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await each(i);
    }),
  );
}
