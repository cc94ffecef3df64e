/**
 * What a benchmark run found ({@link Results}): checked against the benchmark's {@link targets}, printed as
 * Markdown tables, and written to `bench/results/<out>.json`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { pagesRefetchedPerKill } from '../config/defaults';
import { CPU_STAGE_LABELS } from '../observability/cpu-stages';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import { STAGE_CPU_COLUMNS, type StageCpu } from './cpu-split';
import type { SourceRow } from './measure-files';
import type { GraphRow } from './measure-graph';
import type { EventsFigures } from './measure-events';
import type { FairnessRow } from './measure-fairness';
import type { GovernorRow } from './measure-governor';
import type { GovernorAlternativeRow } from './measure-governor-alternatives';
import type { ConcurrencyFigures } from './measure-concurrency';
import type { HistoryFigures } from './measure-history';
import type { KillFigures } from './measure-kills';
import type { RecoveryFigures } from './measure-recovery';
import type { StartFigures } from './measure-start';
import { STATUS_CONCURRENCY, type StatusFigures } from './measure-status';
import type { ThroughputRow } from './measure-throughput';
import type { BenchOptions } from './options';
import { fmt, round } from './support';

export interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

/** The results JSON, as written. */
export interface Results {
  date: string;
  machine: Record<string, string | number>;
  settings: Record<string, unknown>;
  throughput: ThroughputRow[];
  status?: StatusFigures;
  /** 100 event streams on one import: Temporal reads per second. */
  events?: EventsFigures;
  start?: StartFigures;
  recovery?: RecoveryFigures;
  /** The files phase: vCard-file and CardDAV imports against their plain loops, per store. */
  sourceThroughput?: SourceRow[];
  /** The graph phase: Microsoft Graph imports against their plain loop, per store. */
  graph?: GraphRow[];
  /** Many imports on one worker, and a small one beside large ones. */
  concurrency?: ConcurrencyFigures[];
  /** The kill test's full form. */
  kills?: KillFigures;
  /** Temporal's fairness on dev servers and the cluster: a quiet tenant's batch beside a busy tenant's backlog. */
  fairness?: FairnessRow[];
  /** The rate governor against the provider's app-wide quota: configured, learning, off. */
  governor?: GovernorRow[];
  /** Where the governor's state lives: the store, an entity workflow, Temporal's task-queue rate limit. */
  governorAlternatives?: GovernorAlternativeRow[];
  /** Worker RSS during each service import, MB at 1 s intervals, by `<store>-<contacts>`. */
  rssSeries?: Record<string, Array<[number, number]>>;
  targets?: Target[];
  errors: string[];
}

/** Empty results for a run starting now on this machine; the phases fill them in. */
export function newResults(): Results {
  return { date: new Date().toISOString(), machine: machine(), settings: {}, throughput: [], rssSeries: {}, errors: [] };
}

function machine(): Record<string, string | number> {
  let temporalCli = 'unknown';
  try {
    temporalCli = execFileSync(resolveTemporalCli(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Reported as unknown.
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    temporalCli,
  };
}

const SOURCE_LABEL: Record<SourceRow['source'], string> = { vcard: 'vCard file', carddav: 'CardDAV' };

/**
 * Each target the results speak to (the service against the plain loop, status latency, event
 * streams, …), with what was measured and whether it was met.
 */
export function targets(results: Results): Target[] {
  const out: Target[] = [];
  for (const row of results.throughput) {
    if (row.ratio !== undefined) {
      out.push({ target: `service/plain loop ≥ 1.0 (${row.store}, ${fmt(row.contacts)})`, measured: row.ratio.toFixed(2), met: row.ratio >= 1 });
    }
    if (row.cpuRatio !== undefined) {
      const per100k = (cpu: number) => round((cpu * 100_000) / row.contacts, 2);
      const measured = `${row.cpuRatio.toFixed(2)}× (${per100k(row.service?.cpuSeconds.worker ?? 0)} vs ${per100k(row.plainLoop?.cpuSeconds.loop ?? 0)} CPU s per 100k)`;
      out.push({ target: `worker CPU ≤ 1.1× plain loop CPU (${row.store}, ${fmt(row.contacts)})`, measured, met: row.cpuRatio <= 1.1 });
    }
  }
  for (const row of results.graph ?? []) {
    if (row.ratio !== undefined) {
      out.push({ target: `service/plain loop ≥ 1.0 (Microsoft Graph, ${row.store}, ${fmt(row.contacts)})`, measured: row.ratio.toFixed(2), met: row.ratio >= 1 });
    }
  }
  for (const row of results.sourceThroughput ?? []) {
    const what = `service/plain loop ≥ 1.0 (${SOURCE_LABEL[row.source]}, ${row.store}, ${fmt(row.records)})`;
    if (row.ratio !== undefined) out.push({ target: what, measured: row.ratio.toFixed(2), met: row.ratio >= 1 });
    else if (row.skipped) out.push({ target: what, measured: `not measured: ${row.skipped}`, met: null });
  }
  const status = results.status;
  if (status) {
    for (const [route, ratio] of Object.entries(status.p99Ratios)) {
      if (route === '/healthz') continue;
      out.push({ target: `status p99 ≤ 3× constant route p99 (vs ${route})`, measured: `${ratio}×`, met: ratio <= 3 });
    }
  }
  if (results.events) {
    const e = results.events;
    out.push({
      target: `${e.streams} event streams on one import ≤ 1 status read/s (one watcher)`,
      measured: `${e.statusQueriesPerSecond} queries/s, ${e.describesPerSecond} describes/s, ${e.watchers} watcher`,
      met: e.watchers === 1 && e.statusQueriesPerSecond <= 1.2,
    });
  }
  const withHistory = results.throughput.filter((r) => r.history);
  for (const row of withHistory) {
    const h = row.history as HistoryFigures;
    out.push({ target: `≤ 20 events / 10k contacts (${row.store}, ${fmt(row.contacts)})`, measured: String(h.eventsPer10k), met: h.eventsPer10k <= 20 });
    out.push({ target: `≤ 4 KB history / 10k contacts (${row.store}, ${fmt(row.contacts)})`, measured: `${(h.bytesPer10k / 1024).toFixed(2)} KB`, met: h.bytesPer10k <= 4096 });
    out.push({ target: `no run > 4 MB (${row.store}, ${fmt(row.contacts)})`, measured: `${(h.largestRunBytes / 1024).toFixed(0)} KB`, met: h.largestRunBytes <= 4 * 1024 * 1024 });
    out.push({ target: `no contact data in history (${row.store}, ${fmt(row.contacts)})`, measured: h.contactDataFound.length ? `found: ${h.contactDataFound.join(', ')}` : 'none found', met: h.contactDataFound.length === 0 });
  }
  const rssRows = results.throughput.filter((r) => r.service);
  if (rssRows.length > 0) {
    const peak = Math.max(...rssRows.map((r) => r.service?.workerPeakRssMB ?? 0));
    const shape = rssRows.map((r) => `${fmt(r.contacts)} (${r.store}): ${r.service?.workerPeakRssMB} MB`).join('; ');
    out.push({ target: 'worker RSS ≤ 300 MB, flat in N', measured: shape, met: peak <= 300 });
  }
  for (const c of results.concurrency ?? []) {
    out.push({ target: `worker peak RSS ≤ 300 MB, ${c.imports} × ${fmt(c.contactsEach)} at once (${c.store})`, measured: `${c.workerPeakRssMB} MB`, met: c.workerPeakRssMB <= 300 });
    if (c.small) {
      out.push({ target: `${fmt(c.small.contacts)}-contact import beside ${c.small.largeImports} large ones ≤ 3× alone (${c.store})`, measured: `${c.small.ratio}× (${c.small.underLoadSeconds} s vs ${c.small.aloneSeconds} s)`, met: c.small.ratio <= 3 });
    }
  }
  for (const g of results.governor ?? []) {
    const setup = `${g.workers} workers, ${g.imports} × ${fmt(g.contactsEach)} at ${g.pageSize}/page, quota ${g.quotaPerSecond}/s`;
    out.push({ target: `every import exact, governor ${g.configuration} (${setup})`, measured: g.exact ? `${g.imports} of ${g.imports}` : g.inexact.join('; '), met: g.exact });
    const refused = `${g.refusedPercent} % (${g.refused} of ${g.requests})`;
    if (g.configuration === 'configured') {
      out.push({ target: 'governor configured at the quota: ≤ 1 % of requests get a 429', measured: refused, met: g.refusedPercent <= 1 });
      out.push({ target: "governor configured at the quota: ≤ 1.2× the quota's ideal time", measured: `${g.ratio}× (${g.seconds} s vs ${g.idealSeconds} s)`, met: g.ratio <= 1.2 });
    }
    if (g.configuration === 'learning') {
      out.push({ target: 'governor learning: ≤ 10 % of requests get a 429', measured: refused, met: g.refusedPercent <= 10 });
      out.push({ target: 'governor learning: ≥ 70 % of the quota used', measured: `${g.quotaUsedPercent} % (${g.seconds} s)`, met: g.quotaUsedPercent >= 70 });
    }
  }
  if (results.kills) {
    const k = results.kills;
    out.push({ target: `${k.kills} SIGKILLs in ${fmt(k.contacts)}: exactly N rows, no page written twice, ≤ ${pagesRefetchedPerKill(k.fetchAhead)} page(s) re-fetched per kill, fetch-ahead ${k.fetchAhead} (test/kill-recovery.test.ts)`, measured: k.lines.join(' / ') || 'no summary', met: k.passed });
  }
  if (results.recovery) {
    const r = results.recovery;
    out.push({ target: 'at most one page fetched twice after SIGKILL', measured: String(r.pagesFetchedTwice), met: r.pagesFetchedTwice <= 1 });
  }
  return out;
}

/**
 * The cells a plain loop and a service import of the same contacts share in a table: contacts/s of
 * each and their ratio; CPU seconds of each, the provider's in brackets; the worker's peak RSS.
 */
function loopVersusService(r: GraphRow): { speed: string; cpu: string; rss: string } {
  const p = r.plainLoop;
  const c = r.service?.cpuSeconds;
  return {
    speed: `${fmt(p?.contactsPerSecond)} | ${fmt(r.service?.contactsPerSecond)} | ${r.ratio?.toFixed(2) ?? '–'}`,
    cpu: `${p ? `${p.cpuSeconds.loop} (+ ${p.cpuSeconds.provider})` : '–'} | ${c ? `${c.worker} + ${c.temporal} + ${c.api} (+ ${c.provider})` : '–'}`,
    rss: r.service ? `${r.service.workerPeakRssMB} MB` : '–',
  };
}

/** The tables and lines the benchmark prints at the end (and bench/README.md quotes). */
export function markdown(results: Results, options: BenchOptions): string {
  const lines: string[] = [];
  lines.push(`Machine: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, ${results.machine.os}, Node ${results.machine.node}, ${results.date}`);
  lines.push('');
  if (results.throughput.length > 0) {
    lines.push(`Medians of ${options.rounds} interleaved round(s) per row, each the plain loop then the service; the same-code loop once.`);
    lines.push('');
    lines.push('| Store | Contacts | Plain loop c/s | Service c/s | Ratio | Worker CPU ÷ loop CPU | Orchestration cost: same-code loop c/s (service ÷ it) | CPU s plain loop (+ provider) | CPU s worker + Temporal + API (+ provider) | Worker peak RSS |');
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of results.throughput) {
      const { speed, cpu, rss } = loopVersusService(r);
      lines.push(
        `| ${r.store} | ${fmt(r.contacts)} | ${speed} | ${r.cpuRatio === undefined ? '–' : `${r.cpuRatio.toFixed(2)}×`} | ${fmt(r.baseline?.contactsPerSecond)} (${r.orchestrationRatio?.toFixed(2) ?? '–'}) | ${cpu} | ${rss} |`,
      );
    }
    lines.push('');
    lines.push(...stageTable(results.throughput));
    if (results.throughput.some((r) => r.history)) {
      lines.push('| Store | Contacts | Events/10k | Bytes/10k | Runs | Largest run |');
      lines.push('|---|--:|--:|--:|--:|--:|');
      for (const r of results.throughput) {
        const h = r.history;
        if (h) lines.push(`| ${r.store} | ${fmt(r.contacts)} | ${h.eventsPer10k} | ${fmt(h.bytesPer10k)} | ${h.runs} | ${h.largestRunEvents} ev, ${fmt(h.largestRunBytes / 1024)} KB |`);
      }
      lines.push('');
    }
  }
  if (results.sourceThroughput && results.sourceThroughput.length > 0) {
    lines.push('| Source | Store | Cards | Plain loop c/s | Service c/s | Ratio | Upload | Worker peak RSS | CPU s loop (loop + Radicale) | CPU s service (worker + API + Temporal + Radicale) |');
    lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of results.sourceThroughput) {
      if (r.skipped) {
        lines.push(`| ${SOURCE_LABEL[r.source]} | ${r.store} | ${fmt(r.records)} | – | – | – | – | – | skipped: ${r.skipped} | |`);
        continue;
      }
      const up = r.service?.upload;
      const lc = r.loop?.cpuSeconds;
      const sc = r.service?.cpuSeconds;
      const loopCpu = lc ? `${lc.loop ?? 0}${lc.radicale === undefined ? '' : ` + ${lc.radicale}`}` : '–';
      const serviceCpu = sc ? `${sc.worker} + ${sc.api} + ${sc.temporal}${sc.radicale === undefined ? '' : ` + ${sc.radicale}`}` : '–';
      lines.push(
        `| ${SOURCE_LABEL[r.source]} | ${r.store} | ${fmt(r.records)} | ${fmt(r.loop?.contactsPerSecond)} | ${fmt(r.service?.contactsPerSecond)} | ${r.ratio?.toFixed(2) ?? '–'} | ${up ? `${up.seconds} s (${(up.bytes / 1024 / 1024).toFixed(1)} MB)` : '–'} | ${r.service ? `${r.service.workerPeakRssMB} MB` : '–'} | ${loopCpu} | ${serviceCpu} |`,
      );
    }
    lines.push('');
  }
  if (results.graph && results.graph.length > 0) {
    lines.push('| Microsoft Graph: store | Contacts | Plain loop c/s | Service c/s | Ratio | CPU s plain loop (+ provider) | CPU s worker + Temporal + API (+ provider) | Worker CPU ÷ loop CPU | Worker peak RSS |');
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of results.graph) {
      const { speed, cpu, rss } = loopVersusService(r);
      lines.push(`| ${r.store} | ${fmt(r.contacts)} | ${speed} | ${cpu} | ${r.cpuRatio?.toFixed(2) ?? '–'} | ${rss} |`);
    }
    lines.push('');
  }
  if (results.status) {
    const c = STATUS_CONCURRENCY;
    lines.push(`| Route (autocannon -c ${c} -d ${options.durationSeconds}, import running, ${results.status.store}) | req/s | p50 ms | p99 ms | non-2xx | API CPU µs/answer |`);
    lines.push('|---|--:|--:|--:|--:|--:|');
    for (const r of results.status.routes) {
      lines.push(`| \`${r.route}\` ${r.label} | ${fmt(r.requestsPerSecond)} | ${r.p50ms} | ${r.p99ms} | ${fmt(r.non2xx)} | ${fmt(r.apiCpuUsPerAnswer)} |`);
    }
    const { query, describe } = results.status.direct;
    lines.push(`| (no API) status query via the client, ${c} callers | ${fmt(query.callsPerSecond)} | ${query.p50ms} | ${query.p99ms} | ${query.failures} failed | |`);
    lines.push(`| (no API) describe via the client, ${c} callers | ${fmt(describe.callsPerSecond)} | ${describe.p50ms} | ${describe.p99ms} | ${describe.failures} failed | |`);
    lines.push('');
  }
  if (results.start) {
    const s = results.start;
    lines.push(`Start latency: ${s.starts} × POST /v1/imports (${s.concurrency} at a time): p50 ${s.p50ms} ms, p99 ${s.p99ms} ms, max ${s.maxMs} ms, ${s.startsPerSecond} starts/s, ${s.created} created.`);
    lines.push('');
  }
  if (results.recovery) {
    const r = results.recovery;
    lines.push(
      `Recovery (${fmt(r.contacts)} contacts, SIGKILL at ${fmt(r.killedAtSaved)} rows): ${r.pagesFetchedTwice} pages (${fmt(r.contactsFetchedTwice)} contacts) fetched twice; heartbeat was ${r.heartbeatLagPages ?? '?'} pages behind; new worker ready ${r.workerReadySeconds} s, first page ${r.firstFetchSeconds} s, first new row ${r.resumedSeconds} s after restart (${r.killToResumedSeconds} s after the kill); completed: ${r.completed}, rows ${fmt(r.finalRows)}.`,
    );
    lines.push('');
  }
  if (results.concurrency && results.concurrency.length > 0) {
    lines.push('| Store | Imports at once | Contacts each | Total c/s | Seconds | Worker peak RSS | CPU s worker + Temporal + API (+ provider) | 1,000 alone | 1,000 beside large ones | Ratio |');
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const c of results.concurrency) {
      const cpu = c.cpuSeconds;
      const sm = c.small;
      lines.push(
        `| ${c.store} | ${c.imports} | ${fmt(c.contactsEach)} | ${fmt(c.contactsPerSecond)} | ${c.seconds} | ${c.workerPeakRssMB} MB | ${cpu.worker} + ${cpu.temporal} + ${cpu.api} (+ ${cpu.provider}) | ${sm ? `${sm.aloneSeconds} s` : '–'} | ${sm ? `${sm.underLoadSeconds} s (${sm.largeImports} large)` : '–'} | ${sm ? `${sm.ratio}×` : '–'} |`,
      );
    }
    lines.push('');
  }
  if (results.fairness && results.fairness.length > 0) {
    const first = results.fairness[0]!;
    lines.push(`Fairness: a quiet tenant's one import beside ${first.busyImports} queued one-batch imports of another tenant, ${first.slots} activity slots, ${first.pageDelayMs} ms per page (medians).`);
    lines.push('');
    lines.push('| Server | matching.enableFairness | Partitions | Quiet batch waited in the queue | Quiet import took | Busy imports took |');
    lines.push('|---|---|---|--:|--:|--:|');
    for (const f of results.fairness) {
      lines.push(`| ${f.server} | ${f.fairness} | ${f.partitions} | ${f.quietQueueMedianSeconds} s | ${f.quietMedianSeconds} s | ${f.busyMedianSeconds} s |`);
    }
    lines.push('');
  }
  if (results.governor && results.governor.length > 0) {
    const first = results.governor[0]!;
    lines.push(
      `Rate governor: ${first.workers} workers, ${first.imports} imports of ${fmt(first.contactsEach)} at once (${first.pageSize} a page), the provider enforcing an app-wide quota of ${first.quotaPerSecond} requests/s with 429 and Retry-After; ideal = accepted requests ÷ quota.`,
    );
    lines.push('');
    lines.push('| Governor | Requests | 429s | Share | Imports took | Ideal | Ratio | Quota used | Peak accepted/s | Exact |');
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|');
    for (const g of results.governor) {
      const how = Object.entries(g.env).map(([k, v]) => `\`${k}=${v}\``).join(' ') || 'nothing set (learning)';
      lines.push(
        `| ${g.configuration}: ${how} | ${g.requests} | ${g.refused} | ${g.refusedPercent} % | ${g.seconds} s | ${g.idealSeconds} s | ${g.ratio}× | ${g.quotaUsedPercent} % | ${g.peakAcceptedPerSecond} | ${g.exact ? `${g.imports}/${g.imports}` : `**no**: ${g.inexact.join('; ')}`} |`,
      );
    }
    lines.push('');
  }
  if (results.governorAlternatives && results.governorAlternatives.length > 0) {
    lines.push(
      "Governor's shared state: the same scenario, the app's budget held by the store, an entity workflow per key, or Temporal's task-queue rate limit (no governor; one page per batch, or the service's batches at the rate ÷ pages per batch).",
    );
    lines.push('');
    lines.push('| State | Requests | 429s | Share | Ratio | Quota used | Exact | State calls a request | A reservation p50 / p99 | Batch queue wait p50 / p99 | Import history events a request | Entity events / actions a request |');
    lines.push('|---|--:|--:|--:|--:|--:|:-:|---|--:|--:|--:|--:|');
    for (const g of results.governorAlternatives) {
      const calls = Object.entries(g.stateCallsPerRequest).map(([k, v]) => `${k} ${v}`).join(', ') || '–';
      const reserve = g.reserveLatency ? `${g.reserveLatency.p50} / ${g.reserveLatency.p99} ms` : '–';
      const entity = g.entityHistory ? `${g.entityEventsPerRequest} / ${g.entityActionsPerRequest}` : '–';
      lines.push(
        `| ${g.alternative} | ${g.requests} | ${g.refused} | ${g.refusedPercent} % | ${g.ratio}× | ${g.quotaUsedPercent} % | ${g.exact ? `${g.imports}/${g.imports}` : `**no**: ${g.inexact.join('; ')}`} | ${calls} | ${reserve} | ${g.batchQueueWait.p50} / ${g.batchQueueWait.p99} ms | ${g.importEventsPerRequest} | ${entity} |`,
      );
    }
    lines.push('');
  }
  if (results.kills) {
    lines.push(`Kill test (${fmt(results.kills.contacts)} contacts, ${results.kills.kills} SIGKILLs): ${results.kills.passed ? 'passed' : '**failed**'}. ${results.kills.lines.join(' ')}`);
    lines.push('');
  }
  if (results.targets && results.targets.length > 0) {
    lines.push('| Target | Measured | Met |');
    lines.push('|---|---|:-:|');
    for (const t of results.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? '?' : t.met ? 'yes' : '**no**'} |`);
  }
  return lines.join('\n');
}

/**
 * CPU seconds per 100,000 contacts by stage, the plain loop's process beside the worker's (medians
 * of the rounds, stage by stage), and the worker's ÷ the loop's where both spent any.
 */
function stageTable(rows: readonly ThroughputRow[]): string[] {
  const measured = rows.filter((r) => r.plainLoop?.stages || r.service?.stages);
  if (measured.length === 0) return [];
  const heads = STAGE_CPU_COLUMNS.map((column) => STAGE_HEADS[column]);
  const lines = [
    'CPU seconds per 100,000 contacts by stage (the JavaScript thread split by its sampled profile; then the other threads):',
    '',
    `| Store | Contacts | Process | ${heads.join(' | ')} |`,
    `|---|--:|---|${heads.map(() => '--:').join('|')}|`,
  ];
  for (const r of measured) {
    const per100k = (seconds: number) => (seconds * 100_000) / r.contacts;
    const loop = r.plainLoop?.stages;
    const worker = r.service?.stages;
    const cells = (split: StageCpu) => STAGE_CPU_COLUMNS.map((column) => per100k(split[column]).toFixed(2)).join(' | ');
    if (loop) lines.push(`| ${r.store} | ${fmt(r.contacts)} | plain loop | ${cells(loop)} |`);
    if (worker) lines.push(`| ${r.store} | ${fmt(r.contacts)} | worker | ${cells(worker)} |`);
    if (loop && worker) {
      const ratio = (column: (typeof STAGE_CPU_COLUMNS)[number]) => (loop[column] > 0.005 ? `${(worker[column] / loop[column]).toFixed(2)}×` : '–');
      lines.push(`| ${r.store} | ${fmt(r.contacts)} | worker ÷ loop | ${STAGE_CPU_COLUMNS.map(ratio).join(' | ')} |`);
    }
  }
  lines.push('');
  return lines;
}

const STAGE_HEADS: Record<(typeof STAGE_CPU_COLUMNS)[number], string> = {
  ...CPU_STAGE_LABELS,
  gc: 'GC (JS thread)',
  other: 'other (JS thread)',
  coreThreads: 'Temporal core threads',
  otherThreads: 'other threads',
  total: 'total',
};

/** Writes the results JSON to `file` (pretty-printed, newline-terminated). */
export function writeResults(results: Results, file: string): void {
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
