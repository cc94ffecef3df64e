import { personJson } from '../demo-provider/people';
const FIELDS = new Set(['names', 'emailAddresses', 'phoneNumbers', 'organizations', 'metadata']);
const pages: string[] = [];
for (let p = 0; p < 20; p++) pages.push(`{"connections":[${Array.from({ length: 1000 }, (_, i) => personJson(p * 1000 + i, FIELDS)).join(',')}],"nextPageToken":"x${p}","totalPeople":100000}`);
// A live heap like the worker's: many small objects.
const live: unknown[] = [];
for (let i = 0; i < 300_000; i++) live.push({ a: i, b: 'x' + i, c: [i] });
/** Splits the elements of the top-level "connections" array: a scanner over strings and nesting. */
function splitPeople(body: string): { people: string[]; rest: string } {
  const start = body.indexOf('"connections"');
  const open = body.indexOf('[', start);
  const people: string[] = [];
  let depth = 0, from = -1, i = open + 1;
  for (; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 34) { // "
      i++;
      for (; i < body.length; i++) { const d = body.charCodeAt(i); if (d === 92) i++; else if (d === 34) break; }
    } else if (c === 123 || c === 91) { if (depth++ === 0) from = i; }
    else if (c === 125 || c === 93) { if (depth === 0) break; if (--depth === 0) people.push(body.slice(from, i + 1)); }
  }
  return { people, rest: body.slice(0, open) + '[]' + body.slice(i + 1) };
}
function run(mode: string, rounds: number) {
  const cpu = process.cpuUsage(); const t = performance.now(); let n = 0;
  for (let r = 0; r < rounds; r++) for (const body of pages) {
    let persons: unknown[];
    if (mode === 'whole') persons = (JSON.parse(body) as { connections: unknown[] }).connections;
    else { const { people, rest } = splitPeople(body); JSON.parse(rest); persons = people.map((p) => JSON.parse(p)); }
    n += persons.length;
    // a little work holding the page, like the save
    let s = 0; for (const p of persons) s += JSON.stringify(p).length; n += s > 0 ? 0 : 1;
  }
  const u = process.cpuUsage(cpu);
  return { mode, cpu: ((u.user + u.system) / 1e6).toFixed(2), wall: ((performance.now() - t) / 1000).toFixed(2), n };
}
const mode = process.argv[2] ?? 'whole';
run(mode, 1);
console.log(JSON.stringify(run(mode, 5)), live.length);
