/**
 * What `npm run chaos` (scripts/chaos.ts) reports: each run's result, the table printed at the end
 * (a line per run, then one Markdown row for the whole matrix) and the summary of `chaos: result`.
 */
import { FAULT_KINDS, type FaultKind } from './chaos-faults';
import { HOSTILE_TENANTS, type HostileOutcome } from './chaos-hostile';

export interface RunResult {
  run: number;
  contacts: number;
  faults: string[];
  seconds: number;
  stored: number;
  lost: number;
  doubled: number;
  stuck: boolean;
  /** Status answers: 200s checked, 503s (allowed while Temporal or PostgreSQL restarts), refused (the API was down). */
  answers: { ok: number; unavailable: number; refused: number };
  /** Answers that were wrong: any status but 200/503, a state other than running/completed, a count past N, a wrong total. */
  statusErrors: string[];
  /**
   * 200s with fewer contacts saved than an earlier answer said. The API answers from the workflow's
   * memo when no worker answers the status query in time (api/imports/status-reader.ts), and the
   * memo can be a batch behind. Counted apart from the errors above, and shown in the table.
   */
  backwards: string[];
  /** The bystander's import alone and beside the hostile tenants' imports, seconds. */
  bystander: { alone: number; beside: number };
  hostile: HostileOutcome;
}

/** A run's result before anything happened. */
export function emptyResult(run: number, contacts: number): RunResult {
  return {
    run,
    contacts,
    faults: [],
    seconds: 0,
    stored: 0,
    lost: 0,
    doubled: 0,
    stuck: false,
    answers: { ok: 0, unavailable: 0, refused: 0 },
    statusErrors: [],
    backwards: [],
    bystander: { alone: 0, beside: 0 },
    hostile: { waiting: 0, failed: 0, wrong: [] },
  };
}

/** A run fails on a lost, doubled or stuck contact, a wrong status answer, or a hostile import that ended otherwise than its limits say. */
export const runFailed = (r: RunResult) => r.lost > 0 || r.doubled !== 0 || r.stuck || r.statusErrors.length > 0 || r.hostile.wrong.length > 0;

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const round1 = (value: number) => Math.round(value * 10) / 10;

/** How much longer the bystander took beside the hostile tenants than alone: seconds, and the ratio. */
const slower = (r: RunResult) => ({ seconds: round1(r.bystander.beside - r.bystander.alone), ratio: round1(r.bystander.beside / r.bystander.alone) });
const signed = (seconds: number) => `${seconds >= 0 ? '+' : ''}${seconds.toFixed(1)}`;
const slowerText = (r: RunResult) => `${signed(slower(r).seconds)} (${slower(r).ratio}x)`;

export function table(results: RunResult[], counts: Record<FaultKind, number>, bystander: number): string {
  const lines = [
    'run  contacts  seconds  stored    lost  doubled  stuck  503s  refused  status errors  went back   hostile +s  hostile waiting/failed/wrong  faults',
  ];
  for (const r of results) {
    lines.push(
      [
        String(r.run).padStart(3),
        String(r.contacts).padStart(9),
        r.seconds.toFixed(1).padStart(8),
        String(r.stored).padStart(7),
        String(r.lost).padStart(7),
        String(r.doubled).padStart(8),
        (r.stuck ? 'YES' : 'no').padStart(6),
        String(r.answers.unavailable).padStart(5),
        String(r.answers.refused).padStart(8),
        String(r.statusErrors.length).padStart(14),
        String(r.backwards.length).padStart(10),
        slowerText(r).padStart(12),
        `${r.hostile.waiting}/${r.hostile.failed}/${r.hostile.wrong.length}`.padStart(29),
        ` ${r.faults.map((f) => f.split(':')[0]).join(', ')}`,
      ].join(' '),
    );
  }
  const sum = (f: (r: RunResult) => number) => results.reduce((total, r) => total + f(r), 0);
  const hostileHeads = HOSTILE_TENANTS.map((t) => `${t.tenant} imports`);
  lines.push(
    '',
    '| runs | contacts | ' + FAULT_KINDS.join(' | ') + ' | ' + hostileHeads.join(' | ') +
      ` | lost | doubled | stuck | status errors | went back | 503 answers | hostile waiting | hostile failed | hostile wrong | ${bystander} contacts beside the hostile tenants, median |`,
    '|' + ' ---: |'.repeat(FAULT_KINDS.length + HOSTILE_TENANTS.length + 12),
    `| ${results.length} | ${sum((r) => r.contacts)} | ${FAULT_KINDS.map((k) => counts[k]).join(' | ')} | ` +
      `${HOSTILE_TENANTS.map((t) => t.imports * results.length).join(' | ')} | ${sum((r) => r.lost)} | ` +
      `${sum((r) => r.doubled)} | ${sum((r) => (r.stuck ? 1 : 0))} | ${sum((r) => r.statusErrors.length)} | ` +
      `${sum((r) => r.backwards.length)} | ${sum((r) => r.answers.unavailable)} | ${sum((r) => r.hostile.waiting)} | ` +
      `${sum((r) => r.hostile.failed)} | ${sum((r) => r.hostile.wrong.length)} | ` +
      `${signed(median(results.map((r) => slower(r).seconds)))} s (${median(results.map((r) => slower(r).ratio))}x) |`,
  );
  return lines.join('\n');
}

/** The summary printed as `chaos: result {json}`. */
export function summarise(results: RunResult[], counts: Record<FaultKind, number>, opts: { seed: number; bystander: number }) {
  return {
    runs: results.length,
    seed: opts.seed,
    faults: counts,
    lost: results.reduce((t, r) => t + r.lost, 0),
    doubled: results.reduce((t, r) => t + r.doubled, 0),
    stuck: results.filter((r) => r.stuck).length,
    statusErrors: results.reduce((t, r) => t + r.statusErrors.length, 0),
    backwards: results.reduce((t, r) => t + r.backwards.length, 0),
    unavailableAnswers: results.reduce((t, r) => t + r.answers.unavailable, 0),
    hostile: {
      imports: Object.fromEntries(HOSTILE_TENANTS.map((t) => [t.tenant, t.imports * results.length])),
      waiting: results.reduce((t, r) => t + r.hostile.waiting, 0),
      failed: results.reduce((t, r) => t + r.hostile.failed, 0),
      wrong: results.reduce((t, r) => t + r.hostile.wrong.length, 0),
    },
    bystander: {
      contacts: opts.bystander,
      aloneSeconds: results.map((r) => r.bystander.alone),
      besideSeconds: results.map((r) => r.bystander.beside),
      medianSlowerSeconds: median(results.map((r) => slower(r).seconds)),
      medianRatio: median(results.map((r) => slower(r).ratio)),
    },
  };
}
