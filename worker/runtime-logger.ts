/**
 * The worker's SDK logger. While Temporal is down, the SDK's native core logs a warning for every
 * retried gRPC call: several lines a second for as long as the outage lasts. Those are dropped here
 * and reported to the connection monitor instead, which logs one line when the connection is lost
 * and one when it is back. Everything else is logged as the SDK's default logger logs it.
 */
import { DefaultLogger, type LogEntry, type LogLevel, type RuntimeOptions } from '@temporalio/worker';

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
}

/**
 * `logger` and `telemetryOptions` for `Runtime.install`: core's logs are forwarded to a logger that
 * drops connection-failure warnings (see above) and prints the rest.
 */
export function workerRuntimeLogging({
  onConnectionTrouble,
  level = 'INFO',
}: WorkerRuntimeLogOptions): Pick<RuntimeOptions, 'logger' | 'telemetryOptions'> {
  const print = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry) => {
    if (isConnectionTrouble(entry)) onConnectionTrouble();
    else print.log(entry.level, entry.message, entry.meta);
  });
  return { logger, telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } } };
}
