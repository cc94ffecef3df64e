/**
 * The young generation of the JavaScript threads a worker starts. V8's flags are the process's, so
 * the worker's `--max-semi-space-size` (`WORKER_NODE_FLAGS`), sized for the main thread's pages,
 * would size every thread's too: the SDK's workflow thread, whose workflow tasks are small, then
 * grows its semi-spaces to the same size when many imports run at once, and keeps them.
 *
 * V8 reads the flag when it creates an isolate, so setting it once the main thread runs sizes only
 * the threads started after (the main isolate keeps its own); a thread's isolate is created inside
 * that thread, so the flag is set once, at start, and not put back.
 */
import v8 from 'node:v8';

/**
 * Gives threads started from now on `semiSpaceMb` MB semi-spaces; 0 leaves the process's own.
 * Call it before the worker starts its workflow thread. `setFlags` is `v8.setFlagsFromString`
 * unless a test watches it.
 */
export function limitThreadSemiSpace(semiSpaceMb: number, setFlags: (flags: string) => void = v8.setFlagsFromString): void {
  if (semiSpaceMb > 0) setFlags(`--max-semi-space-size=${semiSpaceMb}`);
}
