/**
 * Where a process's CPU seconds went during one import, stage by stage: its threads from `/proc`
 * (the JavaScript thread, the Temporal core's threads, every other thread), and the JavaScript
 * thread's seconds split by the shares of its sampled profile (`observability/cpu-stages.ts`).
 * The worker's profile comes from its running totals (`WORKER_CPU_STAGES_FILE`, one snapshot per
 * `SIGUSR2`); the plain loop writes its own (`PLAIN_LOOP_PROFILE`).
 */
import fs from 'node:fs';
import {
  CPU_STAGES,
  classifyProfile,
  emptyStages,
  type CpuProfile,
  type CpuStage,
  type CpuStagesSnapshot,
  type StageRule,
  type StageTimes,
} from '../observability/cpu-stages';
import { cpuSeconds, round, sleep } from './support';

/** CPU seconds of one import, split: each stage of the JavaScript thread, then the other threads. */
export type StageCpu = Record<CpuStage, number> & {
  /** The Temporal core's threads (Rust, `tokio-runtime-w…`): polling, gRPC, the history cache. */
  coreThreads: number;
  /** Every other thread: the workflow thread (the worker's), V8's collector and compiler helpers, libuv's pool. */
  otherThreads: number;
  /** The whole process (the sum of the above), without the profiler's own thread. */
  total: number;
  /** The profiler's own thread (`v8:ProfEvntProc`): what measuring the stages cost, left out of `total`. */
  profiler: number;
};

/** The columns of {@link StageCpu}, in print order. */
export const STAGE_CPU_COLUMNS = [...CPU_STAGES, 'coreThreads', 'otherThreads', 'total'] as const;

/** Every field of {@link StageCpu}: the columns and the profiler's own cost. */
const STAGE_CPU_FIELDS = [...STAGE_CPU_COLUMNS, 'profiler'] as const;

/** The plain loop's stages: its functions, by name (it imports nothing from the project). */
export const LOOP_STAGE_RULES: readonly StageRule[] = [
  { stage: 'gc', fn: /^\(garbage collector\)$/ },
  { stage: 'fetch', url: /plain-loop\./, fn: /^(getJson|peoplePages|graphPages|graphListing)$/ },
  { stage: 'map', url: /plain-loop\./, fn: /^(personRow|graphRow)$/ },
  { stage: 'store', url: /plain-loop\./, fn: /^(savePage|jsonTextArray)$/ },
  { stage: 'store', url: /\/node_modules\/(better-sqlite3|pg|pg-protocol|pg-types)\// },
  { stage: 'fetch', url: /node:internal\/deps\/undici|node:internal\/webstreams/ },
];

/** CPU seconds of a process's threads so far: its JavaScript thread (thread id = pid), Temporal core's, the profiler's, and the process. */
export interface ThreadCpu {
  main: number;
  core: number;
  profiler: number;
  /** The whole process, threads that have ended included. */
  total: number;
}

/** The thread V8's profiler processes its samples on, named by V8. */
const PROFILER_THREAD = 'v8:ProfEvntProc';

/** {@link ThreadCpu} of `pid` now, from `/proc/<pid>/task/*` (nanoseconds in `schedstat`) and `/proc/<pid>/stat`. */
export function threadCpu(pid: number): ThreadCpu {
  let main = 0;
  let core = 0;
  let profiler = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const seconds = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
        const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        if (Number(tid) === pid) main = seconds;
        else if (name.startsWith('tokio')) core += seconds;
        else if (name === PROFILER_THREAD) profiler += seconds;
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  } catch {
    // The process has gone.
  }
  return { main, core, profiler, total: cpuSeconds(pid) };
}

/**
 * The CPU of an interval split by stage: `times` (sampled milliseconds per stage) scaled to the
 * JavaScript thread's seconds; the core's threads, and the rest of the process but the profiler's thread.
 */
export function splitCpu(times: StageTimes, seconds: ThreadCpu): StageCpu {
  const { main, core, profiler } = seconds;
  const sampled = CPU_STAGES.reduce((sum, stage) => sum + times[stage], 0);
  const split = {} as StageCpu;
  for (const stage of CPU_STAGES) split[stage] = sampled > 0 ? round((times[stage] / sampled) * main, 3) : 0;
  // /proc/<pid>/stat counts in 10 ms ticks: never below the threads it is the sum of.
  const total = Math.max(seconds.total - profiler, main + core);
  split.coreThreads = round(core, 3);
  split.otherThreads = round(total - main - core, 3);
  split.total = round(total, 3);
  split.profiler = round(profiler, 3);
  return split;
}

/** The plain loop's split, from the profile it wrote and the seconds it reported. */
export function loopCpu(profileFile: string, seconds: ThreadCpu): StageCpu {
  const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as CpuProfile;
  return splitCpu(classifyProfile(profile, LOOP_STAGE_RULES).stages, seconds);
}

/** A reading of the worker's stage totals and threads, to subtract from a later one. */
export interface WorkerCpuReading {
  stages: StageTimes;
  threads: ThreadCpu;
}

/**
 * The worker's stage totals (a fresh snapshot, asked for with `SIGUSR2`) and its threads now. The
 * snapshot is taken first and the threads read after, so the snapshot's own work falls outside.
 */
export async function readWorkerCpu(pid: number, file: string | undefined, order: 'before' | 'after'): Promise<WorkerCpuReading> {
  if (order === 'after') {
    const threads = threadCpu(pid);
    return { stages: file ? await workerSnapshot(pid, file) : emptyStages(), threads };
  }
  const stages = file ? await workerSnapshot(pid, file) : emptyStages();
  return { stages, threads: threadCpu(pid) };
}

/** The worker's CPU between two readings, split by stage. */
export function workerCpuSince(before: WorkerCpuReading, after: WorkerCpuReading): StageCpu {
  const times = emptyStages();
  for (const stage of CPU_STAGES) times[stage] = after.stages[stage] - before.stages[stage];
  const since = (key: keyof ThreadCpu) => after.threads[key] - before.threads[key];
  return splitCpu(times, { main: since('main'), core: since('core'), profiler: since('profiler'), total: since('total') });
}

/** Asks the worker for a snapshot of its stage totals and waits until it has written it. */
async function workerSnapshot(pid: number, file: string): Promise<StageTimes> {
  const seqOf = (): number => {
    try {
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as CpuStagesSnapshot).seq;
    } catch {
      return 0;
    }
  };
  const last = seqOf();
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const written = seqOf();
    if (written > last) return (JSON.parse(fs.readFileSync(file, 'utf8')) as CpuStagesSnapshot).stages;
    await sleep(20);
  }
  throw new Error(`the worker wrote no CPU stage snapshot to ${file} within 30 s (is WORKER_CPU_STAGES_FILE set?)`);
}

/** The median of each column over `splits`. */
export function medianSplit(splits: readonly StageCpu[]): StageCpu {
  const out = {} as StageCpu;
  for (const field of STAGE_CPU_FIELDS) out[field] = round(median(splits.map((s) => s[field])), 3);
  return out;
}

/** The median of `values` (the mean of the middle two for an even count); 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
