/**
 * How far the worker's JavaScript heap may grow between full collections, shared by the imports it
 * runs. Under the worker's heap cap (`WORKER_NODE_FLAGS`) V8 lets the heap grow only about 30 %
 * past what survived the last full collection, and every page of contacts is garbage a few
 * milliseconds later: one import then pays a full collection every few pages, of a heap that is
 * mostly the worker's own code and modules. With more headroom the same pages cost a fraction of
 * the collections, for some more memory (bench/README.md has both).
 *
 * Memory is what many imports at once are short of, so the headroom is shared: `percent` for one
 * running batch, half each for two, and V8's own growing factor again once a share would fall
 * under {@link MIN_SHARE_PERCENT}. The share is set with V8's `--heap-growing-percent`, which V8
 * reads whenever it sizes the heap after a collection; the cap stays whatever the share.
 */
import v8 from 'node:v8';
import { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** Below this share V8's own factor (which adapts to the collector's speed) is as good. */
export const MIN_SHARE_PERCENT = 30;

/** The activity whose pages the headroom is for. */
const BATCH_ACTIVITY = 'importBatch';

/**
 * `--heap-growing-percent` for `running` batches sharing `percent`: `percent / running` while that
 * is at least {@link MIN_SHARE_PERCENT}, else 0 (V8's own factor). 0 with nothing running, so an
 * idle worker's heap shrinks back as V8 sees fit.
 */
export function heapGrowingPercent(running: number, percent: number): number {
  if (running <= 0 || percent <= 0) return 0;
  const share = Math.floor(percent / running);
  return share >= MIN_SHARE_PERCENT ? share : 0;
}

/** Counts running batches and keeps V8's heap growth at their share. */
export interface HeapHeadroom {
  batchStarted(): void;
  batchEnded(): void;
  /** The `--heap-growing-percent` set now (0: V8's own). */
  current(): number;
}

/**
 * A {@link HeapHeadroom} of `percent` (0 turns it off). One per process: the V8 flag it sets is the
 * process's. `setFlags` is `v8.setFlagsFromString` unless a test watches it.
 */
export function createHeapHeadroom(percent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): HeapHeadroom {
  let running = 0;
  let current = 0;
  const apply = () => {
    const next = heapGrowingPercent(running, percent);
    if (next === current) return;
    current = next;
    setFlags(`--heap-growing-percent=${next}`);
  };
  return {
    batchStarted() {
      running += 1;
      apply();
    },
    batchEnded() {
      running = Math.max(0, running - 1);
      apply();
    },
    current: () => current,
  };
}

/** For `WorkerOptions.interceptors.activity`: every import batch counts while it runs, however it ends. */
export function heapHeadroomInterceptor(headroom: HeapHeadroom): ActivityInterceptorsFactory {
  return () => ({
    inbound: {
      async execute(input, next) {
        if (Context.current().info.activityType !== BATCH_ACTIVITY) return next(input);
        headroom.batchStarted();
        try {
          return await next(input);
        } finally {
          headroom.batchEnded();
        }
      },
    },
  });
}
