/**
 * Where Google pages are fetched and decoded: on the worker's own thread, or on decode threads
 * beside it (`WORKER_DECODE_THREADS`, settings.ts).
 *
 * Decoding a page of 1,000 people (UTF-8, `JSON.parse`, checking and mapping each person,
 * serialising each `raw`) costs about as much CPU as writing it to SQLite, and better-sqlite3
 * writes on the worker's one JavaScript thread. A thread that only decoded would gain nothing: the
 * answer to the page fetched ahead waits for the write to end before the worker's thread can even
 * pass it on. So the thread does the whole request, fetch and decode, and the next page arrives
 * decoded while the current one is written: the two overlap on two cores instead of taking turns
 * on one. The contacts come back as plain strings, `raw` included (`rawJson`). The access token
 * goes to the thread with its request, and only into that request's header.
 *
 * On two cores it loses: the provider, Temporal and the API already want the second core, and each
 * import's thread waits on one page at a time (bench/README.md has the measurements). So the
 * default is none; it is a setting for larger machines.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { requestConnections, type PageOutcome, type PageRequestSpec } from './page';

export interface PageDecoder {
  /** Fetches and decodes one page; never rejects for what the provider did (see {@link PageOutcome}), only when a thread dies. */
  request(spec: PageRequestSpec, signal?: AbortSignal): Promise<PageOutcome>;
  /** Stops the threads; requests in progress reject. */
  close(): Promise<void>;
}

/** Fetches and decodes on the calling thread: what tests and one-core machines use. */
export const inlineDecoder: PageDecoder = {
  request: (spec, signal) => requestConnections(spec, false, signal),
  close: () => Promise.resolve(),
};

/** What travels to a thread (a request, or the cancellation of one), and its answer. */
type ThreadMessage = { id: number; spec: PageRequestSpec } | { id: number; cancel: true };
interface ThreadAnswer {
  id: number;
  outcome: PageOutcome;
}

interface Pending {
  resolve: (outcome: PageOutcome) => void;
  reject: (error: Error) => void;
}

/** One decode thread and the pages it has been given. */
class DecodeThread {
  readonly pending = new Map<number, Pending>();
  readonly #worker: Worker;

  constructor(file: string, onExit: (thread: DecodeThread) => void) {
    // Compiled, the thread is a plain `.js` file; from sources (tests run under tsx) it needs tsx's
    // loader, which threads do not inherit.
    this.#worker = file.endsWith('.ts')
      ? new Worker("require('tsx/cjs'); require(require('node:worker_threads').workerData.file);", { eval: true, workerData: { file } })
      : new Worker(file);
    // A thread must not keep a stopping worker process alive; pages still pending keep it referenced.
    this.#worker.unref();
    this.#worker.on('message', ({ id, outcome }: ThreadAnswer) => this.#settle(id)?.resolve(outcome));
    const fail = (error: Error) => {
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
      onExit(this);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`a page decode thread exited (code ${code})`)));
  }

  /** The request `id`, no longer pending. */
  #settle(id: number): Pending | undefined {
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.#worker.unref();
    return waiting;
  }

  request(id: number, spec: PageRequestSpec, signal?: AbortSignal): Promise<PageOutcome> {
    if (signal?.aborted) return Promise.resolve({ kind: 'aborted' });
    return new Promise((resolve, reject) => {
      // An abort answers at once; the thread is told to drop the request, and its late answer is ignored.
      const onAbort = () => {
        if (this.#settle(id) === undefined) return;
        this.#post({ id, cancel: true });
        resolve({ kind: 'aborted' });
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (outcome) => {
          done();
          resolve(outcome);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#worker.ref();
      this.#post({ id, spec });
    });
  }

  #post(message: ThreadMessage): void {
    this.#worker.postMessage(message);
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}

/**
 * A decoder with `threads` decode threads (0: {@link inlineDecoder}). Each page goes to the thread
 * with the fewest pages in progress; a thread that dies fails its pending pages (the batch retries
 * them) and is replaced on the next page.
 */
export function createPageDecoder(threads: number): PageDecoder {
  if (threads <= 0) return inlineDecoder;
  // `.ts` under tsx (tests), `.js` once compiled: the thread's file sits beside this one.
  const file = path.join(__dirname, `page-decoder-thread${path.extname(__filename)}`);
  const pool: Array<DecodeThread | undefined> = new Array<DecodeThread | undefined>(threads).fill(undefined);
  let nextId = 0;
  let closed = false;
  const thread = (slot: number): DecodeThread => {
    let existing = pool[slot];
    if (existing === undefined) {
      existing = new DecodeThread(file, (dead) => {
        if (pool[slot] === dead) pool[slot] = undefined;
      });
      pool[slot] = existing;
    }
    return existing;
  };
  return {
    request(spec, signal) {
      if (closed) return Promise.reject(new Error('the page decoder is closed'));
      let slot = 0;
      for (let i = 1; i < pool.length; i++) if ((pool[i]?.pending.size ?? 0) < (pool[slot]?.pending.size ?? 0)) slot = i;
      return thread(slot).request(nextId++, spec, signal);
    },
    async close() {
      closed = true;
      await Promise.all(pool.map((t) => t?.terminate()));
    },
  };
}
