/**
 * Every default the service runs with, in one place; a provider's own (its URLs, its OAuth client)
 * are in its folder's `settings.ts`. The environment overrides them through {@link loadConfig}
 * (`config/index.ts`); tests and the benchmark import them from here rather than restating numbers.
 */
import type { ImportTuning } from '../workflows/contract';

/** How long an import waits in `needs_reauth` for new credentials (`REAUTH_TIMEOUT`): 7 days. */
export const DEFAULT_REAUTH_TIMEOUT_SECONDS = 7 * 24 * 60 * 60;

/**
 * How long an import's batches may keep failing on their source (limits, timeouts, refused
 * connections, 5xx, 429) without saving a page before the import fails (`IMPORT_GIVE_UP_AFTER`):
 * 24 hours, so an outage of a day at most resumes where it stopped.
 */
export const DEFAULT_GIVE_UP_AFTER_SECONDS = 24 * 60 * 60;

/**
 * How new imports are cut (`IMPORT_PAGE_SIZE`, `IMPORT_PAGES_PER_BATCH`, `IMPORT_MAX_BATCHES_PER_RUN`,
 * `REAUTH_TIMEOUT`, `IMPORT_GIVE_UP_AFTER`).
 */
export const DEFAULT_TUNING: ImportTuning = {
  // The People API's largest page: fewer round trips, and history grows per batch, not per contact.
  pageSize: 1000,
  // About 8 history events per 25,000 contacts, and fewer batch boundaries, each a round trip
  // through Temporal (bench/README.md). The operators' view (memo, search attributes) moves once per
  // batch; the API's status and a pause act at every page.
  pagesPerBatch: 25,
  // Continue-as-new well before history gets large, even if the server does not suggest it.
  maxBatchesPerRun: 200,
  reauthTimeoutSeconds: DEFAULT_REAUTH_TIMEOUT_SECONDS,
  giveUpAfterSeconds: DEFAULT_GIVE_UP_AFTER_SECONDS,
};

export const WORKER_DEFAULTS = {
  /**
   * Batches one worker runs at once (`WORKER_MAX_CONCURRENT_ACTIVITIES`). Generous, so a new import's
   * batch gets a slot at once however many large ones run: the page gate, not the slots, bounds the
   * work and memory, and a batch waiting at the gate costs a promise.
   */
  maxConcurrentActivities: 50,
  /**
   * Pages in flight in one worker process, across all its batches (`WORKER_PAGES_IN_FLIGHT`): being
   * fetched, or fetched and not yet saved. Every page in flight is work queued on the worker's one
   * thread, which a small import's every step waits behind. SQLite writes synchronously on that
   * thread: two pages (one saved, one fetched) keep it busy. PostgreSQL writes in the server's own
   * processes, so a little more overlap pays. The measurements are in bench/README.md.
   */
  pagesInFlight: { sqlite: 2, postgres: 4 },
  /**
   * Requests one worker process waits on at once, across its batches and webhook deliveries
   * (`WORKER_CONNECTIONS`): a page being fetched holds one from its request until its save may begin.
   * A wait on a slow server costs a socket and a promise, not the thread, so this can be above
   * {@link WORKER_DEFAULTS.pagesInFlight}; each answer may be up to
   * {@link OUTBOUND_DEFAULTS.maxResponseBytes}, so it bounds memory too.
   */
  connections: 8,
  /**
   * The share of the connections one tenant may hold at once, rounded up
   * ({@link connectionsPerTenant}; `WORKER_CONNECTIONS_PER_TENANT` sets the number instead): a tenant
   * whose sources stall keeps the rest free for the others, however many imports it runs.
   */
  tenantShareOfConnections: 0.5,
  /**
   * Fetch page k+1 while page k is saved (`IMPORT_FETCH_AHEAD=1`, the default), or only once k is
   * committed (0). On, the provider's time for the next page overlaps the store's for this one, and a
   * killed worker re-fetches up to two pages (still none written twice); off, at most the one it was
   * saving. bench/README.md has both measured.
   */
  fetchAhead: 1 as 0 | 1,
  /**
   * Longest a heartbeat (the resume checkpoint) waits before it reaches the server
   * (`WORKER_HEARTBEAT_THROTTLE_MS`): short, so a crash re-fetches at most a page or two.
   */
  heartbeatThrottleMs: 20,
  /** How often a batch heartbeats while it waits on a slow page; well below the heartbeat timeout. */
  keepAliveHeartbeatMs: 2_000,
  /**
   * How far the JavaScript heap may grow past its live size between full collections, in percent,
   * shared by the batches running (`WORKER_HEAP_HEADROOM_PERCENT`; 0: V8's own, about 30 % under
   * the heap cap). One import's pages then cost a fraction of the collections
   * (`worker/heap-headroom.ts`, bench/README.md).
   */
  heapHeadroomPercent: 100,
  /**
   * V8 semi-space size, in MB, of the JavaScript threads a worker starts (`WORKER_THREAD_SEMI_SPACE_MB`;
   * 0: the process's own, from {@link WORKER_NODE_FLAGS}): the SDK's workflow thread above all. Its
   * workflow tasks are small, so it needs no young generation the size of the main thread's, which
   * holds pages; with many imports at once V8 would grow it to the process's size anyway
   * (`worker/thread-heap.ts`, bench/README.md "Where the worker's memory goes"). V8 rounds a
   * semi-space size up to a power of two.
   */
  threadSemiSpaceMb: 8,
  /** A SIGTERM lets a running batch finish its current page and heartbeat before the worker exits. */
  shutdownGraceMs: 10_000,
} as const;

/**
 * The most pages a killed worker's batch fetches again, with `IMPORT_FETCH_AHEAD` at `fetchAhead`:
 * the page being saved, and with fetch-ahead the one already fetched after it. None is written twice.
 */
export function pagesRefetchedPerKill(fetchAhead: number): number {
  return fetchAhead === 1 ? 2 : 1;
}

/** How many of `connections` one tenant may hold when `WORKER_CONNECTIONS_PER_TENANT` does not say. */
export function connectionsPerTenant(connections: number): number {
  return Math.max(1, Math.ceil(connections * WORKER_DEFAULTS.tenantShareOfConnections));
}

/**
 * Limits on every request the service makes to the outside (a provider's pages, a token endpoint, a
 * CardDAV server, a webhook receiver): `providers/kit/http.ts` enforces them while the answer
 * streams in. Overridden by `PROVIDER_CONNECT_TIMEOUT`, `PROVIDER_FIRST_BYTE_TIMEOUT`,
 * `PROVIDER_IDLE_TIMEOUT`, `PROVIDER_REQUEST_TIMEOUT` and `PROVIDER_MAX_RESPONSE_BYTES`.
 */
export const OUTBOUND_DEFAULTS = {
  /** To connect (TLS included): a server that does not accept is down, not slow. */
  connectTimeoutMs: 10_000,
  /** From connected to the answer's first byte: a listing the server builds first may ask for more. */
  firstByteTimeoutMs: 60_000,
  /** Longest silence between two parts of an answer's body. */
  idleTimeoutMs: 30_000,
  /** The whole request, redirects and body included, unless the caller gives it another deadline. */
  requestTimeoutMs: 60_000,
  /**
   * Bytes of one answer, counted (after decompression) while it streams in: a page of 1,000 Google
   * people is about 1 MB and a CardDAV listing of 50,000 cards about 10 MB, so 32 MiB fits every
   * real page while an endless answer stops there.
   */
  maxResponseBytes: 32 * 1024 * 1024,
} as const;

/** {@link OUTBOUND_DEFAULTS}' shape: what `providers/kit/http.ts` holds a request to. */
export type OutboundLimits = { -readonly [K in keyof typeof OUTBOUND_DEFAULTS]: number };

/**
 * V8 flags for worker processes (`npm run worker`, `npm start`, the benchmark). Left alone, V8 on a
 * large machine lets the heap grow to several hundred MB of page garbage before a full collection;
 * 256 MB holds {@link WORKER_DEFAULTS.pagesInFlight} pages (1,000 contacts, a few MB each) with room
 * to spare, however many batches run: the page gate bounds the pages, and a batch waiting at it holds
 * none. Raise the cap with `WORKER_PAGES_IN_FLIGHT` (or with larger pages), not with the slots.
 *
 * The young generation is set apart: 32 MB semi-spaces hold a page's parse, records and statement
 * parameters until the page is saved, so that garbage dies young instead of being promoted and
 * marked by full collections. It costs RSS (up to three semi-spaces) and saves CPU per contact
 * (bench/README.md has both, "The worker's young generation").
 */
export const WORKER_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=32'] as const;

/**
 * Environment for worker processes, beside {@link WORKER_NODE_FLAGS} (`npm run worker`, `npm start`,
 * `npm run cluster`, the benchmark). glibc gives every thread that allocates its own malloc arena,
 * up to eight per core, and keeps what each arena once held: with the Temporal core's threads,
 * the workflow thread and better-sqlite3 that adds up under load. Two arenas give the same
 * throughput with less RSS (bench/README.md). Set it in the environment of a worker you run another
 * way; it must be there when the process starts.
 */
export const WORKER_PROCESS_ENV = { MALLOC_ARENA_MAX: '2' } as const;

/**
 * The rate governor (`providers/kit/governor.ts`; `PROVIDER_GOVERNOR=off` turns it off). A
 * provider's budgets and their defaults are the provider's own (`providers/<id>/budgets.ts`).
 */
export const GOVERNOR_DEFAULTS = {
  /**
   * The longest a request waits for its budgets inside a batch. Past it, the batch fails as
   * `ProviderThrottled` with that wait as its `nextRetryDelay`, and gives its worker slot back.
   */
  maxWaitMs: 10_000,
  /** A concurrency lease lives this long unless renewed: a crashed worker's comes back within it. */
  leaseTtlMs: 5_000,
  /** How long a 429 that names no `Retry-After` closes its key (Google's usually name none). */
  refusalPauseMs: 1_000,
  /** Refusals of one request the governor sends again after, before the batch sees the last one. */
  maxRefusals: 5,
  /** After a 429 lowers a learned rate, it climbs by this share of the lowered rate per second of busy use. */
  increaseFraction: 0.1,
} as const;

export const STATUS_DEFAULTS = {
  /** How long the API waits for a worker to answer the status query before answering from the memo. */
  queryTimeoutMs: 2_000,
  /** A status younger than this is answered again without asking Temporal. */
  freshMs: 250,
  /** A status younger than this is answered while a fresher one is being fetched. */
  staleMs: 2_000,
  /**
   * A running import that saved no page for this long may be waiting for a reason only Temporal
   * knows (a worker that died mid-batch): its status asks Temporal's record of the pending batch.
   * Sooner, the store's record of saved pages and failed attempts says whether it moves.
   */
  quietMs: 10_000,
  /** Imports an API process remembers per cache (shared status answers, decoded import keys); all forgotten when full. */
  importsRemembered: 10_000,
} as const;

/** How the API answers while Temporal does not. */
export const TEMPORAL_OUTAGE_DEFAULTS = {
  /**
   * Longest a `/v1/imports` request waits on Temporal before it answers 503 temporal_unavailable:
   * enough for the status query's 2 s and a read of the memo after it, and with the store's
   * partial answer still under 3 s.
   */
  callBudgetMs: 2_500,
  /** Longest the store may take to say how many contacts are saved, for a 503's partial status. */
  partialStatusMs: 300,
  /** `Retry-After` of a 503 temporal_unavailable, in seconds. */
  retryAfterSeconds: 5,
} as const;

/**
 * Webhook deliveries (`DeliverWebhook`): the first retry of a refused delivery. The delay doubles up
 * to an hour between attempts, for 24 hours in all; tests shorten only the first delay.
 */
export const WEBHOOK_DEFAULTS = { retryInitialIntervalMs: 10_000 } as const;

/** Sync schedules (`PUT /v1/users/{userId}/sync`). */
export const SCHEDULE_DEFAULTS = {
  /** The shortest `every` a tenant may ask for: a provider's quota is shared by all its users. */
  minEveryMs: 5 * 60_000,
  /** Runs start up to a tenth of the interval late, at most this much: users' syncs spread out. */
  maxJitterMs: 10 * 60_000,
  /** Next run times `GET` shows. */
  nextRuns: 3,
} as const;

/** Connect sessions (`POST /v1/connect-sessions`, api/connect/). */
export const CONNECT_DEFAULTS = {
  /** How long a connect URL may be followed and its flow finished (`CONNECT_SESSION_TTL`): 10 minutes. */
  sessionTtlSeconds: 10 * 60,
  /** An error page sends the browser back to the web app after this many seconds (a link does it at once). */
  errorRedirectSeconds: 5,
  /** Account forms (CardDAV) a session may submit: each one makes the service call the user's server. */
  formAttempts: 5,
  /** Expired sessions are forgotten this long after they expire. */
  keepExpiredMs: 24 * 60 * 60_000,
  /** Origins `PUT /v1/connect-settings` takes at most. */
  maxRedirectOrigins: 20,
} as const;

export const PORT_DEFAULTS = {
  api: 3000,
  temporal: 7233,
  temporalUi: 8233,
  demoProvider: 8090,
} as const;

export const DEFAULT_HOST = '127.0.0.1';
/** Contacts the demo provider serves under `npm start` (`DEMO_CONTACTS`). */
export const DEFAULT_DEMO_CONTACTS = 2500;
/** A request body to `/v1` is a few hundred bytes; refuse to read megabytes before validating them. */
export const API_BODY_LIMIT_BYTES = 16 * 1024;
/** Per API key (`RATE_LIMIT_PER_SECOND`, `RATE_LIMIT_BURST`): a web app polling status stays far below. */
export const RATE_LIMIT_DEFAULTS = { perSecond: 20, burst: 40 } as const;
/**
 * Per peer address, for requests without a valid key (`PEER_RATE_LIMIT_PER_SECOND`,
 * `PEER_RATE_LIMIT_BURST`): the keyless mode, `/healthz`, `/livez`, the progress page, `/docs`, and
 * keys that do not verify. A browser loading the progress page or Swagger UI, and a load balancer's
 * probes, stay far below.
 */
export const PEER_RATE_LIMIT_DEFAULTS = { perSecond: 10, burst: 40 } as const;
/** Phone numbers without a country code are read as this region's (`DEFAULT_PHONE_REGION`). */
export const DEFAULT_PHONE_REGION = 'US';
/** The largest file `POST /v1/uploads` takes (`UPLOAD_MAX_BYTES`): 50 MiB. */
export const DEFAULT_UPLOAD_MAX_BYTES = 50 * 1024 * 1024;

/** What one tenant's uploads may hold, and how long they are kept. */
export const UPLOAD_DEFAULTS = {
  /**
   * Bytes of uploads one tenant may keep at once, all its users together (`UPLOAD_QUOTA_BYTES`):
   * 1 GiB, twenty files of the largest size, or thousands of ordinary address books.
   */
  quotaBytes: 1024 * 1024 * 1024,
  /** How long an upload no running import reads is kept (`UPLOAD_RETENTION`): 7 days. */
  retentionSeconds: 7 * 24 * 60 * 60,
  /** How often the `upload-expiry` schedule deletes the uploads past their retention. */
  expiryEveryMs: 60 * 60_000,
  /**
   * A reference younger than this keeps its upload even when its import is not running (yet): the
   * API writes the reference before it starts the import, which takes it a few seconds at most.
   */
  referenceGraceMs: 10 * 60_000,
} as const;
/**
 * `/healthz` answers from the last check of Temporal and the database while it is younger than
 * `cacheMs`: probes from many load balancers cost the two servers one check each a few seconds.
 */
export const HEALTH_DEFAULTS = { cacheMs: 2_000, timeoutMs: 2_000 } as const;
/** Live event streams open at once per API key in one API process (`EVENT_STREAMS_PER_KEY`). */
export const DEFAULT_EVENT_STREAMS_PER_KEY = 100;
/** Pause, resume and cancel take no body. */
export const ACTION_BODY_LIMIT_BYTES = 1024;
