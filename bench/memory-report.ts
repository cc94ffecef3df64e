/**
 * `npx tsx bench/memory-report.ts DIR`: what `bench/memory-probe.js` recorded in DIR, one block per
 * worker process: at the main thread's RSS peak, the RSS split into the main isolate's heap, each
 * other thread's isolate (its own peak), and the rest (native: the Temporal core, SQLite, buffers,
 * glibc's arenas, code), with the largest resident mappings. Figures in MB.
 */
import fs from 'node:fs';
import path from 'node:path';

type Figures = Record<string, number>;
interface ThreadRecord {
  pid: number;
  threadId: number;
  main: boolean;
  samples: number;
  first: unknown;
  peakIsolate: Figures;
  atRssPeak: null | {
    at: number;
    isolate: Figures;
    process: Figures;
    status: Figures;
    smapsRollup: Figures;
    mappings: Figures;
  };
  heapSnapshot?: string;
}

const mb = (bytes: number | undefined): number => Math.round(((bytes ?? 0) / 1024 / 1024) * 10) / 10;

function report(dir: string): void {
  const records = fs
    .readdirSync(dir)
    .filter((name) => /^mem-\d+-\d+\.json$/.test(name))
    .map((name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as ThreadRecord);
  for (const main of records.filter((r) => r.main && r.atRssPeak)) {
    const peak = main.atRssPeak!;
    const others = records.filter((r) => r.pid === main.pid && !r.main);
    const otherHeaps = others.reduce((sum, r) => sum + (r.peakIsolate.physicalHeap ?? 0), 0);
    const native = (peak.status.RssAnon ?? 0) - (peak.isolate.physicalHeap ?? 0) - otherHeaps;
    const rows: Array<[string, number | string]> = [
      ['RSS at peak', mb(peak.process.rss)],
      ['  anonymous (RssAnon)', mb(peak.status.RssAnon)],
      ['  file-backed: code (RssFile)', mb(peak.status.RssFile)],
      ['main isolate: committed (physical)', mb(peak.isolate.physicalHeap)],
      ['  used', mb(peak.isolate.usedHeap)],
      ['  new space (semi-spaces)', mb(peak.isolate['space:new_space'])],
      ['  old space', mb(peak.isolate['space:old_space'])],
      ['  large objects', mb(peak.isolate['space:large_object_space'])],
      ['  code', mb(peak.isolate['space:code_space'])],
      ['  external (Buffers, ArrayBuffers)', `${mb(peak.process.external)} (${mb(peak.process.arrayBuffers)} ArrayBuffers)`],
      ...others.map((r): [string, string] => [
        `thread ${r.threadId} isolate: committed, peak`,
        `${mb(r.peakIsolate.physicalHeap)} (used ${mb(r.peakIsolate.usedHeap)}, new space ${mb(r.peakIsolate['space:new_space'])})`,
      ]),
      ['native: anonymous − every isolate', mb(native)],
      ['threads', peak.status.Threads ?? 0],
    ];
    console.log(`worker ${main.pid} (${main.samples} samples${main.heapSnapshot ? `, heap snapshot ${main.heapSnapshot}` : ''})`);
    console.log('| part | MB |\n|---|--:|');
    for (const [label, value] of rows) console.log(`| ${label} | ${value} |`);
    const mappings = Object.entries(peak.mappings)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, bytes]) => `${name} ${mb(bytes)}`);
    console.log(`largest resident mappings: ${mappings.join(', ')}\n`);
  }
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: npx tsx bench/memory-report.ts DIR (the BENCH_WORKER_MEMORY_DIR of a bench run)');
  process.exit(2);
}
report(dir);
