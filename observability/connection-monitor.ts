/**
 * Watches whether Temporal answers, so a process can say "lost" once and "back" once instead of
 * logging every failed call while the server is down, and so the API can answer 503 at once
 * instead of waiting on calls that cannot succeed. The API and the worker each run one.
 */

export interface ConnectionMonitorOptions {
  /** Resolves when Temporal answers before `deadline` (epoch ms); rejects otherwise. */
  ping(deadline: number): Promise<void>;
  /** Receives the two lines: lost (with why) and back (with how long it was down). */
  log(line: string): void;
  /** Names the process and the server in those lines, e.g. `api`, `127.0.0.1:7233`. */
  name: string;
  address: string;
  /** What the process does meanwhile, for the "lost" line: `answering 503 until it is back`. */
  meanwhile: string;
  /** Between checks; 2 s by default. */
  intervalMs?: number;
  /** How long a check waits for an answer; 2 s by default. */
  timeoutMs?: number;
  /**
   * Check every `intervalMs` while Temporal answers too (the default). When false, checks start
   * with {@link ConnectionMonitor.checkNow} (a call failed) and go on only until it answers.
   */
  watchWhileUp?: boolean;
}

export interface ConnectionMonitor {
  /** False from a check that got no answer until one that did. True before the first check. */
  readonly up: boolean;
  /** Checks at once (say, a call just failed), unless it is known to be down and being watched already. */
  checkNow(): void;
  stop(): void;
}

/** Checks at once and then every `intervalMs` (see `watchWhileUp`); its timer does not keep the process alive. */
export function monitorConnection(options: ConnectionMonitorOptions): ConnectionMonitor {
  const { ping, log, name, address, meanwhile, intervalMs = 2_000, timeoutMs = 2_000, watchWhileUp = true } = options;
  let up = true;
  let downSince = 0;
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  let stopped = false;

  const schedule = () => {
    if (stopped || (up && !watchWhileUp)) return;
    clearTimeout(timer);
    timer = setTimeout(check, intervalMs);
    timer.unref();
  };

  function check(): void {
    if (stopped || checking) return;
    checking = ping(Date.now() + timeoutMs).then(
      () => {
        if (!up) log(`${name}: Temporal at ${address} answers again (it did not for ${secondsSince(downSince)} s)`);
        up = true;
      },
      (err: unknown) => {
        if (up) {
          downSince = Date.now();
          log(`${name}: lost the connection to Temporal at ${address} (${reason(err)}); ${meanwhile}`);
        }
        up = false;
      },
    );
    void checking.finally(() => {
      checking = undefined;
      schedule();
    });
  }

  if (watchWhileUp) check();
  return {
    get up() {
      return up;
    },
    checkNow() {
      if (up) check();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function secondsSince(time: number): string {
  return ((Date.now() - time) / 1000).toFixed(0);
}

/** The first line of what went wrong, without the gRPC library's nesting. */
function reason(err: unknown): string {
  const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return message.split('\n')[0]!.slice(0, 200);
}
