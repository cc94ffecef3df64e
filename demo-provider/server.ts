/**
 * A demo provider that speaks the Google People API protocol for `people.connections.list`, and
 * Microsoft Graph's for contact folders and their delta query (`graph.ts`), so the service can be
 * run, tested and benchmarked without a Google or Microsoft account or network.
 *
 * Contacts are generated on the fly from their index: person `i` is always the same, whatever the
 * token, and a million contacts cost no memory. Faults (throttling, 5xx, dropped connections, slow
 * pages, revoked tokens) can be injected and changed at runtime.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDemoGraph, DEMO_MICROSOFT_TOKEN_PATH, GRAPH_PATH_PREFIX, sendGraphError } from './graph';
import { createDemoOAuth, DEMO_AUTHORIZE_PATH, DEMO_REVOKE_PATH, DEMO_TOKEN_PATH, type DemoOAuth, type DemoOAuthOptions } from './oauth';
import { decodePageToken, encodePageToken } from './people';
import { createDemoSync, DEMO_CHANGES_PATH, deletedPersonJson, EXPIRED_SYNC_TOKEN_BODY, type DemoSync } from './sync';
import { quotaBucket, quotaRate, validateFaults, type DemoFaultKind, type DemoFaults } from './faults';

export type { DemoFaultKind, DemoFaults } from './faults';

export interface DemoProviderOptions {
  /** How many connections the user has. Default 1000. */
  contacts?: number;
  faults?: DemoFaults;
  /** 0 = a free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The token endpoint (`POST /token`, demo-provider/oauth.ts): client, token lifetime, revoked refresh tokens. */
  oauth?: DemoOAuthOptions;
}

export interface DemoProviderStats {
  /** Every request that reached the server, faults and errors included. */
  requests: number;
  /** Pages answered 200. */
  pagesServed: number;
  /** Contacts in those pages. */
  contactsServed: number;
  /** Responses replaced by a `script` or `every` fault (429, 500, 503, drop). Revoked tokens are not counted. */
  faultsInjected: number;
  /** Requests refused by `appQuota`. */
  quotaRefusals: number;
  /** When each contact request arrived (ms since the epoch), the first {@link MAX_LOGGED} of them. */
  arrivals: number[];
  /** When each 429 was sent (quota or fault), the first {@link MAX_LOGGED}. */
  refusedAt: number[];
  /**
   * How many times each page was served successfully, keyed by its starting offset in decimal
   * (`"0"`, `"1000"`, …): a count above 1 means a client fetched the same page twice.
   */
  pageTokensServed: Map<string, number>;
}

export interface DemoProvider {
  /** Base URL to use as `GOOGLE_PEOPLE_BASE_URL`, e.g. `http://127.0.0.1:12345`. */
  readonly url: string;
  readonly stats: DemoProviderStats;
  /**
   * The OAuth endpoints: consent (`GOOGLE_AUTH_URL` is `${url}/authorize`), tokens (`GOOGLE_TOKEN_URL`
   * is `${url}/token`) and revocation (`GOOGLE_REVOKE_URL` is `${url}/revoke`); its `configure` and counters.
   */
  readonly oauth: DemoOAuth;
  /** People edited, deleted, added between imports, and sync tokens (demo-provider/sync.ts). */
  readonly sync: DemoSync;
  /** Changes the contact count or replaces the faults (a new `script` starts from its first entry). */
  configure(patch: { contacts?: number; faults?: DemoFaults }): void;
  /** Zeroes the counters, including the request count `every` is based on. */
  resetStats(): void;
  /** Stops listening and closes open connections, keep-alive ones included. */
  close(): Promise<void>;
}

/** The fields a `personFields` mask may name (People API reference); anything else is a 400. */
const KNOWN_PERSON_FIELDS = new Set([
  'addresses', 'ageRanges', 'biographies', 'birthdays', 'calendarUrls', 'clientData', 'coverPhotos',
  'emailAddresses', 'events', 'externalIds', 'genders', 'imClients', 'interests', 'locales', 'locations',
  'memberships', 'metadata', 'miscKeywords', 'names', 'nicknames', 'occupations', 'organizations',
  'phoneNumbers', 'photos', 'relations', 'sipAddresses', 'skills', 'urls', 'userDefined',
]);

/** Arrival and refusal times kept (`stats.arrivals`, `stats.refusedAt`) before the logs stop growing. */
export const MAX_LOGGED = 10_000;

const DEFAULT_CONTACTS = 1000;
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const CONNECTIONS_PATH = '/v1/people/me/connections';

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

function sendBody(res: http.ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  // The client may have gone (timeout, abort) while a slow page waited.
  if (res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': Buffer.byteLength(json),
    ...headers,
  });
  res.end(json);
}

/** Google's error envelope: `{"error":{"code":…,"message":…,"status":…}}`. */
function sendError(res: http.ServerResponse, code: number, message: string, headers: Record<string, string> = {}): void {
  sendBody(res, code, JSON.stringify({ error: { code, message, status: GOOGLE_STATUS[code] ?? 'UNKNOWN' } }), headers);
}

function validateContacts(contacts: number): number {
  if (!Number.isInteger(contacts) || contacts < 0) {
    throw new RangeError(`contacts must be a whole number, 0 or more (got ${contacts})`);
  }
  return contacts;
}

/**
 * Starts the demo provider and resolves once it is listening.
 *
 * Protocol: `GET /v1/people/me/connections?personFields=…&pageSize=1..1000&pageToken=…` with
 * `Authorization: Bearer <any non-empty token>`; answers `{ connections, nextPageToken?,
 * totalPeople, totalItems }` or Google's JSON error envelope.
 */
export async function startDemoProvider(opts: DemoProviderOptions = {}): Promise<DemoProvider> {
  let contacts = validateContacts(opts.contacts ?? DEFAULT_CONTACTS);
  let faults = validateFaults(opts.faults ?? {});
  const oauth = createDemoOAuth(opts.oauth);
  const sync = createDemoSync({ get: () => contacts, set: (count) => (contacts = count) });
  const stats: DemoProviderStats = {
    requests: 0,
    pagesServed: 0,
    contactsServed: 0,
    faultsInjected: 0,
    quotaRefusals: 0,
    arrivals: [],
    refusedAt: [],
    pageTokensServed: new Map(),
  };
  let quota = faults.appQuota === undefined ? null : quotaBucket(quotaRate(faults.appQuota));
  let quotaSpec = faults.appQuota;
  const log = (times: number[], at: number) => {
    if (times.length < MAX_LOGGED) times.push(at);
  };
  /** The 429 of the app's quota, in the words of the API asked. */
  const appQuotaMessage = (fail: typeof sendError) =>
    fail === sendError
      ? "Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)' and limit 'Critical read requests (Contact and Profile Reads) per minute' of service 'people.googleapis.com'."
      : 'Application is over its request limit for this tenant.';
  const graph = createDemoGraph({
    sync,
    contacts: () => contacts,
    malformed: () => new Set(faults.malformedPeople ?? []),
    served(key, entries) {
      stats.pagesServed++;
      stats.contactsServed += entries;
      stats.pageTokensServed.set(key, (stats.pageTokensServed.get(key) ?? 0) + 1);
    },
  });

  /** The injected fault for this request, if any; consumes one `script` entry. */
  function nextFault(): DemoFaultKind | undefined {
    const scripted = faults.script?.shift();
    if (scripted) return scripted;
    if (faults.every && stats.requests % faults.every.every === 0) return faults.every.kind;
    return undefined;
  }

  /** Answers an injected fault, in the error envelope of the API asked (`fail`). */
  function injectFault(kind: DemoFaultKind, req: http.IncomingMessage, res: http.ServerResponse, fail: typeof sendError): void {
    stats.faultsInjected++;
    const retryAfter = { 'Retry-After': String(faults.retryAfterSeconds ?? 1) };
    if (kind === '429' || kind === 'quota') log(stats.refusedAt, Date.now());
    switch (kind) {
      case 'drop':
        // No response at all: the client sees the connection close mid-request.
        req.socket.destroy();
        return;
      case '429':
        fail(
          res,
          429,
          fail === sendError
            ? "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'people.googleapis.com'."
            : 'Application is over its MailboxConcurrency limit.',
          retryAfter,
        );
        return;
      case 'quota':
        fail(res, 429, appQuotaMessage(fail), retryAfter);
        return;
      case '500':
        fail(res, 500, 'Internal error encountered.');
        return;
      case '503':
        fail(res, 503, 'The service is currently unavailable.', retryAfter);
        return;
    }
  }

  /** Requests waiting for `holdFromOffset` to be lifted. */
  let held: Array<() => void> = [];

  /**
   * A page of people `offset…` of everyone (a full read, which hands out a sync token on its last
   * page when `read.requestToken`), or of those changed since a token's generation (`read.since`).
   */
  function servePage(
    res: http.ServerResponse,
    offset: number,
    pageSize: number,
    fields: ReadonlySet<string>,
    read: { requestToken?: boolean; since?: number } = {},
  ): void {
    // A client that went away (a killed worker) was not served: do not count the page.
    if (res.destroyed || res.socket?.destroyed) return;
    const changed = read.since === undefined ? null : sync.changedSince(read.since);
    const length = changed === null ? contacts : changed.length;
    const end = Math.min(offset + pageSize, length);
    const people: string[] = [];
    const malformed = new Set(faults.malformedPeople ?? []);
    for (let k = offset; k < end; k++) {
      const i = changed === null ? k : (changed[k] as number);
      const person = sync.person(i, fields);
      // Deleted people are left out of full reads and reported as deleted to incremental ones.
      if (person === null) {
        if (changed !== null) people.push(deletedPersonJson(i));
        continue;
      }
      people.push(malformed.has(i) ? person.replace(/,"etag":"[^"]*"/, '') : person);
    }
    // Google leaves `connections` out of an empty page rather than sending [].
    let body = people.length > 0 ? `{"connections":[${people.join(',')}],` : '{';
    if (end < length) body += `"nextPageToken":"${encodePageToken(end)}",`;
    else if (read.requestToken || changed !== null) body += `"nextSyncToken":"${sync.issueToken(fields)}",`;
    const total = sync.liveCount();
    body += `"totalPeople":${total},"totalItems":${total}}`;
    stats.pagesServed++;
    stats.contactsServed += people.length;
    const key = String(offset);
    stats.pageTokensServed.set(key, (stats.pageTokensServed.get(key) ?? 0) + 1);
    sendBody(res, 200, body);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://demo.invalid');
    // Token requests are counted apart (`oauth.stats`): faults `every` N requests stay on pages.
    if (url.pathname === DEMO_TOKEN_PATH || url.pathname === DEMO_MICROSOFT_TOKEN_PATH || url.pathname === DEMO_REVOKE_PATH) return oauth.handle(req, res);
    if (url.pathname === DEMO_AUTHORIZE_PATH) return oauth.authorization.handle(req, res);
    if (url.pathname === DEMO_CHANGES_PATH) return sync.handleAdmin(req, res);
    stats.requests++;
    log(stats.arrivals, Date.now());
    const isGraph = url.pathname.startsWith(GRAPH_PATH_PREFIX);
    const fail = isGraph ? sendGraphError : sendError;
    if (!isGraph && (req.method !== 'GET' || url.pathname !== CONNECTIONS_PATH)) {
      sendError(res, 404, `Method not found: ${req.method ?? '?'} ${url.pathname}`);
      return;
    }

    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const token = match?.[1]?.trim();
    if (!token) {
      fail(res, 401, 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
      return;
    }
    if (faults.revokedTokens?.includes(token) || oauth.isRevoked(token) || oauth.isExpired(token)) {
      fail(res, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
      return;
    }

    const admitted = quota?.take();
    if (admitted && !admitted.passed) {
      stats.quotaRefusals++;
      log(stats.refusedAt, Date.now());
      fail(res, 429, appQuotaMessage(fail), { 'Retry-After': String(admitted.retryAfterSeconds) });
      return;
    }

    const fault = nextFault();
    if (fault) {
      injectFault(fault, req, res, fail);
      return;
    }
    if (isGraph) {
      const slowMs = faults.slowMs ?? 0;
      if (slowMs === 0) return graph.handle(req, res, url);
      const timer = setTimeout(() => graph.handle(req, res, url), slowMs);
      res.on('close', () => clearTimeout(timer));
      return;
    }

    const mask = url.searchParams.get('personFields');
    if (!mask) {
      sendError(res, 400, 'personFields mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people.connections/list.');
      return;
    }
    const fields = new Set(mask.split(',').map((f) => f.trim()));
    for (const field of fields) {
      if (!KNOWN_PERSON_FIELDS.has(field)) {
        sendError(res, 400, `Invalid personFields mask path: "${field}". Valid paths are documented at https://developers.google.com/people/api/rest/v1/people.connections/list.`);
        return;
      }
    }

    const rawPageSize = url.searchParams.get('pageSize');
    let pageSize = DEFAULT_PAGE_SIZE;
    if (rawPageSize !== null && rawPageSize !== '') {
      const requested = /^-?\d{1,9}$/.test(rawPageSize) ? Number(rawPageSize) : NaN;
      if (Number.isNaN(requested) || requested < 0 || requested > MAX_PAGE_SIZE) {
        sendError(res, 400, `Invalid pageSize: "${rawPageSize}". It must be between 1 and ${MAX_PAGE_SIZE}.`);
        return;
      }
      // As Google documents: 0 means the default.
      if (requested > 0) pageSize = requested;
    }

    const rawToken = url.searchParams.get('pageToken');
    let offset = 0;
    if (rawToken !== null && rawToken !== '') {
      const decoded = decodePageToken(rawToken);
      if (decoded === null) {
        sendError(res, 400, 'Request contains an invalid argument: the page token is not valid.');
        return;
      }
      offset = decoded;
    }

    // Sync tokens (demo-provider/sync.ts): changes since one, or a new one at the end of a full read.
    const read: { requestToken?: boolean; since?: number } = { requestToken: url.searchParams.get('requestSyncToken') === 'true' };
    const syncToken = url.searchParams.get('syncToken');
    if (syncToken) {
      const known = sync.readToken(syncToken, fields);
      if ('problem' in known && known.problem === 'expired') {
        if (sync.expiredStatus === 410) sendError(res, 410, 'Sync token is expired.');
        else sendBody(res, 400, EXPIRED_SYNC_TOKEN_BODY);
        return;
      }
      if ('problem' in known) {
        sendError(res, 400, 'Request contains an invalid argument: the sync token is not valid for this request.');
        return;
      }
      read.since = known.generation;
    }

    const holding = () => faults.holdFromOffset !== undefined && offset >= faults.holdFromOffset;
    const serveWhenReleased = () => (holding() ? held.push(serveWhenReleased) : servePage(res, offset, pageSize, fields, read));
    if (holding()) {
      held.push(serveWhenReleased);
      return;
    }
    const slowMs = faults.slowMs ?? 0;
    if (slowMs > 0) {
      const timer = setTimeout(() => servePage(res, offset, pageSize, fields, read), slowMs);
      // A client that gives up (timeout, abort) must not leave the timer holding the process open.
      res.on('close', () => clearTimeout(timer));
      return;
    }
    servePage(res, offset, pageSize, fields, read);
  }

  const server = http.createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      // A bug here must not take the demo down mid-benchmark; answer like Google's 500.
      console.error('demo-provider: request failed', error);
      sendError(res, 500, 'Internal error encountered.');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    stats,
    oauth,
    sync,
    configure(patch) {
      if (patch.contacts !== undefined) contacts = validateContacts(patch.contacts);
      if (patch.faults !== undefined) {
        faults = validateFaults(patch.faults);
        // A new quota starts with a full bucket; the same quota keeps its state.
        if (faults.appQuota === undefined) quota = null;
        else if (faults.appQuota !== quotaSpec) quota = quotaBucket(quotaRate(faults.appQuota));
        quotaSpec = faults.appQuota;
        const waiting = held;
        held = [];
        for (const resume of waiting) resume();
      }
    },
    resetStats() {
      stats.requests = 0;
      stats.pagesServed = 0;
      stats.contactsServed = 0;
      stats.faultsInjected = 0;
      stats.quotaRefusals = 0;
      stats.arrivals = [];
      stats.refusedAt = [];
      stats.pageTokensServed.clear();
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // close() alone waits for idle keep-alive connections to time out.
        server.closeAllConnections();
      });
    },
  };
}
