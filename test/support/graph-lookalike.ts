/**
 * A Microsoft Graph look-alike of the tests' own (not the demo provider): mailboxes of contact
 * folders (the default one, others, child folders) whose contacts a test adds, edits and removes,
 * read the way Graph serves them:
 *
 * - `GET /v1.0/me/contactFolders` and `…/{id}/childFolders`, paged (`$top`, `@odata.nextLink`);
 * - `GET /v1.0/me/contactFolders/{id}/contacts/delta`: a round is a snapshot of the changes since
 *   its delta token (everything, the first time), paged by `Prefer: odata.maxpagesize`, ending with
 *   an `@odata.deltaLink`; removed contacts come as `{"id", "@removed": {"reason": "deleted"}}`;
 * - expired delta state answered `410` with `SyncStateNotFound`, unknown folders `404`;
 * - scripted faults (`429` and `503` with `Retry-After`), revoked access tokens (`401`), and the
 *   v2.0 token endpoint (`POST /common/oauth2/v2.0/token`: `invalid_grant` for revoked refresh tokens).
 *
 * It counts, per mailbox, the requests in flight at once (each answer waits `delayMs`, so they can
 * overlap), and how often each contact was served.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const LOOKALIKE_CLIENT = { clientId: 'lookalike-client', clientSecret: 'lookalike-secret' } as const;
export const TOKEN_PATH = '/common/oauth2/v2.0/token';
/** The default folder's own id; requests may name it by its well-known name `contacts`. */
export const DEFAULT_FOLDER_ID = 'AAMkDefaultContacts';
const DEFAULT_PAGE = 10;

/** What a test stores as a contact: anything, so a test can store one that is not the documented shape. */
export type LookalikeContact = Record<string, unknown>;

interface Folder {
  parent: string | null;
  /** Contact id → its last change number, and its body (`null` once removed). */
  contacts: Map<string, { at: number; body: LookalikeContact | null }>;
  /** Delta tokens issued before this change number answer 410. */
  validFrom: number;
}

interface Mailbox {
  folders: Map<string, Folder>;
  changes: number;
  inFlight: number;
  maxInFlight: number;
}

export interface LookalikeStats {
  /** Graph requests, faults and refusals included. */
  requests: number;
  /** Contact entries (removals too) served, by id. */
  served: Map<string, number>;
  /** When each scripted fault was answered, and when each request came (ms since epoch). */
  faultTimes: number[];
  requestsAt: number[];
  /** The `Prefer` and query of every delta request. */
  deltaRequests: Array<{ prefer: string | undefined; query: string }>;
  tokenRequests: number;
  /** The `scope` each token request asked for. */
  tokenScopes: string[];
}

export interface GraphLookalike {
  readonly url: string;
  readonly tokenUrl: string;
  readonly stats: LookalikeStats;
  /** Answers after this many ms (default 5): requests of one mailbox overlap and can be counted. */
  delayMs: number;
  /** The next Graph requests get these answers first, in order (`Retry-After: 1`). */
  faults: Array<'429' | '503'>;
  /** Called as Graph request `n` (1, 2, …: `stats.requests`) arrives, before it is answered. */
  onRequest: ((n: number) => void) | undefined;
  /** Access tokens answered 401, and refresh tokens answered `invalid_grant` (a refresh token also revokes those it was rotated into). */
  readonly revoked: Set<string>;
  /** A mailbox reached with access token `at-<name>` (and refresh token `rt-<name>`); the default folder is made. */
  addMailbox(name: string): void;
  /** Revokes `at-<name>` and every access token the token endpoint issued for the mailbox so far. */
  revokeAccessTokens(name: string): void;
  addFolder(mailbox: string, id: string, parent?: string): void;
  removeFolder(mailbox: string, id: string): void;
  put(mailbox: string, folder: string, contact: LookalikeContact): void;
  remove(mailbox: string, folder: string, id: string): void;
  /** Every delta token of `folder` (or of every folder) issued so far now answers 410. */
  expire(mailbox: string, folder?: string): void;
  /** Most requests of `mailbox` in flight at once so far. */
  maxInFlight(mailbox: string): number;
  resetStats(): void;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), ...headers });
  res.end(json);
}

const graphError = (code: string, message: string) => ({ error: { code, message } });
/** The mailbox a test token (`at-alice`, `rt-alice~2`) names, and the grant it belongs to (the part before `#`). */
const mailboxOfToken = (token: string, prefix: string) => (token.startsWith(prefix) ? (token.slice(prefix.length).split(/[~#]/)[0] ?? '') : '');
const grantOf = (token: string) => token.replace(/#.*$/, '');
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (text: string): unknown => JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));

export async function startGraphLookalike(): Promise<GraphLookalike> {
  const mailboxes = new Map<string, Mailbox>();
  const tokens = new Map<string, string>();
  /** Delta rounds in progress: their entries, fixed at the round's first page. */
  const rounds = new Map<string, { mailbox: string; folder: string; ids: string[]; endsAt: number }>();
  const stats: LookalikeStats = { requests: 0, served: new Map(), faultTimes: [], requestsAt: [], deltaRequests: [], tokenRequests: 0, tokenScopes: [] };
  let url = '';

  const box = (name: string): Mailbox => {
    const found = mailboxes.get(name);
    if (!found) throw new Error(`no mailbox ${name}`);
    return found;
  };
  const folderOf = (mailbox: Mailbox, id: string) => mailbox.folders.get(id === 'contacts' ? DEFAULT_FOLDER_ID : id);

  function listFolders(res: http.ServerResponse, mailbox: Mailbox, parent: string, query: URLSearchParams, path: string): void {
    const ids = [...mailbox.folders].filter(([, folder]) => folder.parent === parent).map(([id]) => id);
    const top = Math.min(Number(query.get('$top') ?? DEFAULT_PAGE), DEFAULT_PAGE);
    const skip = Number(query.get('$skip') ?? 0);
    const body: Record<string, unknown> = { value: ids.slice(skip, skip + top).map((id) => ({ id, parentFolderId: parent })) };
    if (skip + top < ids.length) body['@odata.nextLink'] = `${url}${path}?$select=id&$top=${top}&$skip=${skip + top}`;
    send(res, 200, body);
  }

  function delta(req: http.IncomingMessage, res: http.ServerResponse, name: string, folderId: string, query: URLSearchParams): void {
    const mailbox = box(name);
    const folder = folderOf(mailbox, folderId);
    if (!folder) return send(res, 404, graphError('ErrorItemNotFound', 'The specified object was not found in the store.'));
    const prefer = req.headers.prefer === undefined ? undefined : String(req.headers.prefer);
    stats.deltaRequests.push({ prefer, query: decodeURIComponent(query.toString()) });
    const pageSize = Number(/odata\.maxpagesize=(\d+)/.exec(prefer ?? '')?.[1] ?? DEFAULT_PAGE);
    let roundId = query.get('$skiptoken');
    let offset = 0;
    if (roundId !== null) {
      [roundId, offset] = decode(roundId) as [string, number];
    } else {
      const since = query.get('$deltatoken') === null ? null : (decode(query.get('$deltatoken') as string) as number);
      if (since !== null && since < folder.validFrom) {
        // Expired delta state, as Graph answers it for Outlook resources.
        return send(res, 410, graphError('SyncStateNotFound', 'The sync state generation is not found. The delta token is expired.'));
      }
      const ids = [...folder.contacts].filter(([, c]) => (since === null ? c.body !== null : c.at > since)).map(([id]) => id);
      roundId = randomBytes(6).toString('hex');
      rounds.set(roundId, { mailbox: name, folder: folderId, ids, endsAt: mailbox.changes });
    }
    const round = rounds.get(roundId);
    if (!round) return send(res, 400, graphError('BadRequest', 'unknown skip token'));
    if (round.endsAt < folder.validFrom) return send(res, 410, graphError('SyncStateNotFound', 'The sync state generation is not found.'));
    const value = round.ids.slice(offset, offset + pageSize).map((id) => {
      stats.served.set(id, (stats.served.get(id) ?? 0) + 1);
      const body = folder.contacts.get(id)?.body;
      return body ? { '@odata.etag': `W/"${String(body.changeKey ?? '')}"`, ...body } : { id, '@removed': { reason: 'deleted' } };
    });
    const base = `${url}/v1.0/me/contactFolders/${encodeURIComponent(folderId)}/contacts/delta`;
    const end = offset + pageSize >= round.ids.length;
    const link = end ? { '@odata.deltaLink': `${base}?$deltatoken=${encode(round.endsAt)}` } : { '@odata.nextLink': `${base}?$skiptoken=${encode([roundId, offset + pageSize])}` };
    send(res, 200, { value, ...link }, { 'Preference-Applied': `odata.maxpagesize=${pageSize}` });
  }

  function graph(req: http.IncomingMessage, res: http.ServerResponse, path: string, query: URLSearchParams): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const name = tokens.get(token) ?? mailboxOfToken(token, 'at-');
    if (!mailboxes.has(name) || lookalike.revoked.has(token)) {
      return send(res, 401, graphError('InvalidAuthenticationToken', 'Access token has expired or is not yet valid.'));
    }
    const mailbox = box(name);
    mailbox.inFlight += 1;
    mailbox.maxInFlight = Math.max(mailbox.maxInFlight, mailbox.inFlight);
    setTimeout(() => {
      mailbox.inFlight -= 1;
      const fault = lookalike.faults.shift();
      if (fault) {
        stats.faultTimes.push(Date.now());
        const [code, message] = fault === '429' ? ['TooManyRequests', 'Too many requests'] : ['ServiceUnavailable', 'Service unavailable'];
        return send(res, Number(fault), graphError(code, message), { 'Retry-After': '1' });
      }
      const parts = path.split('/').map(decodeURIComponent);
      // ['', 'v1.0', 'me', 'contactFolders', id?, 'childFolders' | 'contacts', 'delta'?]
      if (parts.length === 4 && parts[3] === 'contactFolders') return listFolders(res, mailbox, DEFAULT_FOLDER_ID, query, path);
      const folderId = parts[4] ?? '';
      if (parts.length === 6 && parts[5] === 'childFolders') {
        const folder = folderOf(mailbox, folderId);
        return folder ? listFolders(res, mailbox, folderId, query, path) : send(res, 404, graphError('ErrorItemNotFound', 'The specified object was not found in the store.'));
      }
      if (parts.length === 7 && parts[5] === 'contacts' && parts[6] === 'delta') return delta(req, res, name, folderId, query);
      send(res, 400, graphError('BadRequest', `Resource not found for the segment '${path}'.`));
    }, lookalike.delayMs);
  }

  function token(req: http.IncomingMessage, res: http.ServerResponse): void {
    stats.tokenRequests += 1;
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(text);
      stats.tokenScopes.push(form.get('scope') ?? '');
      if (form.get('client_id') !== LOOKALIKE_CLIENT.clientId || form.get('client_secret') !== LOOKALIKE_CLIENT.clientSecret) {
        return send(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
      }
      const refresh = form.get('refresh_token') ?? '';
      const name = mailboxOfToken(refresh, 'rt-');
      if (form.get('grant_type') !== 'refresh_token' || !mailboxes.has(name) || lookalike.revoked.has(grantOf(refresh))) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.' });
      }
      const access = `issued-${randomBytes(6).toString('hex')}`;
      tokens.set(access, name);
      // Microsoft rotates refresh tokens: the new one belongs to the same grant.
      send(res, 200, { token_type: 'Bearer', scope: form.get('scope') ?? '', expires_in: 3600, access_token: access, refresh_token: `${grantOf(refresh)}#${randomBytes(3).toString('hex')}` });
    });
  }

  const server = http.createServer((req, res) => {
    const parsed = new URL(req.url ?? '/', 'http://lookalike.invalid');
    if (req.method === 'POST' && parsed.pathname === TOKEN_PATH) return token(req, res);
    stats.requests += 1;
    stats.requestsAt.push(Date.now());
    lookalike.onRequest?.(stats.requests);
    if (req.method !== 'GET' || !parsed.pathname.startsWith('/v1.0/me/')) return send(res, 400, graphError('BadRequest', 'Unsupported request'));
    graph(req, res, parsed.pathname, parsed.searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const change = (mailbox: Mailbox) => ++mailbox.changes;
  const lookalike: GraphLookalike = {
    url,
    tokenUrl: `${url}${TOKEN_PATH}`,
    stats,
    delayMs: 5,
    faults: [],
    onRequest: undefined,
    revoked: new Set(),
    addMailbox(name) {
      mailboxes.set(name, { folders: new Map([[DEFAULT_FOLDER_ID, { parent: null, contacts: new Map(), validFrom: 0 }]]), changes: 0, inFlight: 0, maxInFlight: 0 });
    },
    revokeAccessTokens(name) {
      lookalike.revoked.add(`at-${name}`);
      for (const [access, owner] of tokens) if (owner === name) lookalike.revoked.add(access);
    },
    addFolder(name, id, parent = DEFAULT_FOLDER_ID) {
      box(name).folders.set(id, { parent, contacts: new Map(), validFrom: 0 });
    },
    removeFolder(name, id) {
      const mailbox = box(name);
      for (const [child, folder] of mailbox.folders) if (folder.parent === id) lookalike.removeFolder(name, child);
      mailbox.folders.delete(id);
    },
    put(name, folder, contact) {
      const mailbox = box(name);
      folderOf(mailbox, folder)?.contacts.set(String(contact.id), { at: change(mailbox), body: contact });
    },
    remove(name, folder, id) {
      const mailbox = box(name);
      folderOf(mailbox, folder)?.contacts.set(id, { at: change(mailbox), body: null });
    },
    expire(name, folder) {
      const mailbox = box(name);
      const at = change(mailbox);
      for (const found of folder === undefined ? mailbox.folders.values() : [folderOf(mailbox, folder)]) if (found) found.validFrom = at;
    },
    maxInFlight: (name) => box(name).maxInFlight,
    resetStats() {
      Object.assign(stats, { requests: 0, served: new Map(), faultTimes: [], requestsAt: [], deltaRequests: [], tokenRequests: 0, tokenScopes: [] });
      for (const mailbox of mailboxes.values()) mailbox.maxInFlight = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return lookalike;
}

/** A contact as Graph sends it, with the fields an import asks for; `version` changes its `changeKey`. */
export function graphContact(id: string, given: string, surname: string, version = 0): LookalikeContact {
  return {
    id,
    changeKey: `ck-${id}-${version}`,
    displayName: version === 0 ? `${given} ${surname}` : `${given} ${surname} (edited ${version})`,
    givenName: given,
    surname,
    emailAddresses: [{ name: `${given} ${surname}`, address: `${given.toLowerCase()}.${surname.toLowerCase()}@Example.COM` }],
    mobilePhone: null,
    businessPhones: ['+1 202 555 0100'],
    homePhones: [],
    companyName: 'Contoso',
  };
}
