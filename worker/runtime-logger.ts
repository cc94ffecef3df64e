/**
 * The worker's SDK logger. While Temporal is down, the SDK's native core logs a warning for every
 * retried gRPC call: several lines a second for as long as the outage lasts. Those are dropped here
 * and reported to the connection monitor instead, which logs one line when the connection is lost
 * and one when it is back. Everything else goes to the process's pino logger, one event per line
 * with the SDK's own fields: `workflowId`, `runId` for workflow code; `activityType`, `workflowId`,
 * `workflowRunId`, `attempt` for activities; `sdkComponent` for which part of the SDK spoke.
 */
import { DefaultLogger, type LogEntry, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from '../observability/logger';

/** Core's log targets and messages that mean "the server did not answer that call". */
const CONNECTION_TROUBLE = /tcp connect error|Connection refused|transport error|Unavailable|connection reset|broken pipe|h2 protocol error/i;

function isConnectionTrouble(entry: LogEntry): boolean {
  if (entry.meta?.sdkComponent !== 'core') return false;
  if (entry.level !== 'WARN' && entry.level !== 'ERROR') return false;
  const target = typeof entry.meta.target === 'string' ? entry.meta.target : '';
  return target.startsWith('temporalio_client::retry') || CONNECTION_TROUBLE.test(`${entry.message} ${String(entry.meta.error ?? '')}`);
}

export interface WorkerRuntimeLogOptions {
  /** Told (often) while core's calls fail for want of a connection: start a connection check. */
  onConnectionTrouble: () => void;
  level?: LogLevel;
  /** Where the rest goes; without one, printed as the SDK's default logger prints. */
  sink?: Logger;
}

/** The SDK's level for a pino level name: the SDK drops what is below it before it reaches pino. */
export function sdkLogLevel(level: string): LogLevel {
  const levels: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR' };
  return levels[level] ?? 'INFO';
}

const PINO_METHOD = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * `logger` and `telemetryOptions` for `Runtime.install`: core's logs are forwarded to a logger that
 * drops connection-failure warnings (see above) and sends the rest to `sink` (or prints them).
 */
export function workerRuntimeLogging({
  onConnectionTrouble,
  level = 'INFO',
  sink,
}: WorkerRuntimeLogOptions): Pick<RuntimeOptions, 'logger' | 'telemetryOptions'> {
  const print = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry) => {
    if (isConnectionTrouble(entry)) onConnectionTrouble();
    else if (sink) {
      // The task token is an opaque blob to a reader (it also spells out the workflow ID, logged beside it).
      const { taskToken: _token, ...meta } = entry.meta ?? {};
      sink[PINO_METHOD[entry.level]](meta, entry.message);
    } else print.log(entry.level, entry.message, entry.meta);
  });
  return { logger, telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } } };
}
