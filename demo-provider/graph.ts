/**
 * The demo provider's Microsoft Graph side: the same people as its People API side, in a mailbox
 * of three contact folders (the default Contacts folder with half of them, `Work` in it and `Team`
 * in `Work` with a quarter each), read the way Graph serves them:
 *
 * - `GET /v1.0/me/contactFolders` and `…/contactFolders/{id}/childFolders`;
 * - `GET /v1.0/me/contactFolders/{id}/contacts/delta` (`contacts` names the default folder): pages
 *   of `Prefer: odata.maxpagesize` (10 unless asked), `@odata.nextLink` to the next, and on the last
 *   an `@odata.deltaLink` whose token names the folder and the demo's generation
 *   (`demo-provider/sync.ts`). Followed later, it lists the people of the folder changed since:
 *   edited and added ones as contacts, deleted ones as `{"id", "@removed": {"reason": "deleted"}}`;
 * - expired tokens (`POST /demo/changes {"expireSyncTokens": true}`) answered `410` with
 *   `SyncStateNotFound`, unknown folders `404 ErrorItemNotFound`, errors in Graph's envelope.
 *
 * Faults, revoked tokens and slow pages are the server's (`server.ts`), as for the People API side;
 * the token endpoint answers at {@link DEMO_MICROSOFT_TOKEN_PATH} too.
 */
import type http from 'node:http';
import { graphContactJson } from './people';
import type { DemoSync } from './sync';

/** Every Graph request the demo answers starts with this. */
export const GRAPH_PATH_PREFIX = '/v1.0/me/';
/** Microsoft's v2.0 token endpoint path: `MICROSOFT_TOKEN_URL=<demo url>/common/oauth2/v2.0/token`. */
export const DEMO_MICROSOFT_TOKEN_PATH = '/common/oauth2/v2.0/token';

const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 1000;
/** The mailbox's folders: index 0 is the default folder; the others' parents by index. */
const FOLDERS = [
  { id: 'AAMkAGdemoContactsAAA=', displayName: 'Contacts', parent: null },
  { id: 'AAMkAGdemoWorkAAA=', displayName: 'Work', parent: 0 },
  { id: 'AAMkAGdemoTeamAAA=', displayName: 'Team', parent: 1 },
] as const;

const GRAPH_ERRORS: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  404: 'ErrorItemNotFound',
  410: 'SyncStateNotFound',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

/** Graph's error envelope: `{"error":{"code":…,"message":…}}`. */
export function sendGraphError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, JSON.stringify({ error: { code: GRAPH_ERRORS[status] ?? 'UnknownError', message } }), headers);
}

function sendJson(res: http.ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'application/json; odata.metadata=minimal', 'Content-Length': Buffer.byteLength(json), ...headers });
  res.end(json);
}

/** Person `i`'s folder: the default folder holds `i % 4` 0 and 1, `Work` 2, `Team` 3. */
export function folderOfPerson(i: number): number {
  const rest = i % 4;
  return rest < 2 ? 0 : rest - 1;
}

/** The `k`-th person of folder `folder` (in index order). */
function personAt(folder: number, k: number): number {
  return folder === 0 ? 4 * Math.floor(k / 2) + (k % 2) : 4 * k + folder + 1;
}

/** How many of the first `count` people folder `folder` holds. */
function folderSize(folder: number, count: number): number {
  const whole = Math.floor(count / 4);
  const rest = count % 4;
  return folder === 0 ? 2 * whole + Math.min(rest, 2) : whole + (rest > folder + 1 ? 1 : 0);
}

/** A folder by id, or by the default folder's well-known name `contacts`. */
function folderIndex(id: string): number {
  return id === 'contacts' ? 0 : FOLDERS.findIndex((folder) => folder.id === id);
}

const tokenFields = (folder: number) => new Set([`graph:${FOLDERS[folder]?.id ?? ''}`]);
const encodeSkip = (parts: [number, number | null, number]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

function decodeSkip(token: string): [number, number | null, number] | null {
  try {
    const parts: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    const [folder, since, offset] = Array.isArray(parts) ? (parts as unknown[]) : [];
    const whole = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
    if (whole(folder) && folder < FOLDERS.length && (since === null || whole(since)) && whole(offset)) return [folder, since, offset];
  } catch {
    // Not ours: answered like any other bad token.
  }
  return null;
}

export interface DemoGraph {
  /** Answers one authenticated Graph request (faults and tokens are checked before). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void;
}

export interface DemoGraphOptions {
  sync: DemoSync;
  /** How many people there are now. */
  contacts(): number;
  /** People served not in Graph's shape (`emailAddresses` a string): the faults' `malformedPeople`. */
  malformed(): ReadonlySet<number>;
  /** Counts a page served: its key (folder and offset) and how many entries it held. */
  served(key: string, entries: number): void;
}

export function createDemoGraph(options: DemoGraphOptions): DemoGraph {
  const { sync } = options;

  function contactJson(i: number, version: number): string {
    const json = graphContactJson(i, version);
    return options.malformed().has(i) ? json.replace(/"emailAddresses":\[[^\]]*\]/, '"emailAddresses":"not-a-list@example.com"') : json;
  }

  function listFolders(res: http.ServerResponse, parent: number): void {
    const value = FOLDERS.filter((folder) => folder.parent === parent).map(({ id, displayName }) => ({ id, displayName, parentFolderId: FOLDERS[parent]?.id }));
    sendJson(res, 200, JSON.stringify({ value }));
  }

  /** One page of folder `folder`'s delta round: everything (`since` null) or the changes after generation `since`. */
  function delta(req: http.IncomingMessage, res: http.ServerResponse, base: string, folder: number, since: number | null, offset: number): void {
    const asked = Number(/odata\.maxpagesize=(\d+)/i.exec(String(req.headers.prefer ?? ''))?.[1] ?? DEFAULT_PAGE_SIZE);
    const pageSize = Math.min(Math.max(asked, 1), MAX_PAGE_SIZE);
    const entries: string[] = [];
    let end: number;
    let length: number;
    if (since === null) {
      length = folderSize(folder, options.contacts());
      end = Math.min(offset + pageSize, length);
      for (let k = offset; k < end; k++) {
        const i = personAt(folder, k);
        const version = sync.versionOf(i);
        if (version !== null) entries.push(contactJson(i, version));
      }
    } else {
      const changed = sync.changedSince(since).filter((i) => folderOfPerson(i) === folder);
      length = changed.length;
      end = Math.min(offset + pageSize, length);
      for (const i of changed.slice(offset, end)) {
        const version = sync.versionOf(i);
        entries.push(version === null ? `{"id":"AAMkAGdemo${i}AAA=","@removed":{"reason":"deleted"}}` : contactJson(i, version));
      }
    }
    const path = `${base}/v1.0/me/contactFolders/${encodeURIComponent(FOLDERS[folder]?.id ?? '')}/contacts/delta`;
    const link =
      end < length
        ? `"@odata.nextLink":"${path}?$skiptoken=${encodeSkip([folder, since, end])}"`
        : `"@odata.deltaLink":"${path}?$deltatoken=${sync.issueToken(tokenFields(folder))}"`;
    options.served(`graph ${folder} ${since ?? 'all'} ${offset}`, entries.length);
    sendJson(res, 200, `{"value":[${entries.join(',')}],${link}}`, { 'Preference-Applied': `odata.maxpagesize=${pageSize}` });
  }

  return {
    handle(req, res, url) {
      const parts = url.pathname.slice(GRAPH_PATH_PREFIX.length).split('/').map(decodeURIComponent);
      if (req.method !== 'GET' || parts[0] !== 'contactFolders') {
        return sendGraphError(res, 400, `Resource not found for the segment '${parts[0] ?? ''}'.`);
      }
      if (parts.length === 1) return listFolders(res, 0);
      const folder = folderIndex(parts[1] ?? '');
      if (folder < 0) return sendGraphError(res, 404, 'The specified object was not found in the store.');
      if (parts.length === 3 && parts[2] === 'childFolders') return listFolders(res, folder);
      if (parts.length !== 4 || parts[2] !== 'contacts' || parts[3] !== 'delta') {
        return sendGraphError(res, 400, `Resource not found for the segment '${parts.slice(2).join('/')}'.`);
      }
      const base = `http://${req.headers.host ?? 'localhost'}`;
      const skip = url.searchParams.get('$skiptoken');
      const token = url.searchParams.get('$deltatoken');
      if (skip !== null) {
        const decoded = decodeSkip(skip);
        if (decoded === null || decoded[0] !== folder) return sendGraphError(res, 400, 'The skip token is not valid.');
        return delta(req, res, base, folder, decoded[1], decoded[2]);
      }
      if (token === null) return delta(req, res, base, folder, null, 0);
      const known = sync.readToken(token, tokenFields(folder));
      if ('problem' in known && known.problem === 'expired') {
        return sendGraphError(res, 410, 'The sync state generation is not found. The delta token is expired and data must be synchronized again.');
      }
      if ('problem' in known) return sendGraphError(res, 400, 'The delta token is not valid.');
      delta(req, res, base, folder, known.generation, 0);
    },
  };
}
