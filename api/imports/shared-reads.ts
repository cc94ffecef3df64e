/**
 * Reads shared between concurrent callers, with a short freshness window. A workflow answers its
 * queries one at a time, so a web app polling one import from many tabs would otherwise queue
 * behind itself: callers within `freshMs` share one answer; up to `staleMs` they get the last
 * answer while one read refreshes it. Progress moves a page at a time, so this hides little.
 */
import { STATUS_DEFAULTS } from '../../config/defaults';

interface Entry<V> {
  value?: V;
  at: number;
  refreshing?: Promise<V>;
}

export interface SharedReadsOptions {
  freshMs: number;
  staleMs: number;
  /** Entries kept before old ones are dropped. */
  maxEntries?: number;
  now?: () => number;
}

export class SharedReads<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(
    private readonly read: (key: string) => Promise<V>,
    private readonly options: SharedReadsOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? STATUS_DEFAULTS.importsRemembered;
  }

  /** The value for `key`: shared, fresh, or stale-while-refreshing, as described above. */
  get(key: string): Promise<V> {
    const now = this.now();
    const cached = this.entries.get(key);
    const age = cached?.value !== undefined ? now - cached.at : Infinity;
    if (cached?.value !== undefined && age < this.options.freshMs) return Promise.resolve(cached.value);
    if (this.entries.size > this.maxEntries) this.forgetOlderThan(now - this.options.staleMs);
    if (cached?.value !== undefined && age < this.options.staleMs) {
      this.refresh(key, cached).catch(() => undefined);
      return Promise.resolve(cached.value);
    }
    return this.refresh(key, cached);
  }

  /** Drops what is known about `key`: the next `get` reads it again. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  private refresh(key: string, cached: Entry<V> | undefined): Promise<V> {
    const entry: Entry<V> = cached ?? { at: 0 };
    entry.refreshing ??= this.read(key).then(
      (value) => {
        Object.assign(entry, { value, at: this.now(), refreshing: undefined });
        return value;
      },
      (err: unknown) => {
        // Only our own entry: `forget` may have replaced it with a newer read meanwhile.
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw err;
      },
    );
    this.entries.set(key, entry);
    return entry.refreshing;
  }

  private forgetOlderThan(time: number): void {
    for (const [key, entry] of this.entries) if (!entry.refreshing && entry.at < time) this.entries.delete(key);
  }
}

/**
 * `read`, shared between callers without ever answering one of them from a read that began before
 * it called: the store's state is read fresh for every status (`withStoredState`), and a caller
 * that alternates between API processes must never be answered from a snapshot older than the
 * answer it already has. The first caller of a key starts a read; callers that come while it runs
 * share one more read, which starts once the running one ends. However many callers wait, a key
 * has at most one read running and one waiting.
 */
export function readAfterCall<V>(read: (key: string) => Promise<V>): (key: string) => Promise<V> {
  const flights = new Map<string, { running: Promise<V>; next?: Promise<V> }>();
  const ignore = () => undefined;
  const launch = (key: string): Promise<V> => {
    const flight: { running: Promise<V>; next?: Promise<V> } = { running: read(key) };
    flights.set(key, flight);
    // A read someone waits to follow hands the key over to it; else the key is forgotten.
    void flight.running.then(ignore, ignore).then(() => {
      if (flights.get(key) === flight && flight.next === undefined) flights.delete(key);
    });
    return flight.running;
  };
  return function readShared(key) {
    const flight = flights.get(key);
    if (!flight) return launch(key);
    return (flight.next ??= flight.running.then(ignore, ignore).then(() => launch(key)));
  };
}

/**
 * One cache entry per (tenant, import id or import key): a tenant never shares another's answer,
 * not even a 404. Tenant ids hold no newline, so no two pairs meet.
 */
export const cacheKey = (tenant: string, id: string) => `${tenant}\n${id}`;

/** The (tenant, id) a {@link cacheKey} was made of. */
export function splitKey(key: string): [string, string] {
  const at = key.indexOf('\n');
  return [key.slice(0, at), key.slice(at + 1)];
}
