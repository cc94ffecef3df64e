/**
 * Configuration, read from the environment and validated once, at start. Every process (API,
 * worker, `npm start`, tests, benchmarks) goes through {@link loadConfig}, so one variable means
 * the same thing everywhere.
 */
import path from 'node:path';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import { TASK_QUEUE, type ImportTuning } from '../workflows/contract';
import {
  CONNECT_DEFAULTS,
  connectionsPerTenant,
  DEFAULT_GIVE_UP_AFTER_SECONDS,
  DEFAULT_REAUTH_TIMEOUT_SECONDS,
  DEFAULT_HOST,
  DEFAULT_TUNING,
  DEFAULT_PHONE_REGION,
  DEFAULT_EVENT_STREAMS_PER_KEY,
  DEFAULT_UPLOAD_MAX_BYTES,
  OUTBOUND_DEFAULTS,
  PEER_RATE_LIMIT_DEFAULTS,
  PORT_DEFAULTS,
  RATE_LIMIT_DEFAULTS,
  UPLOAD_DEFAULTS,
  WORKER_DEFAULTS,
  type OutboundLimits,
} from './defaults';
import {
  ConfigError,
  parseBoolean,
  parseDurationMs,
  parseDurationSeconds,
  parseHttpUrl,
  parseInteger,
  parsePayloadKeys,
  PORT_RANGE,
  type PayloadKeyring,
} from './parse';

export { ConfigError } from './parse';

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
  /** Base64 AES-256 key that seals access tokens; `undefined` means "use the key file in dataDir". */
  tokenKey: string | undefined;
  /** Defaults for new imports. */
  importDefaults: ImportTuning;
  /** Worker concurrency: how many import batches one worker runs at once. */
  workerMaxConcurrentActivities: number;
  /** Pages in flight in one worker, across its batches (`WORKER_PAGES_IN_FLIGHT`; default by store kind). */
  workerPagesInFlight: number;
  /**
   * Requests one worker waits on at once (`WORKER_CONNECTIONS`), and the most of them one tenant
   * holds (`WORKER_CONNECTIONS_PER_TENANT`; default half): `activities/connection-gate.ts`.
   */
  workerConnections: { total: number; perTenant: number };
  /** What every outbound request is held to (`PROVIDER_*_TIMEOUT`, `PROVIDER_MAX_RESPONSE_BYTES`; `providers/kit/http.ts`). */
  outboundLimits: OutboundLimits;
  /** Whether a batch fetches its next page while it saves the current one (`IMPORT_FETCH_AHEAD`, 1 or 0). */
  importFetchAhead: boolean;
  /** Longest a worker waits before sending a heartbeat (the resume checkpoint) to the server. */
  heartbeatThrottleMs: number;
  /**
   * Where a worker writes its CPU per stage when sent `SIGUSR2` (`WORKER_CPU_STAGES_FILE`, for the
   * benchmark: `observability/cpu-stages.ts`); unset, the worker does not profile itself.
   */
  workerCpuStagesFile: string | undefined;
  /** Where such a worker also keeps each snapshot's raw V8 profile (`WORKER_CPU_PROFILE_DIR`), to see what a stage spends its time on. */
  workerCpuProfileDir: string | undefined;
  /** Heap growth between full collections shared by a worker's running batches (`WORKER_HEAP_HEADROOM_PERCENT`). */
  workerHeapHeadroomPercent: number;
  /** Semi-space size in MB of the JavaScript threads a worker starts, the workflow thread's (`WORKER_THREAD_SEMI_SPACE_MB`; 0: the process's). */
  workerThreadSemiSpaceMb: number;
  /** Ports of the dev server `npm start` runs when `TEMPORAL_ADDRESS` is unset (`TEMPORAL_PORT`, `TEMPORAL_UI_PORT`). */
  devServer: { port: number; uiPort: number };
  /** `PAYLOAD_ENCRYPTION_KEYS`, newest first; `undefined` means "use the key file in dataDir" (`loadPayloadKeyring`). */
  payloadKeys: PayloadKeyring | undefined;
  /** Web UI origins the codec server answers (`CODEC_CORS_ORIGINS`; default: the dev server's UI). */
  codecCorsOrigins: string[];
  /** Region for phone numbers written without a country code (`DEFAULT_PHONE_REGION`, ISO 3166 alpha-2). */
  defaultPhoneRegion: CountryCode;
  /**
   * Whether user-supplied source URLs (CardDAV) may reach loopback and private addresses
   * (`SOURCES_ALLOW_PRIVATE_ADDRESSES`, default false; `npm start` on a loopback `HOST` turns it on for its own worker).
   */
  sourcesAllowPrivateAddresses: boolean;
  /** Largest upload `POST /v1/uploads` takes (`UPLOAD_MAX_BYTES`); larger ones get 413. */
  uploadMaxBytes: number;
  /** Bytes of uploads one tenant may keep (`UPLOAD_QUOTA_BYTES`); past it, 429 `upload_quota_exceeded`. */
  uploadQuotaBytes: number;
  /** Seconds an upload no running import reads is kept (`UPLOAD_RETENTION`, e.g. `7d`). */
  uploadRetentionSeconds: number;
  /** Requests per second and burst per API key (`RATE_LIMIT_PER_SECOND`, `RATE_LIMIT_BURST`). */
  rateLimit: { perSecond: number; burst: number };
  /**
   * Where browsers reach the API (`PUBLIC_BASE_URL`, default `http://HOST:PORT`): connect sessions'
   * URLs and their OAuth callback, `<PUBLIC_BASE_URL>/connect/callback`, live under it.
   */
  publicBaseUrl: string;
  /** How long a connect session lasts (`CONNECT_SESSION_TTL`, default 10 minutes). */
  connectSessionTtlSeconds: number;
  /** The same per peer address, for requests without a valid key (`PEER_RATE_LIMIT_PER_SECOND`, `PEER_RATE_LIMIT_BURST`). */
  peerRateLimit: { perSecond: number; burst: number };
  /** Live event streams open at once per API key in one API process (`EVENT_STREAMS_PER_KEY`). */
  eventStreamsPerKey: number;
  /**
   * Whether workers spend providers' budgets through the rate governor, shared by every worker
   * (`PROVIDER_GOVERNOR`, on by default; off: each request is sent as it comes, and a 429 fails its
   * batch until Temporal retries it).
   */
  providerGovernor: boolean;
}

/** `CODEC_CORS_ORIGINS`: comma-separated origins such as `https://temporal.example.com`. */
function origins(name: string, raw: string): string[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const origin = /^https?:\/\//.test(entry) && URL.canParse(entry) ? new URL(entry).origin : undefined;
      if (origin === undefined || origin !== entry.replace(/\/$/, '')) {
        throw new ConfigError(`${name} must list origins like http://localhost:8233, without a path (got "${entry}")`);
      }
      return origin;
    });
}

function phoneRegion(raw: string): CountryCode {
  const region = raw.trim().toUpperCase();
  if (!isSupportedCountry(region)) {
    throw new ConfigError(`DEFAULT_PHONE_REGION must be a two-letter region code such as US, GB or DE (got "${raw}")`);
  }
  return region;
}

/** `CONNECT_SESSION_TTL`: a second at least (a session that is over at once connects nobody), a day at most. */
function sessionTtl(raw: string | undefined): number {
  const seconds = parseDurationSeconds('CONNECT_SESSION_TTL', raw, CONNECT_DEFAULTS.sessionTtlSeconds, 86_400);
  if (seconds < 1) throw new ConfigError(`CONNECT_SESSION_TTL must be at least 1 second, such as 10m (got "${raw}")`);
  return seconds;
}

/** `IMPORT_GIVE_UP_AFTER`: at least a second (tests), at most a year. */
function giveUpAfter(raw: string | undefined): number {
  const seconds = parseDurationSeconds('IMPORT_GIVE_UP_AFTER', raw, DEFAULT_GIVE_UP_AFTER_SECONDS, 365 * 86_400);
  if (seconds < 1) throw new ConfigError(`IMPORT_GIVE_UP_AFTER must be at least 1s (got "${raw}")`);
  return seconds;
}

/** `WORKER_CONNECTIONS` and `WORKER_CONNECTIONS_PER_TENANT` (at most the first). */
function workerConnections(env: NodeJS.ProcessEnv): AppConfig['workerConnections'] {
  const total = parseInteger('WORKER_CONNECTIONS', env.WORKER_CONNECTIONS, WORKER_DEFAULTS.connections, { min: 1, max: 10_000 });
  const perTenant = parseInteger('WORKER_CONNECTIONS_PER_TENANT', env.WORKER_CONNECTIONS_PER_TENANT, connectionsPerTenant(total), { min: 1, max: total });
  return { total, perTenant };
}

/** The `PROVIDER_*` limits of every outbound request. */
function outboundLimits(env: NodeJS.ProcessEnv): OutboundLimits {
  const duration = (name: string, fallback: number) => parseDurationMs(name, env[name], fallback, { min: 1, max: 3_600_000 });
  return {
    connectTimeoutMs: duration('PROVIDER_CONNECT_TIMEOUT', OUTBOUND_DEFAULTS.connectTimeoutMs),
    firstByteTimeoutMs: duration('PROVIDER_FIRST_BYTE_TIMEOUT', OUTBOUND_DEFAULTS.firstByteTimeoutMs),
    idleTimeoutMs: duration('PROVIDER_IDLE_TIMEOUT', OUTBOUND_DEFAULTS.idleTimeoutMs),
    requestTimeoutMs: duration('PROVIDER_REQUEST_TIMEOUT', OUTBOUND_DEFAULTS.requestTimeoutMs),
    maxResponseBytes: parseInteger('PROVIDER_MAX_RESPONSE_BYTES', env.PROVIDER_MAX_RESPONSE_BYTES, OUTBOUND_DEFAULTS.maxResponseBytes, {
      min: 1024,
      max: 2 ** 40,
    }),
  };
}

/** The shortest `UPLOAD_RETENTION`: the expiry schedule's interval (an hour); less would only mislead. */
const MIN_UPLOAD_RETENTION_SECONDS = UPLOAD_DEFAULTS.expiryEveryMs / 1000;

/** `UPLOAD_RETENTION`: a duration from an hour to a year. */
function retention(raw: string | undefined): number {
  const seconds = parseDurationSeconds('UPLOAD_RETENTION', raw, UPLOAD_DEFAULTS.retentionSeconds, 365 * 86_400);
  if (seconds < MIN_UPLOAD_RETENTION_SECONDS) {
    throw new ConfigError(`UPLOAD_RETENTION must be at least 1h: expired uploads are deleted once an hour (got "${raw}")`);
  }
  return seconds;
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

  const uiPort = parseInteger('TEMPORAL_UI_PORT', env.TEMPORAL_UI_PORT, PORT_DEFAULTS.temporalUi, PORT_RANGE);
  const port = parseInteger('PORT', env.PORT, PORT_DEFAULTS.api, PORT_RANGE);
  const host = env.HOST || DEFAULT_HOST;
  const integer = (name: string, fallback: number, min: number, max: number) =>
    parseInteger(name, env[name], fallback, { min, max });
  return {
    taskQueue: env.TEMPORAL_TASK_QUEUE || TASK_QUEUE,
    dataDir,
    port,
    host,
    database,
    tokenKey,
    importDefaults: {
      pageSize: integer('IMPORT_PAGE_SIZE', DEFAULT_TUNING.pageSize, 1, 1000),
      pagesPerBatch: integer('IMPORT_PAGES_PER_BATCH', DEFAULT_TUNING.pagesPerBatch, 1, 1000),
      maxBatchesPerRun: integer('IMPORT_MAX_BATCHES_PER_RUN', DEFAULT_TUNING.maxBatchesPerRun, 1, 100_000),
      // 0 turns re-auth off: an import whose credentials are rejected fails at once.
      reauthTimeoutSeconds: parseDurationSeconds('REAUTH_TIMEOUT', env.REAUTH_TIMEOUT, DEFAULT_REAUTH_TIMEOUT_SECONDS, 365 * 86_400),
      giveUpAfterSeconds: giveUpAfter(env.IMPORT_GIVE_UP_AFTER),
    },
    workerMaxConcurrentActivities: integer(
      'WORKER_MAX_CONCURRENT_ACTIVITIES',
      WORKER_DEFAULTS.maxConcurrentActivities,
      1,
      1000,
    ),
    workerPagesInFlight: integer('WORKER_PAGES_IN_FLIGHT', WORKER_DEFAULTS.pagesInFlight[database.kind], 1, 10_000),
    workerConnections: workerConnections(env),
    outboundLimits: outboundLimits(env),
    importFetchAhead: integer('IMPORT_FETCH_AHEAD', WORKER_DEFAULTS.fetchAhead, 0, 1) === 1,
    heartbeatThrottleMs: integer('WORKER_HEARTBEAT_THROTTLE_MS', WORKER_DEFAULTS.heartbeatThrottleMs, 1, 60_000),
    workerCpuStagesFile: env.WORKER_CPU_STAGES_FILE || undefined,
    workerCpuProfileDir: env.WORKER_CPU_PROFILE_DIR || undefined,
    workerHeapHeadroomPercent: integer('WORKER_HEAP_HEADROOM_PERCENT', WORKER_DEFAULTS.heapHeadroomPercent, 0, 1000),
    workerThreadSemiSpaceMb: integer('WORKER_THREAD_SEMI_SPACE_MB', WORKER_DEFAULTS.threadSemiSpaceMb, 0, 1024),
    devServer: {
      port: parseInteger('TEMPORAL_PORT', env.TEMPORAL_PORT, PORT_DEFAULTS.temporal, PORT_RANGE),
      uiPort,
    },
    payloadKeys: env.PAYLOAD_ENCRYPTION_KEYS ? parsePayloadKeys('PAYLOAD_ENCRYPTION_KEYS', env.PAYLOAD_ENCRYPTION_KEYS) : undefined,
    // The Web UI's origin is whichever host the operator typed, so both spellings of loopback.
    sourcesAllowPrivateAddresses: parseBoolean('SOURCES_ALLOW_PRIVATE_ADDRESSES', env.SOURCES_ALLOW_PRIVATE_ADDRESSES, false),
    defaultPhoneRegion: phoneRegion(env.DEFAULT_PHONE_REGION || DEFAULT_PHONE_REGION),
    uploadMaxBytes: integer('UPLOAD_MAX_BYTES', DEFAULT_UPLOAD_MAX_BYTES, 1, 2 ** 40),
    uploadQuotaBytes: integer('UPLOAD_QUOTA_BYTES', UPLOAD_DEFAULTS.quotaBytes, 1, 2 ** 50),
    uploadRetentionSeconds: retention(env.UPLOAD_RETENTION),
    rateLimit: {
      perSecond: integer('RATE_LIMIT_PER_SECOND', RATE_LIMIT_DEFAULTS.perSecond, 1, 1_000_000),
      burst: integer('RATE_LIMIT_BURST', RATE_LIMIT_DEFAULTS.burst, 1, 10_000_000),
    },
    peerRateLimit: {
      perSecond: integer('PEER_RATE_LIMIT_PER_SECOND', PEER_RATE_LIMIT_DEFAULTS.perSecond, 1, 1_000_000),
      burst: integer('PEER_RATE_LIMIT_BURST', PEER_RATE_LIMIT_DEFAULTS.burst, 1, 10_000_000),
    },
    eventStreamsPerKey: integer('EVENT_STREAMS_PER_KEY', DEFAULT_EVENT_STREAMS_PER_KEY, 1, 1_000_000),
    providerGovernor: parseBoolean('PROVIDER_GOVERNOR', env.PROVIDER_GOVERNOR, true),
    codecCorsOrigins: origins('CODEC_CORS_ORIGINS', env.CODEC_CORS_ORIGINS || `http://localhost:${uiPort},http://127.0.0.1:${uiPort}`),
    publicBaseUrl: parseHttpUrl('PUBLIC_BASE_URL', env.PUBLIC_BASE_URL, `http://${host.includes(':') ? `[${host}]` : host}:${port}`),
    connectSessionTtlSeconds: sessionTtl(env.CONNECT_SESSION_TTL),
  };
}
