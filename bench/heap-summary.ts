/**
 * `npx tsx bench/heap-summary.ts FILE.heapsnapshot [N]`: the N (25) largest groups of a V8 heap
 * snapshot by their objects' own size, a group being the node type and its constructor or string
 * kind, with the count of objects; for the snapshot `bench/memory-probe.js` takes at a worker's peak.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function summarise(file: string, top: number): void {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const size = snap.nodes[i + sizeAt]!;
    // A string's name is its text: group strings by kind, not by content.
    const name = ['string', 'concatenated string', 'sliced string', 'number'].includes(type) ? '' : snap.strings[snap.nodes[i + nameAt]!]!.slice(0, 60);
    const key = `${type} ${name}`.trim();
    const group = groups.get(key) ?? { bytes: 0, count: 0 };
    group.bytes += size;
    group.count += 1;
    groups.set(key, group);
    total += size;
  }
  console.log(`${file}: ${(total / 1048576).toFixed(1)} MB in ${snap.nodes.length / width} objects`);
  console.log('| group | MB | objects |\n|---|--:|--:|');
  for (const [key, { bytes, count }] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) {
    console.log(`| ${key.replace(/\|/g, '\\|')} | ${(bytes / 1048576).toFixed(1)} | ${count} |`);
  }
}

const [file, top] = process.argv.slice(2);
if (!file) {
  console.error('usage: npx tsx bench/heap-summary.ts FILE.heapsnapshot [N]');
  process.exit(2);
}
summarise(file, Number(top ?? 25));
