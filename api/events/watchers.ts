/**
 * One watcher per import per API process, however many streams watch it: the watcher reads the
 * status once per interval and fans each change out to every listener, and stops when the last
 * listener leaves or the import ends. A hundred open pages on one import cost Temporal what one does.
 */
import { createHash } from 'node:crypto';
import type { ImportView } from '../schemas';
import { ApiError } from '../errors';

/** States after which nothing changes any more: the stream's last event. */
const FINAL_STATES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** One status as an event: its id names what a viewer sees of it. */
export interface StatusEvent {
  id: string;
  view: ImportView;
  /** The import has ended: this is the last event. */
  final: boolean;
}

/**
 * The id of a status: a digest of what a viewer sees change (state, counts, the waiting reason and
 * its attempt), not of `rate`/`etaSeconds`/`updatedAt`, which move without anything happening. Two
 * API processes give the same status the same id, so `Last-Event-ID` resumes on either.
 */
export function statusEvent(view: ImportView): StatusEvent {
  const { state, fetched, saved, rejected, pages, total, error, errorType, runId, waiting } = view;
  const seen = [runId, state, fetched, saved, rejected, pages, total, error, errorType, waiting?.reason, waiting?.attempt, waiting?.until];
  const digest = createHash('sha256').update(JSON.stringify(seen)).digest('base64url').slice(0, 12);
  return { id: `${saved}-${digest}`, view, final: FINAL_STATES.has(state) };
}

/** Gets each status change; `null` when the watch ends without a last status (shutdown, import gone). */
export type WatchListener = (event: StatusEvent | null) => void;

export interface ImportWatchersOptions {
  /** Between two reads of one import's status. Default 1 s. */
  intervalMs?: number;
}

interface Watcher {
  listeners: Set<WatchListener>;
  last?: StatusEvent;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

export class ImportWatchers {
  private readonly watchers = new Map<string, Watcher>();
  private readonly intervalMs: number;

  /** `read` is the status read the REST route answers with (tenant-scoped, shared between callers). */
  constructor(
    private readonly read: (tenant: string, importId: string) => Promise<ImportView>,
    options: ImportWatchersOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1_000;
  }

  /** Imports being watched right now (one watcher each). */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Calls `listener` with the import's status whenever it changes (first with the last one known,
   * if the import is already watched). Returns the function that stops listening.
   */
  watch(tenant: string, importId: string, listener: WatchListener): () => void {
    const key = `${tenant}\n${importId}`;
    let watcher = this.watchers.get(key);
    if (!watcher) {
      const created: Watcher = { listeners: new Set(), stopped: false };
      this.watchers.set(key, created);
      watcher = created;
      created.timer = setTimeout(() => void this.tick(key, created, tenant, importId), this.intervalMs);
    } else if (watcher.last) {
      listener(watcher.last);
    }
    watcher.listeners.add(listener);
    const own = watcher;
    return () => {
      own.listeners.delete(listener);
      if (own.listeners.size === 0) this.stop(key, own);
    };
  }

  /** Stops every watcher; their listeners get `null` (the API is shutting down). */
  close(): void {
    for (const [key, watcher] of this.watchers) {
      const listeners = [...watcher.listeners];
      this.stop(key, watcher);
      for (const listener of listeners) listener(null);
    }
  }

  private async tick(key: string, watcher: Watcher, tenant: string, importId: string): Promise<void> {
    try {
      const event = statusEvent(await this.read(tenant, importId));
      if (watcher.stopped) return;
      if (event.id !== watcher.last?.id) {
        watcher.last = event;
        for (const listener of watcher.listeners) listener(event);
      }
      if (event.final) return this.stop(key, watcher);
    } catch (err) {
      // Gone (an erased user's import): nothing more will come. Anything else (Temporal briefly
      // unavailable) is read again next time; the streams stay open, kept alive by their comments.
      if (err instanceof ApiError && err.status === 404 && !watcher.stopped) {
        const listeners = [...watcher.listeners];
        this.stop(key, watcher);
        for (const listener of listeners) listener(null);
        return;
      }
    }
    if (!watcher.stopped) watcher.timer = setTimeout(() => void this.tick(key, watcher, tenant, importId), this.intervalMs);
  }

  private stop(key: string, watcher: Watcher): void {
    watcher.stopped = true;
    clearTimeout(watcher.timer);
    watcher.listeners.clear();
    if (this.watchers.get(key) === watcher) this.watchers.delete(key);
  }
}
