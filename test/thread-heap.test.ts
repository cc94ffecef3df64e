/**
 * The young generation of the worker's threads (`worker/thread-heap.ts`): set once the main thread
 * runs, it sizes the threads started after (the SDK's workflow thread) and leaves the main
 * thread's own. Measured in a node process of its own started with the worker's flags, so the
 * test runner's heap is not the one changed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { WORKER_NODE_FLAGS } from '../config/defaults';
import { limitThreadSemiSpace } from '../worker/thread-heap';

const ROOT = path.resolve(__dirname, '..');

// Allocates short-lived objects, as a busy thread does, and reports the largest its new space grew (MB).
const CHURN = `
const v8 = require('node:v8');
function churn() {
  let max = 0;
  let live = [];
  for (let i = 0; i < 2e6; i++) {
    live.push({ i, text: 'contact ' + i });
    if (live.length > 20000) live = [];
    if (i % 10000 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').physical_space_size);
  }
  return max / 1048576;
}`;

/** The new space's peak in a worker thread and in the main thread, in a process run with the worker's flags. */
function newSpacePeaks(threadSemiSpaceMb: number): { thread: number; main: number } {
  const script = `${CHURN}
const { Worker } = require('node:worker_threads');
const { limitThreadSemiSpace } = require(${JSON.stringify(path.join(ROOT, 'worker', 'thread-heap.ts'))});
limitThreadSemiSpace(${threadSemiSpaceMb});
const thread = new Worker(CHURN_SOURCE + ';require("node:worker_threads").parentPort.postMessage(churn())', { eval: true });
thread.once('message', (threadPeak) => { console.log(JSON.stringify({ thread: threadPeak, main: churn() })); thread.terminate(); });`.replace(
    'CHURN_SOURCE',
    JSON.stringify(CHURN),
  );
  const out = execFileSync(process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { thread: number; main: number };
}

describe("worker threads' young generation", () => {
  it('sets the V8 flag to the size given, and leaves it alone at 0', () => {
    const set: string[] = [];
    limitThreadSemiSpace(8, (flags) => set.push(flags));
    limitThreadSemiSpace(0, (flags) => set.push(flags));
    assert.deepEqual(set, ['--max-semi-space-size=8']);
  });

  it("keeps a thread started after it within the size given, while the main thread keeps the process's", () => {
    const process32 = Number(/--max-semi-space-size=(\d+)/.exec(WORKER_NODE_FLAGS.join(' '))![1]);
    const limited = newSpacePeaks(4);
    // Two semi-spaces make the new space.
    assert.ok(limited.thread <= 2 * 4, `a thread started after the limit grew its new space to ${limited.thread} MB, over 2 × 4`);
    assert.ok(limited.main > 2 * 4, `the main thread's new space stayed at ${limited.main} MB: the limit reached it too`);
    assert.ok(limited.main <= 2 * process32, `the main thread's new space grew to ${limited.main} MB, past the process's semi-spaces`);
    const unlimited = newSpacePeaks(0);
    assert.ok(unlimited.thread > 2 * 4, `without the limit the same thread's new space stayed at ${unlimited.thread} MB, so the check above proves nothing`);
  });
});
