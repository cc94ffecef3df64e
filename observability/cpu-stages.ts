/**
 * CPU per stage of an import, for the benchmark: which share of a process's JavaScript thread goes
 * to fetching and parsing pages, checking and mapping people, normalising, writing the store,
 * heartbeats and payload encryption, the Temporal SDK, and garbage collection.
 *
 * Measured by sampling, not by timers around the stages: V8's profiler records the thread's stack
 * every {@link SAMPLING_INTERVAL_US}, and each sample goes to the stage of its innermost frame that
 * a rule names (a file, a package, a function). A timer around an `await` would also count whatever
 * else ran meanwhile (the page fetched ahead, another import's save); a sample sees the code that
 * is running. Stages are shares of the sampled time; the benchmark multiplies them by the thread's
 * CPU seconds from `/proc`, so a machine that preempts the thread skews no stage more than another.
 *
 * Off unless a worker is started with `WORKER_CPU_STAGES_FILE` (the benchmark sets it): then the
 * profiler runs for the life of the process, and each `SIGUSR2` adds the samples since the last
 * one to running totals and writes them to that file ({@link CpuStagesSnapshot}). Off, nothing of
 * this module runs, so it costs nothing. The plain loop profiles itself with the same session
 * calls and hands its raw profile to {@link classifyProfile}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';

/** The stages, in the order the benchmark prints them. */
export const CPU_STAGES = ['fetch', 'map', 'normalise', 'store', 'heartbeat', 'temporal', 'gc', 'other'] as const;
export type CpuStage = (typeof CPU_STAGES)[number];

/** What each stage holds, as the benchmark's table heads it. */
export const CPU_STAGE_LABELS: Record<CpuStage, string> = {
  fetch: 'fetch and parse',
  map: 'check and map',
  normalise: 'normalise',
  store: 'store write and commit',
  heartbeat: 'heartbeats and payload encryption',
  temporal: 'Temporal SDK (JavaScript)',
  gc: 'garbage collection',
  other: 'other',
};

/** Milliseconds of sampled time per stage (idle excluded). */
export type StageTimes = Record<CpuStage, number>;

/** One sample's stage: the innermost frame a rule matches decides; `url` and `fn` both must match when both are given. */
export interface StageRule {
  stage: CpuStage;
  url?: RegExp;
  fn?: RegExp;
}

/** The subset of a V8 `.cpuprofile` the classification reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber?: number }; children?: number[] }>;
  samples?: number[];
  timeDeltas?: number[];
}

/** What the worker writes on each `SIGUSR2`: running totals since it started. */
export interface CpuStagesSnapshot {
  /** Increases with every snapshot, so a reader can wait for the one it asked for. */
  seq: number;
  /** Sampled milliseconds per stage since the worker started. */
  stages: StageTimes;
  /** Sampled milliseconds the thread was idle (waiting in the event loop). */
  idleMs: number;
}

/**
 * One sample every 5 ms: several hundred per 100,000 contacts. Each sample costs the thread the
 * same whether it works or waits (bench/README.md has what it costs an idle worker), so at a short
 * interval the slower side of a comparison would pay more for being measured.
 */
export const SAMPLING_INTERVAL_US = 5000;

/**
 * Where the worker's code lives, stage by stage. Order matters only between rules that could match
 * the same frame; the innermost matching frame of a sample wins whatever the order.
 */
export const SERVICE_STAGE_RULES: readonly StageRule[] = [
  { stage: 'gc', fn: /^\(garbage collector\)$/ },
  { stage: 'normalise', url: /\/providers\/kit\/normalize\.|\/libphonenumber-js\// },
  { stage: 'map', url: /\/providers\/google-people\/person\.|\/providers\/kit\/records\./ },
  // The source's request and its body: the HTTP client (Node's fetch), UTF-8, JSON.parse of the page.
  {
    stage: 'fetch',
    url: /\/providers\/(kit\/http|google-people\/(page|client|page-decoder)|carddav\/|file\/|formats\/)|node:internal\/deps\/undici|node:internal\/webstreams/,
  },
  { stage: 'store', url: /\/db\/|\/activities\/import-sync\.|\/node_modules\/(kysely|better-sqlite3|pg|pg-protocol|pg-types|pg-pool)\// },
  { stage: 'heartbeat', url: /\/encryption\/|\/@temporalio\/common\/lib\/converter\// },
  { stage: 'heartbeat', url: /\/activities\/import-batch\./, fn: /^heartbeat$/ },
  { stage: 'temporal', url: /\/@temporalio\/|\/node_modules\/(rxjs|protobufjs|@grpc)\/|\/worker\// },
];

/** Sampled milliseconds per stage of `profile` (and idle), by `rules`. */
export function classifyProfile(profile: CpuProfile, rules: readonly StageRule[]): { stages: StageTimes; idleMs: number } {
  return sampledTimes(profile, rules);
}

/** A function's own sampled time (its callees' apart) and the stage its samples went to. */
export interface FunctionTime {
  stage: CpuStage;
  functionName: string;
  url: string;
  line: number;
  selfMs: number;
}

/**
 * The functions of `profile` by their own sampled time, most first, each with the stage
 * {@link classifyProfile} gives its samples (idle left out): what a stage spends its time on.
 */
export function functionTimes(profile: CpuProfile, rules: readonly StageRule[]): FunctionTime[] {
  const byFunction = new Map<string, FunctionTime>();
  sampledTimes(profile, rules, byFunction);
  return [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs);
}

/** Sampled milliseconds per stage and idle; with `byFunction`, also each function's own, added to it. */
function sampledTimes(profile: CpuProfile, rules: readonly StageRule[], byFunction?: Map<string, FunctionTime>): { stages: StageTimes; idleMs: number } {
  const stages = emptyStages();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const stageOf = new Map<number, CpuStage | 'idle' | undefined>();
  // Parents first (the root is the first node), so a node inherits its caller's stage unless a rule names its own.
  const visit = (id: number, inherited: CpuStage | 'idle' | undefined) => {
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url } = node.callFrame;
    const own = functionName === '(idle)' ? 'idle' : rules.find((r) => (!r.url || r.url.test(url)) && (!r.fn || r.fn.test(functionName)))?.stage;
    const stage = own ?? inherited;
    stageOf.set(id, stage);
    for (const child of node.children ?? []) visit(child, stage);
  };
  const root = profile.nodes[0];
  if (root) visit(root.id, undefined);
  let idleMs = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // A sample stands for the time until the next one; the last for the interval.
    const ms = (deltas[i + 1] ?? SAMPLING_INTERVAL_US) / 1000;
    const id = samples[i] as number;
    const stage = stageOf.get(id) ?? 'other';
    if (stage === 'idle') {
      idleMs += ms;
      continue;
    }
    stages[stage] += ms;
    if (!byFunction) continue;
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const key = `${stage}\u0000${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber ?? -1}`;
    const entry = byFunction.get(key);
    if (entry) entry.selfMs += ms;
    else byFunction.set(key, { stage, functionName: frame.functionName || '(anonymous)', url: frame.url, line: (frame.lineNumber ?? -1) + 1, selfMs: ms });
  }
  return { stages, idleMs };
}

export function emptyStages(): StageTimes {
  return Object.fromEntries(CPU_STAGES.map((stage) => [stage, 0])) as StageTimes;
}

/**
 * Profiles this process's JavaScript thread until it exits, and writes running stage totals to
 * `file` whenever it receives `SIGUSR2`. With `profileDir`, each snapshot also keeps the samples
 * since the previous one as a V8 profile, `<profileDir>/cpu-<pid>-<seq>.cpuprofile`, to open in
 * Chrome's DevTools or to list by function with `bench/profile-top.ts`. Resolves once the profiler runs.
 */
export async function startCpuStages(file: string, profileDir?: string, rules: readonly StageRule[] = SERVICE_STAGE_RULES): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  if (profileDir !== undefined) fs.mkdirSync(profileDir, { recursive: true });
  const totals: CpuStagesSnapshot = { seq: 0, stages: emptyStages(), idleMs: 0 };
  let writing = Promise.resolve();
  const snapshot = async () => {
    // Stopping hands over the samples so far; the next profile starts at once.
    const { profile } = await session.post('Profiler.stop');
    await session.post('Profiler.start');
    const { stages, idleMs } = classifyProfile(profile as CpuProfile, rules);
    for (const stage of CPU_STAGES) totals.stages[stage] += stages[stage];
    totals.idleMs += idleMs;
    totals.seq += 1;
    // Written whole under another name, then renamed: a reader never sees half a file.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(totals));
    fs.renameSync(`${file}.tmp`, file);
    // After the totals, which the bench waits for: a profile that cannot be kept costs only itself.
    if (profileDir !== undefined) fs.writeFileSync(path.join(profileDir, `cpu-${process.pid}-${totals.seq}.cpuprofile`), JSON.stringify(profile));
  };
  process.on('SIGUSR2', () => {
    writing = writing.then(snapshot).catch((err: unknown) => console.error(`cpu stages: ${String(err)}`));
  });
}
