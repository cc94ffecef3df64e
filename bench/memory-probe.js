/**
 * Where a worker's memory goes, for the benchmark: preloaded with `--require` into the worker (the
 * bench adds it when `BENCH_WORKER_MEMORY_DIR` is set, `bench/service.ts`), so it runs in the main
 * thread and in every worker thread (the SDK's workflow thread among them).
 *
 * Every 200 ms each thread reads its own isolate (`v8.getHeapStatistics()`, the size of each heap
 * space) and keeps the largest of each figure; the main thread also reads `process.memoryUsage()`
 * and `/proc/self/status`, and at each new peak of its RSS keeps the whole reading with
 * `/proc/self/smaps_rollup`. Each thread writes `mem-<pid>-<thread>.json` into the directory every
 * second; `bench/memory-report.ts` sums them up.
 *
 * With `BENCH_WORKER_HEAP_SNAPSHOT_MB` the main thread writes one heap snapshot (`v8.writeHeapSnapshot`)
 * the first time its RSS reaches that many MB. Writing one stops the thread for seconds and needs
 * about the heap's size again, so a run that takes one measures nothing else.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const { isMainThread, threadId } = require('node:worker_threads');

const dir = process.env.BENCH_WORKER_MEMORY_DIR;
if (dir) startProbe(dir);

function startProbe(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `mem-${process.pid}-${threadId}.json`);
  const snapshotAtBytes = Number(process.env.BENCH_WORKER_HEAP_SNAPSHOT_MB ?? 0) * 1024 * 1024;
  let snapshotWritten = false;
  const state = { pid: process.pid, threadId, main: isMainThread, samples: 0, first: null, last: null, peakIsolate: {}, atRssPeak: null };

  const sample = () => {
    const isolate = isolateReading();
    state.samples += 1;
    for (const [key, value] of Object.entries(isolate)) state.peakIsolate[key] = Math.max(state.peakIsolate[key] ?? 0, value);
    if (!isMainThread) {
      state.first ??= isolate;
      state.last = isolate;
      return;
    }
    const reading = { at: Date.now(), isolate, process: process.memoryUsage(), status: procStatus() };
    state.first ??= reading;
    state.last = reading;
    if (!state.atRssPeak || reading.process.rss > state.atRssPeak.process.rss) {
      state.atRssPeak = { ...reading, smapsRollup: smapsRollup(), mappings: mappingsByFile() };
    }
    if (snapshotAtBytes > 0 && !snapshotWritten && reading.process.rss >= snapshotAtBytes) {
      snapshotWritten = true;
      state.heapSnapshot = v8.writeHeapSnapshot(path.join(dir, `heap-${process.pid}.heapsnapshot`));
    }
  };
  const write = () => fs.writeFileSync(file, JSON.stringify(state));

  sample();
  write();
  setInterval(sample, 200).unref();
  setInterval(write, 1000).unref();
  process.on('exit', write);
}

/** The isolate's committed and used sizes, in bytes, with each heap space's committed size. */
function isolateReading() {
  const heap = v8.getHeapStatistics();
  const reading = {
    totalHeap: heap.total_heap_size,
    physicalHeap: heap.total_physical_size,
    usedHeap: heap.used_heap_size,
    mallocedMemory: heap.malloced_memory,
    externalMemory: heap.external_memory,
  };
  for (const space of v8.getHeapSpaceStatistics()) reading[`space:${space.space_name}`] = space.physical_space_size;
  return reading;
}

/** The kB figures of `/proc/self/status` that split the RSS (anonymous, file-backed, shared), in bytes, and the thread count. */
function procStatus() {
  const wanted = ['VmRSS', 'RssAnon', 'RssFile', 'RssShmem', 'VmHWM', 'Threads'];
  const out = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const [key, rest] = line.split(':');
    if (!wanted.includes(key)) continue;
    const value = Number.parseInt(rest, 10);
    out[key] = key === 'Threads' ? value : value * 1024;
  }
  return out;
}

/** `/proc/self/smaps_rollup`'s kB figures, in bytes. */
function smapsRollup() {
  const out = {};
  for (const line of fs.readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n').slice(1)) {
    const match = /^(\w+):\s+(\d+) kB/.exec(line);
    if (match) out[match[1]] = Number(match[2]) * 1024;
  }
  return out;
}

/**
 * Resident bytes per mapped file (the node binary, each native addon: the Temporal core's, better-sqlite3's),
 * `[heap]` (glibc's main arena), `[stack]`, and `anonymous` (V8's heaps, the other malloc arenas,
 * thread stacks), from `/proc/self/smaps`.
 */
function mappingsByFile() {
  const out = {};
  let name = 'anonymous';
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      name = header[1] ? path.basename(header[1]) : 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[name] = (out[name] ?? 0) + Number(rss[1]) * 1024;
  }
  return out;
}
