/**
 * Reads shared between concurrent callers, with a short freshness window. A workflow answers its
 * queries one at a time, so a web app polling one import from many tabs would otherwise queue
 * behind itself: callers within `freshMs` share one answer; up to `staleMs` they get the last
 * answer while one read refreshes it. Progress moves per batch, so this hides little.
 */
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
    this.maxEntries = options.maxEntries ?? 10_000;
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
