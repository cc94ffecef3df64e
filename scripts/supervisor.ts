/**
 * Keeps the parts of `npm start` running. A part that exits unexpectedly is restarted after a
 * backoff (1 s, doubling to 30 s; back to 1 s once it has run a minute), and the log says which
 * part, how it exited and when it comes back; the other parts keep running. A part that keeps
 * crashing (5 restarts within 2 minutes, then another crash), or that exits refusing its
 * configuration ({@link CONFIG_EXIT_CODE}), is not restarted: the supervisor gives up, naming the
 * part and its log file, and its owner stops everything.
 *
 * Each part's output goes to `<logDir>/<part>.log` (appended across restarts) and, prefixed with
 * its name, to the console. Parts are stopped in the reverse of their start order, each with
 * SIGTERM to its process group and SIGKILL after its grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { CONFIG_EXIT_CODE } from '../config/parse';

/** How a part is started. */
export interface PartSpec {
  /** Names the part in messages and its log file. */
  name: string;
  /**
   * Starts the part, hands its process to `io.spawned` at once, passes every line it prints to
   * `io.output`, and resolves once the part is ready. Rejects when it cannot get there.
   */
  launch(io: PartIO): Promise<void>;
  /** How long the part may take to stop after SIGTERM before it gets SIGKILL. */
  stopGraceMs: number;
  /**
   * Once asked to stop, its output goes to its log file only. For a part that complains about
   * its own shutdown (the dev server warns, line after line, as its internal workers lose it).
   */
  quietWhileStopping?: boolean;
}

export interface PartIO {
  spawned(child: ChildProcess): void;
  output(line: string, stream: 'stdout' | 'stderr'): void;
}

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** A part that ran this long before it crashed is restarted after `initialDelayMs` again. */
  resetAfterMs: number;
  /** A crash after this many restarts within `windowMs` is one too many. */
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
  maxRestarts: 5,
  windowMs: 120_000,
};

export interface SupervisorOptions {
  /** Where the parts' log files go (created if missing). */
  logDir: string;
  /** Called once when a part cannot be kept running; the owner then stops everything. */
  onGiveUp(message: string): void;
  policy?: RestartPolicy;
  /** The supervisor's own lines; `console.log` by default. */
  say?(line: string): void;
  /** Each line a part prints; to the console, prefixed with the part's name, by default. */
  echo?(part: string, line: string, stream: 'stdout' | 'stderr'): void;
}

interface Part {
  spec: PartSpec;
  logFile: string;
  log: fs.WriteStream;
  process?: ChildProcess;
  /** Its launch resolved: from then on an exit is a crash (before, the launch's rejection says so). */
  ready: boolean;
  startedAt: number;
  nextDelayMs: number;
  restartTimes: number[];
  restartTimer?: NodeJS.Timeout;
  /** Sent SIGTERM by `stop()`. */
  stopping?: boolean;
}

const isAlive = (child: ChildProcess | undefined): child is ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null;

/** `code 1`, `signal SIGKILL`: how a process ended. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export class Supervisor {
  private readonly parts: Part[] = [];
  private readonly policy: RestartPolicy;
  private readonly say: (line: string) => void;
  private readonly echo: (part: string, line: string, stream: 'stdout' | 'stderr') => void;
  private stopping = false;
  private gaveUp = false;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? DEFAULT_RESTART_POLICY;
    this.say = options.say ?? ((line) => console.log(line));
    this.echo =
      options.echo ??
      ((part, line, stream) => (stream === 'stderr' ? process.stderr : process.stdout).write(`[${part}] ${line}\n`));
    fs.mkdirSync(options.logDir, { recursive: true });
  }

  /** Where `name`'s output goes. */
  logFileOf(name: string): string {
    return path.join(this.options.logDir, `${name}.log`);
  }

  /** Starts a part and supervises it from then on. Rejects (naming its log) when its first start fails. */
  async start(spec: PartSpec): Promise<void> {
    const logFile = this.logFileOf(spec.name);
    const part: Part = {
      spec,
      logFile,
      log: fs.createWriteStream(logFile, { flags: 'a' }),
      ready: false,
      startedAt: Date.now(),
      nextDelayMs: this.policy.initialDelayMs,
      restartTimes: [],
    };
    this.parts.push(part);
    try {
      await this.launch(part);
    } catch (err) {
      throw new Error(`${spec.name} did not start: ${err instanceof Error ? err.message : String(err)} (log: ${logFile})`);
    }
  }

  /** Stops every part, last started first, each within its grace period. Restarts stop too. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const part of this.parts) clearTimeout(part.restartTimer);
    for (const part of [...this.parts].reverse()) await this.stopPart(part);
    await Promise.all(this.parts.map((part) => new Promise<void>((resolve) => part.log.end(resolve))));
  }

  /** SIGKILL to every part at once (a second Ctrl-C, or this process exiting). Synchronous. */
  kill(): void {
    this.stopping = true;
    for (const part of this.parts) {
      clearTimeout(part.restartTimer);
      if (isAlive(part.process)) signalGroup(part.process, 'SIGKILL');
    }
  }

  private note(part: Part, line: string): void {
    part.log.write(`--- ${new Date().toISOString()} ${line} ---\n`);
  }

  private async launch(part: Part): Promise<void> {
    const { spec } = part;
    part.startedAt = Date.now();
    part.process = undefined;
    part.ready = false;
    this.note(part, `starting ${spec.name}`);
    await spec.launch({
      spawned: (child) => {
        part.process = child;
        child.once('exit', (code, signal) => this.exited(part, child, code, signal));
        // Stopped while it was starting: stop what was just spawned too.
        if (this.stopping) signalGroup(child, 'SIGTERM');
      },
      output: (line, stream) => {
        part.log.write(`${line}\n`);
        if (!(part.stopping && spec.quietWhileStopping)) this.echo(spec.name, line, stream);
      },
    });
    part.ready = true;
    // It may have exited between getting ready and now; that exit went unhandled.
    const child = part.process as ChildProcess | undefined;
    if (child && (child.exitCode !== null || child.signalCode !== null)) this.exited(part, child, child.exitCode, child.signalCode);
  }

  private exited(part: Part, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const how = describeExit(code, signal);
    this.note(part, `${part.spec.name} exited (${how})`);
    if (this.stopping || this.gaveUp || part.process !== child || !part.ready) return;
    if (code === CONFIG_EXIT_CODE) {
      this.giveUp(
        `${part.spec.name} refuses to run with this configuration (exit code ${code}); restarting it would not help. ` +
          `See what it said above or in ${part.logFile}`,
      );
      return;
    }
    this.crashed(part, how);
  }

  private crashed(part: Part, how: string): void {
    const now = Date.now();
    const ranMs = now - part.startedAt;
    if (ranMs >= this.policy.resetAfterMs) part.nextDelayMs = this.policy.initialDelayMs;
    part.restartTimes = part.restartTimes.filter((time) => now - time < this.policy.windowMs);
    if (part.restartTimes.length >= this.policy.maxRestarts) {
      this.giveUp(
        `${part.spec.name} keeps crashing: it exited (${how}) after ${part.restartTimes.length} restarts within ` +
          `${seconds(this.policy.windowMs)}. Its log: ${part.logFile}`,
      );
      return;
    }
    const delayMs = part.nextDelayMs;
    part.nextDelayMs = Math.min(delayMs * 2, this.policy.maxDelayMs);
    this.say(
      `start: ${part.spec.name} exited unexpectedly (${how}) after ${seconds(ranMs)}; ` +
        `restarting it in ${seconds(delayMs)} (log: ${part.logFile})`,
    );
    part.restartTimer = setTimeout(() => void this.restart(part), delayMs);
  }

  private async restart(part: Part): Promise<void> {
    if (this.stopping || this.gaveUp) return;
    part.restartTimes.push(Date.now());
    this.say(`start: restarting ${part.spec.name} (restart ${part.restartTimes.length} within ${seconds(this.policy.windowMs)})`);
    try {
      await this.launch(part);
      if (!this.stopping) this.say(`start: ${part.spec.name} is running again`);
    } catch (err) {
      if (this.stopping || this.gaveUp) return;
      const child = part.process;
      if (child && child.exitCode === CONFIG_EXIT_CODE) return; // exited() gave up already
      // It may still be running (it failed to get ready): make sure it is gone before the next try.
      part.process = undefined;
      if (isAlive(child)) signalGroup(child, 'SIGKILL');
      this.crashed(part, err instanceof Error ? err.message : String(err));
    }
  }

  private giveUp(message: string): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    this.options.onGiveUp(message);
  }

  private async stopPart(part: Part): Promise<void> {
    const child = part.process;
    if (!isAlive(child)) return;
    this.say(`start: stopping ${part.spec.name}`);
    part.stopping = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), part.spec.stopGraceMs)));
    if ((await Promise.race([exited, late])) === 'late') {
      this.say(`start: ${part.spec.name} did not stop within ${seconds(part.spec.stopGraceMs)}; killing it`);
      signalGroup(child, 'SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  }
}

export interface NodeScriptPartOptions {
  /** Everything after `node`: flags, then the script (`['--import', 'tsx', 'worker/main.ts']`). */
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** The line that says it is ready; its first group (or the line) goes to `onReady`. */
  ready: RegExp;
  onReady?: (captured: string) => void;
  stopGraceMs: number;
}

/** A part that is a Node process, in a process group of its own, ready once it prints `ready`. */
export function nodeScriptPart(name: string, options: NodeScriptPartOptions): PartSpec {
  const { args, env, cwd, ready, onReady, stopGraceMs } = options;
  return {
    name,
    stopGraceMs,
    launch: ({ spawned, output }) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [...args], {
          cwd,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
          // Its own process group: a terminal's Ctrl-C reaches only the supervising process, which
          // then stops each part once, in order.
          detached: true,
        });
        spawned(child);
        let isReady = false;
        for (const [stream, streamName] of [
          [child.stdout, 'stdout'],
          [child.stderr, 'stderr'],
        ] as const) {
          readline.createInterface({ input: stream }).on('line', (line) => {
            output(line, streamName);
            const match = isReady ? null : ready.exec(line);
            if (!match) return;
            isReady = true;
            onReady?.(match[1] ?? line);
            resolve();
          });
        }
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          if (!isReady) reject(new Error(`it exited (${describeExit(code, signal)}) before it was ready`));
        });
      }),
  };
}

/** Signals the child's process group (parts run detached, in groups of their own), else the child. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    child.kill(signal);
  }
}
