/**
 * Configuration, read from the environment and validated once, at start. Every process (API,
 * worker, `npm start`, tests, benchmarks) goes through {@link loadConfig}, so one variable means
 * the same thing everywhere.
 */
import path from 'node:path';
import { TASK_QUEUE } from '../workflows/contract';

export interface AppConfig {
  /** The task queue API and workers share (`TEMPORAL_TASK_QUEUE`). */
  taskQueue: string;
  /** Where the embedded defaults keep their files: SQLite database, dev-server state, token key. */
  dataDir: string;
  /** HTTP port and interface of the API. */
  port: number;
  host: string;
  /** Store: PostgreSQL when `DATABASE_URL` is set, else the SQLite file. */
  database: { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };
  /** Base URL of the Google People API (or of the demo provider that speaks its protocol). */
  googlePeopleBaseUrl: string;
  /** Base64 AES-256 key that seals access tokens; `undefined` means "use the key file in dataDir". */
  tokenKey: string | undefined;
  /** Defaults for new imports. */
  importDefaults: { pageSize: number; pagesPerBatch: number; maxBatchesPerRun: number };
  /** Worker concurrency: how many import batches one worker runs at once. */
  workerMaxConcurrentActivities: number;
  /** Longest a worker waits before sending a heartbeat (the resume checkpoint) to the server. */
  heartbeatThrottleMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * V8 flags for worker processes (`npm run worker`, `npm start`, the benchmark). Left alone, V8 on a
 * large machine lets the heap grow to several hundred MB of page garbage before a full collection;
 * 256 MB holds the live data of `WORKER_MAX_CONCURRENT_ACTIVITIES` (10) batches with room to spare
 * (two 1,000-contact pages in flight per batch, a few MB each). Raise both together.
 */
export const WORKER_NODE_FLAGS = ['--max-old-space-size=256'] as const;

export const DEFAULT_GOOGLE_PEOPLE_BASE_URL = 'https://people.googleapis.com';

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL (got "${raw}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL (got "${raw}")`);
  }
  return raw.replace(/\/+$/, '');
}

/** Reads and validates the environment. Throws {@link ConfigError} with a message that says what to fix. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const dataDir = path.resolve(env.DATA_DIR || '.data');

  let database: AppConfig['database'];
  const databaseUrl = env.DATABASE_URL;
  if (databaseUrl) {
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
      const shown = databaseUrl.replace(/\/\/[^@/]*@/, '//…@').slice(0, 40);
      throw new ConfigError(`DATABASE_URL is not a postgres:// URL (got "${shown}")`);
    }
    database = { kind: 'postgres', url: databaseUrl };
  } else {
    database = { kind: 'sqlite', file: path.join(dataDir, 'contacts.db') };
  }

  const tokenKey = env.TOKEN_ENCRYPTION_KEY || undefined;
  if (tokenKey !== undefined && Buffer.from(tokenKey, 'base64').length !== 32) {
    throw new ConfigError('TOKEN_ENCRYPTION_KEY must be 32 random bytes in base64 (make one with `openssl rand -base64 32`)');
  }

  return {
    taskQueue: env.TEMPORAL_TASK_QUEUE || TASK_QUEUE,
    dataDir,
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    database,
    googlePeopleBaseUrl: httpUrl('GOOGLE_PEOPLE_BASE_URL', env.GOOGLE_PEOPLE_BASE_URL || DEFAULT_GOOGLE_PEOPLE_BASE_URL),
    tokenKey,
    importDefaults: {
      pageSize: integer(env, 'IMPORT_PAGE_SIZE', 1000, 1, 1000),
      pagesPerBatch: integer(env, 'IMPORT_PAGES_PER_BATCH', 10, 1, 1000),
      maxBatchesPerRun: integer(env, 'IMPORT_MAX_BATCHES_PER_RUN', 200, 1, 100_000),
    },
    workerMaxConcurrentActivities: integer(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES', 10, 1, 1000),
    heartbeatThrottleMs: integer(env, 'WORKER_HEARTBEAT_THROTTLE_MS', 20, 1, 60_000),
  };
}
