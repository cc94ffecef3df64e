/**
 * The processes' logger: pino, one JSON object per line (what log shippers read), or a readable
 * line per event under `npm start` (`LOG_FORMAT=pretty`, through pino-pretty). `LOG_LEVEL` picks
 * how much: `fatal`, `error`, `warn`, `info` (the default), `debug` or `trace`.
 *
 * Most modules say what happened with `console.*`, and tests watch those calls; a process routes
 * its console into its logger ({@link routeConsole}), so every line it writes has the same shape.
 * Names, emails and tokens are never passed to a log call; the redaction below is a second net
 * for the field names that would hold them.
 */
import { format } from 'node:util';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from '../config/parse';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];

export const LOG_DEFAULTS = { level: 'info', format: 'json' } as const satisfies { level: LogLevelName; format: LogFormat };

/** Field names whose values never reach a log line, wherever a caller puts them. */
const REDACTED_FIELDS = [
  'accessToken',
  'refreshToken',
  'password',
  'token',
  'syncToken',
  'secret',
  'sealedSecret',
  'clientSecret',
  'authorization',
  'credentials',
  'sealedCredentials',
  'email',
  'phone',
  'displayName',
] as const;
/** Each field at the top level and one level down (pino's paths name their depth). */
const REDACTED = ['headers.authorization', ...REDACTED_FIELDS, ...REDACTED_FIELDS.map((field) => `*.${field}`)];

export interface LogSettings {
  level: LogLevelName;
  format: LogFormat;
}

/** `LOG_LEVEL` and `LOG_FORMAT`, validated. Throws {@link ConfigError} saying what to set. */
export function logSettings(env: NodeJS.ProcessEnv = process.env): LogSettings {
  const level = (env.LOG_LEVEL || LOG_DEFAULTS.level).toLowerCase();
  const fmt = (env.LOG_FORMAT || LOG_DEFAULTS.format).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${env.LOG_LEVEL}")`);
  }
  if (!(LOG_FORMATS as readonly string[]).includes(fmt)) {
    throw new ConfigError(`LOG_FORMAT must be json or pretty (got "${env.LOG_FORMAT}")`);
  }
  return { level: level as LogLevelName, format: fmt as LogFormat };
}

/**
 * A logger for one part of the service (`api`, `worker`); every line carries `part`. Falls back to
 * the defaults when `LOG_LEVEL`/`LOG_FORMAT` are invalid, so the refusal itself can be logged.
 */
export function createLogger(part: string, settings?: LogSettings): Logger {
  let chosen = settings;
  if (!chosen) {
    try {
      chosen = logSettings();
    } catch {
      chosen = { ...LOG_DEFAULTS };
    }
  }
  const options: pino.LoggerOptions = {
    level: chosen.level,
    base: { part, pid: process.pid },
    // Labels, not pino's numbers: an operator greps for "warn", an alert rule matches on it.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    // The SDK passes failures as `error`; pino would print an Error as `{}`.
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    redact: { paths: [...REDACTED], censor: '[redacted]' },
  };
  if (chosen.format === 'pretty') {
    // Synchronous, in this thread: no worker thread to outlive a stopping process, no lost lines.
    return pino(options, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,part', singleLine: true }));
  }
  return pino(options, pino.destination({ dest: 1, sync: true }));
}

/**
 * Sends `console.log/info/warn/error/debug` of this process through `logger`, one event per call.
 * Only for a process's own main module: tests call the same modules with their console intact.
 */
export function routeConsole(logger: Logger): void {
  const route = (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => logger[level](format(...args));
  console.log = route('info');
  console.info = route('info');
  console.warn = route('warn');
  console.error = route('error');
  console.debug = route('debug');
}
