/**
 * The demo provider's history: people edited, deleted and added between imports, and the sync
 * tokens that let an import ask only for what changed, as the People API does.
 *
 * Every change is one step (a generation). A token names the generation it was issued at and the
 * `personFields` it was asked with; a read with it lists the people changed after that generation
 * (deleted ones as `{resourceName, etag, metadata: {deleted: true}}`), a page at a time, and hands
 * out a new token on its last page. Tokens can be expired on demand, to test the fallback to a
 * full read.
 *
 * Change it from a test (`provider.sync.change(…)`) or over HTTP, e.g. from the README:
 *
 * ```sh
 * curl -X POST localhost:8090/demo/changes -d '{"edit":[0,1],"delete":[2],"add":3}'
 * curl -X POST localhost:8090/demo/changes -d '{"expireSyncTokens":true}'
 * ```
 */
import type http from 'node:http';
import { personJson } from './people';

/** The admin route that changes people (POST, JSON body: {@link DemoChanges}). */
export const DEMO_CHANGES_PATH = '/demo/changes';

/** One step of the provider's history. */
export interface DemoChanges {
  /** People (0-based indices) whose name and etag change. */
  edit?: number[];
  /** People that are deleted: gone from full listings, reported deleted to incremental ones. */
  delete?: number[];
  /** How many new people to add after the last one. */
  add?: number;
  /** Every sync token issued so far stops working (`400 FAILED_PRECONDITION`, `EXPIRED_SYNC_TOKEN`). */
  expireSyncTokens?: boolean;
}

export interface DemoSync {
  /** Applies one step; resolves to the people count and generation after it. */
  change(changes: DemoChanges): { contacts: number; generation: number };
  /** How expired tokens are answered: Google's `400 FAILED_PRECONDITION` (default) or `410 Gone`. */
  expiredStatus: 400 | 410;
  /** Person `i` as served now, or `null` when deleted. */
  person(i: number, fields: ReadonlySet<string>): string | null;
  /** How often person `i` was edited (0: as generated), or `null` when deleted. */
  versionOf(i: number): number | null;
  /** People not deleted. */
  liveCount(): number;
  /** A new token for the current state, valid with `fields`. */
  issueToken(fields: ReadonlySet<string>): string;
  /**
   * Reads a token: the generation it names, or why it cannot be used (`expired`, or `invalid`:
   * not ours, or made with other `personFields`).
   */
  readToken(token: string, fields: ReadonlySet<string>): { generation: number } | { problem: 'expired' | 'invalid' };
  /** The people changed after `generation`, in index order. */
  changedSince(generation: number): number[];
  /** Answers `POST /demo/changes`. */
  handleAdmin(req: http.IncomingMessage, res: http.ServerResponse): void;
}

interface Counts {
  get(): number;
  set(contacts: number): void;
}

function fieldsKey(fields: ReadonlySet<string>): string {
  return [...fields].sort().join(',');
}

function indices(list: unknown, what: string): number[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.some((i) => !Number.isInteger(i) || (i as number) < 0)) {
    throw new RangeError(`${what} must list whole numbers, 0 or more (indices of people)`);
  }
  return list as number[];
}

/** The demo's history over `counts`, the server's people count. */
export function createDemoSync(counts: Counts): DemoSync {
  let generation = 0;
  /** Tokens issued before this generation are expired. */
  let validFrom = 0;
  /** Last generation each person changed at (edited, deleted or added). */
  const changedAt = new Map<number, number>();
  const versions = new Map<number, number>();
  const deleted = new Set<number>();

  const sync: DemoSync = {
    expiredStatus: 400,

    change(changes) {
      const edits = indices(changes.edit, 'edit');
      const deletions = indices(changes.delete, 'delete');
      const add = changes.add ?? 0;
      if (!Number.isInteger(add) || add < 0) throw new RangeError(`add must be a whole number, 0 or more (got ${String(add)})`);
      generation += 1;
      for (const i of edits) {
        if (i >= counts.get() || deleted.has(i)) continue;
        versions.set(i, (versions.get(i) ?? 0) + 1);
        changedAt.set(i, generation);
      }
      for (const i of deletions) {
        if (i >= counts.get() || deleted.has(i)) continue;
        deleted.add(i);
        changedAt.set(i, generation);
      }
      const first = counts.get();
      for (let i = first; i < first + add; i++) changedAt.set(i, generation);
      counts.set(first + add);
      if (changes.expireSyncTokens) validFrom = generation;
      return { contacts: counts.get(), generation };
    },

    person(i, fields) {
      if (deleted.has(i)) return null;
      const json = personJson(i, fields);
      const version = versions.get(i);
      if (version === undefined) return json;
      return json
        .replace(/"etag":"([^"]*)"/, `"etag":"$1v${version}"`)
        .replace(/"displayName":"([^"]*)"/, `"displayName":"$1 (edited ${version})"`);
    },

    versionOf: (i) => (deleted.has(i) ? null : (versions.get(i) ?? 0)),

    liveCount: () => counts.get() - deleted.size,

    issueToken(fields) {
      return Buffer.from(`demo-sync:${generation}:${fieldsKey(fields)}`).toString('base64url');
    },

    readToken(token, fields) {
      const match = /^demo-sync:(\d{1,12}):(.*)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
      if (!match?.[1] || match[2] !== fieldsKey(fields)) return { problem: 'invalid' };
      const at = Number(match[1]);
      if (at > generation) return { problem: 'invalid' };
      return at < validFrom ? { problem: 'expired' } : { generation: at };
    },

    changedSince(since) {
      return [...changedAt].filter(([, at]) => at > since).map(([i]) => i).sort((a, b) => a - b);
    },

    handleAdmin(req, res) {
      const answer = (status: number, body: unknown) => {
        const json = JSON.stringify(body);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
        res.end(json);
      };
      if (req.method !== 'POST') return answer(405, { error: `use POST ${DEMO_CHANGES_PATH}` });
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        try {
          answer(200, sync.change(JSON.parse(text || '{}') as DemoChanges));
        } catch (error) {
          answer(400, { error: error instanceof Error ? error.message : String(error) });
        }
      });
    },
  };
  return sync;
}

/** A deleted person as an incremental read reports it. */
export function deletedPersonJson(i: number): string {
  return `{"resourceName":"people/c${i}","etag":"%deleted${i}","metadata":{"deleted":true,"objectType":"PERSON"}}`;
}

/** Google's answer to an expired token. */
export const EXPIRED_SYNC_TOKEN_BODY = JSON.stringify({
  error: {
    code: 400,
    message: 'Sync token is expired. Clear local cache and retry call without the sync token.',
    status: 'FAILED_PRECONDITION',
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EXPIRED_SYNC_TOKEN', domain: 'people.googleapis.com' }],
  },
});
