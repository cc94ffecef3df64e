/**
 * What the benchmark needs around the service: child processes it can sample and kill, readings of
 * their memory and CPU from /proc, and a few small helpers. No measurements here: those are the
 * `bench/measure-*.ts` modules (and the contacts table is `store-admin.ts`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export const ROOT = path.resolve(__dirname, '..');
export const RESULTS_DIR = path.join(__dirname, 'results');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Prints a line of progress, stamped with the seconds since the benchmark began. */
export type Progress = (message: string) => void;

export function createProgress(began = performance.now()): Progress {
  return (message) => {
    const t = ((performance.now() - began) / 1000).toFixed(0).padStart(4);
    console.log(`[bench ${t}s] ${message}`);
  };
}

/** A child process whose output is kept (last lines in memory, all of it in a log file). */
export interface Child {
  name: string;
  process: ChildProcess;
  pid: number;
  /** Resolves with the first capture group (or the line) of the first stdout line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  tail(): string;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<void>;
}

const children = new Set<Child>();

/** Every child still running, so that errors and Ctrl-C can stop them all. */
export function runningChildren(): Child[] {
  return [...children].filter((c) => c.alive());
}

/** Runs `node --import tsx <script>` from the project root, logging to `bench/results/<name>.log`. */
export function spawnScript(name: string, script: string, env: NodeJS.ProcessEnv, args: string[] = []): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return adopt(name, proc);
}

/**
 * Runs a part of the service as it is deployed: compiled by `npm run build` (see {@link buildService}),
 * with plain `node`, no TypeScript loader in the process whose memory we measure.
 */
export function spawnBuilt(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  nodeFlags: readonly string[] = [],
): Child {
  const file = path.join(ROOT, 'dist', script.replace(/\.ts$/, '.js'));
  const proc = spawn(process.execPath, [...nodeFlags, file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return adopt(name, proc);
}

/**
 * `npm run build`: compiles the service into dist/, then bundles the workflow code into
 * dist/workflow-bundle.js, which compiled workers load instead of bundling at start (as deployed).
 */
export function buildService(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'build-workflow-bundle.js')], { cwd: ROOT, stdio: 'inherit' });
}

/** Runs a plain JavaScript file with node (autocannon's CLI, say). */
export function spawnNode(name: string, file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(process.execPath, [file, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return adopt(name, proc);
}

function adopt(name: string, proc: ChildProcess): Child {
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const log = fs.createWriteStream(path.join(RESULTS_DIR, `${name}.log`), { flags: 'a' });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (s: string) => void }> = [];
  const onLine = (line: string) => {
    log.write(`${line}\n`);
    lines.push(line);
    if (lines.length > 60) lines.shift();
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(line);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match[1] ?? line);
      }
    }
  };
  if (proc.stdout) readline.createInterface({ input: proc.stdout }).on('line', onLine);
  if (proc.stderr) readline.createInterface({ input: proc.stderr }).on('line', onLine);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const child: Child = {
    name,
    process: proc,
    pid: proc.pid,
    exited,
    alive,
    tail: () => lines.slice(-20).join('\n'),
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} did not print ${pattern} within ${timeoutMs / 1000} s\n${child.tail()}`)), timeoutMs);
        const waiter = {
          pattern,
          resolve: (s: string) => {
            clearTimeout(timer);
            resolve(s);
          },
        };
        waiters.push(waiter);
        void exited.then(() => {
          clearTimeout(timer);
          if (waiters.includes(waiter)) reject(new Error(`${name} exited (code ${proc.exitCode}, signal ${proc.signalCode}) before printing ${pattern}\n${child.tail()}`));
        });
      });
    },
    kill(signal) {
      if (alive()) proc.kill(signal);
    },
    async stop(graceMs = 15_000) {
      if (alive()) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
      log.end();
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** Resident set size of a process, from /proc (Linux); `null` once it has gone. */
export function rssBytes(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match?.[1] ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; 0 once it has gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` and keeps the peak and a thinned series. */
export class RssSampler {
  peak = 0;
  first: number | null = null;
  readonly series: Array<[number, number]> = [];
  #timer: NodeJS.Timeout | undefined;
  #started = performance.now();

  constructor(private pid: number, private everyMs = 200) {}

  start(): this {
    this.#started = performance.now();
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.everyMs);
    return this;
  }

  /** Follow another process (the worker started after a SIGKILL) from now on. */
  follow(pid: number): void {
    this.pid = pid;
  }

  stop(): this {
    clearInterval(this.#timer);
    return this;
  }

  #sample(): void {
    const rss = rssBytes(this.pid);
    if (rss === null) return;
    this.first ??= rss;
    this.peak = Math.max(this.peak, rss);
    const t = (performance.now() - this.#started) / 1000;
    // One sample per second is enough to show the shape.
    const last = this.series.at(-1);
    if (!last || t - last[0] >= 1) this.series.push([Math.round(t * 10) / 10, rss]);
  }
}

/** Percentile (0..100) of a list of numbers, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
/** A whole number with thousands separators (`100,000`); `–` when there is none. */
export const fmt = (n: number | undefined) => (n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
