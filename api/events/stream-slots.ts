/**
 * The live event streams open in one API process, counted per API key: at most `perKey` at once
 * (`EVENT_STREAMS_PER_KEY`), and a key's streams end within `checkMs` of the key being revoked.
 * One check per key and interval, however many streams the key holds open.
 */

export interface StreamSlotsOptions {
  /** Streams one key may hold open at once. */
  perKey: number;
  /** How often each key with open streams is checked again. */
  checkMs: number;
}

interface OpenStream {
  /** Whether the key that opened the stream may still read it; rejects when that cannot be told. */
  stillAllowed: () => Promise<boolean>;
  end: () => void;
}

export class StreamSlots {
  private readonly byKey = new Map<string, Set<OpenStream>>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly options: StreamSlotsOptions) {
    if (!(options.perKey >= 1)) throw new RangeError(`streams per key must be at least 1 (got ${options.perKey})`);
  }

  /** Streams open now, all keys together. */
  get size(): number {
    let size = 0;
    for (const streams of this.byKey.values()) size += streams.size;
    return size;
  }

  /**
   * Takes a slot for a stream of `key`, or returns `null` when the key already holds `perKey`.
   * `end` is called when `stillAllowed` says no. The stream calls the returned function when it ends.
   */
  open(key: string, stillAllowed: OpenStream['stillAllowed'], end: OpenStream['end']): (() => void) | null {
    const streams = this.byKey.get(key) ?? new Set<OpenStream>();
    if (streams.size >= this.options.perKey) return null;
    const stream: OpenStream = { stillAllowed, end };
    streams.add(stream);
    this.byKey.set(key, streams);
    this.timer ??= setInterval(() => void this.check(), this.options.checkMs);
    // Open streams must not keep a stopping process alive; the server's connections do that.
    this.timer.unref();
    return () => {
      streams.delete(stream);
      if (streams.size === 0 && this.byKey.get(key) === streams) this.byKey.delete(key);
      if (this.byKey.size === 0) this.stopTimer();
    };
  }

  /** Asks once per key whether its streams may go on, and ends those of keys that may not. */
  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all(
        [...this.byKey.values()].map(async (streams) => {
          const first = streams.values().next().value;
          if (!first) return;
          // A check that cannot be made (the database is down) keeps the streams: it is not a no.
          const allowed = await first.stillAllowed().catch(() => true);
          if (!allowed) for (const stream of [...streams]) stream.end();
        }),
      );
    } finally {
      this.checking = false;
    }
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
