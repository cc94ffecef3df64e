/**
 * The faults `npm run chaos` injects into a running cluster (scripts/cluster-parts.ts), each a
 * function that returns once the fault is over and the cluster is whole again (the part restarted
 * and listening, PostgreSQL answering, the provider healthy).
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { DemoFaultKind, DemoProvider } from '../demo-provider/server';
import type { Cluster } from './cluster-parts';
import { waitForPort, type ServicePorts } from './cluster-temporal';

const run = promisify(execFile);

/** The kinds, in the table's order. */
export const FAULT_KINDS = ['kill-worker', 'kill-api', 'restart-temporal', 'restart-postgres', 'provider'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A seeded generator (mulberry32): the same seed picks the same sizes, faults and moments. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultContext {
  cluster: Cluster;
  provider: DemoProvider;
  temporalPorts: ServicePorts;
  apiPorts: number[];
  workers: number;
  /** Restarts the PostgreSQL that holds the store (and, here, Temporal's databases). */
  restartPostgres: () => Promise<void>;
  random: () => number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function signalGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): number {
  if (!child?.pid) throw new Error('that part is not running');
  process.kill(-child.pid, signal);
  return child.pid;
}

/** Waits until the supervisor has started `part` again (a new process) and it listens on `port`. */
async function back(ctx: FaultContext, part: string, before: ChildProcess | undefined, port: number): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (ctx.cluster.processOf(part) === before || ctx.cluster.processOf(part)?.exitCode !== null) {
    if (Date.now() > deadline) throw new Error(`${part} did not come back within 180 s`);
    await sleep(100);
  }
  await waitForPort(port, 180_000);
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** Injects one fault of `kind`; returns what was done, for the log. */
export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<string> {
  switch (kind) {
    case 'kill-worker': {
      const part = `worker-${1 + Math.floor(ctx.random() * ctx.workers)}`;
      signalGroup(ctx.cluster.processOf(part), 'SIGKILL');
      return `SIGKILL ${part}`;
    }
    case 'kill-api': {
      const index = Math.floor(ctx.random() * ctx.apiPorts.length);
      const part = `api-${index + 1}`;
      const before = ctx.cluster.processOf(part);
      signalGroup(before, 'SIGKILL');
      await back(ctx, part, before, ctx.apiPorts[index]!);
      return `SIGKILL ${part}`;
    }
    case 'restart-temporal': {
      // History first (its shards move to the new process), then the front end every client talks to.
      for (const service of ['history', 'frontend'] as const) {
        const part = `temporal-${service}`;
        const before = ctx.cluster.processOf(part);
        signalGroup(before, 'SIGTERM');
        await back(ctx, part, before, ctx.temporalPorts[service].grpc);
      }
      return 'restart temporal-history, then temporal-frontend';
    }
    case 'restart-postgres':
      await ctx.restartPostgres();
      return 'restart PostgreSQL';
    case 'provider': {
      const fault = pick<DemoFaultKind>(ctx.random, ['429', '500', '503', 'drop']);
      const every = 2 + Math.floor(ctx.random() * 3);
      ctx.provider.configure({ faults: { every: { every, kind: fault }, retryAfterSeconds: 1 } });
      await sleep(2_000 + Math.floor(ctx.random() * 3_000));
      ctx.provider.configure({ faults: {} });
      return `provider ${fault} on every ${every}th request for a while`;
    }
  }
}

/**
 * How to restart the PostgreSQL at `url`: `CHAOS_PG_RESTART` (a command line) when set, else
 * Debian's `pg_ctlcluster <version> <name> restart` for the local cluster listening on its port.
 */
export function postgresRestarter(url: string, override: string | undefined): () => Promise<void> {
  let command: string[];
  if (override) {
    command = override.split(/\s+/).filter(Boolean);
  } else {
    const port = new URL(url).port || '5432';
    let clusters: string;
    try {
      clusters = execFileSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' });
    } catch {
      throw new Error('cannot find which PostgreSQL to restart (no pg_lsclusters): set CHAOS_PG_RESTART to the command that restarts it');
    }
    const line = clusters.split('\n').find((row) => row.trim().split(/\s+/)[2] === port);
    if (!line) throw new Error(`no local PostgreSQL cluster listens on port ${port}: set CHAOS_PG_RESTART to the command that restarts it`);
    const [version, name] = line.trim().split(/\s+/);
    command = ['pg_ctlcluster', version!, name!, 'restart'];
  }
  const [bin, ...args] = command;
  return async () => {
    await run(bin!, args, { timeout: 120_000 });
  };
}
