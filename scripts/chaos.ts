/**
 * `npm run chaos -- --runs N --seed S`: the fault matrix, against the cluster of `npm run cluster`
 * (started here, on free ports, with the demo provider in this process so its faults can be
 * switched on and off). Each run imports 50,000–300,000 contacts through the two APIs and, when a
 * random share of them is saved, injects faults (scripts/chaos-faults.ts): SIGKILL a worker,
 * SIGKILL an API, restart Temporal's history then its front end, restart PostgreSQL, make the
 * provider throttle, fail or drop connections. Meanwhile it polls the import's status through
 * both APIs. At the end of each run it counts the user's contacts in the store.
 *
 *   --runs N            runs (default 3)
 *   --seed S            seed of sizes, faults and moments (default: from the clock; printed)
 *   --min A --max B     contacts per import (default 50000 and 300000)
 *   --faults K          faults per run (default 2; the kinds take turns, so every K runs cover them all)
 *   --bound-seconds T   an import not completed T seconds after it started is stuck (default 600)
 *
 * Needs DATABASE_URL and TEMPORAL_DB_URL as `npm run cluster` does, and the right to restart that
 * PostgreSQL (root and Debian's pg_ctlcluster, or CHAOS_PG_RESTART="command"). Prints a table,
 * then `chaos: result {json}`; exits 1 unless every run ended with exactly N contacts, none
 * doubled, none stuck and no wrong status answer. Answers whose count went back (the API's memo
 * fallback, a batch behind) are counted in their own column, not as failures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../config';
import { openStore } from '../db';
import { startDemoProvider } from '../demo-provider/server';
import { FAULT_KINDS, injectFault, postgresRestarter, seededRandom, type FaultContext, type FaultKind } from './chaos-faults';
import { clusterPorts, clusterSupervisor, startCluster } from './cluster-parts';
import { parseTemporalDbUrl } from './cluster-temporal';

const TENANT = 'chaos';
const POLL_MS = 200;

interface RunResult {
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
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      seed: { type: 'string' },
      min: { type: 'string', default: '50000' },
      max: { type: 'string', default: '300000' },
      faults: { type: 'string', default: '2' },
      'bound-seconds': { type: 'string', default: '600' },
    },
  });
  const int = (name: string, raw: string | undefined, min: number) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number, ${min} or more (got ${raw})`);
    return value;
  };
  const min = int('min', values.min, 1);
  const max = int('max', values.max, min);
  return {
    runs: int('runs', values.runs, 1),
    seed: values.seed === undefined ? Date.now() % 1_000_000 : int('seed', values.seed, 0),
    min,
    max,
    faultsPerRun: int('faults', values.faults, 0),
    boundMs: int('bound-seconds', values['bound-seconds'], 1) * 1000,
  };
}

/** POST with retries while the API is down or answers 503: the caller's retry, as a web app would. */
async function startImport(apis: string[], key: string, userId: string): Promise<string> {
  const deadline = Date.now() + 120_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${apis[attempt % apis.length]}/v1/imports`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId, source: { provider: 'google-people', accessToken: 'chaos-token' } }),
      });
      const body = (await res.json()) as { importId?: string };
      if ((res.status === 202 || res.status === 200) && body.importId) return body.importId;
      if (res.status !== 503) throw new Error(`POST /v1/imports answered ${res.status}: ${JSON.stringify(body)}`);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(500);
  }
}

async function countStored(db: pg.Pool, userId: string): Promise<{ rows: number; distinct: number }> {
  for (;;) {
    try {
      const { rows } = await db.query<{ rows: string; distinct: string }>(
        `SELECT count(*) AS rows, count(DISTINCT external_id) AS distinct FROM contacts JOIN owners USING (owner_id)
          WHERE tenant_id = $1 AND user_id = $2 AND provider = 'google-people' AND deleted_at IS NULL`,
        [TENANT, userId],
      );
      return { rows: Number(rows[0]!.rows), distinct: Number(rows[0]!.distinct) };
    } catch {
      await sleep(500); // PostgreSQL restarting
    }
  }
}

async function oneRun(
  run: number,
  kinds: FaultKind[],
  ctx: FaultContext & { apis: string[]; key: string; db: pg.Pool; contacts: number; boundMs: number; seed: number },
): Promise<RunResult> {
  const { random, contacts } = ctx;
  ctx.provider.configure({ contacts, faults: {} });
  const userId = `chaos-${ctx.seed}-${run}-${Date.now().toString(36)}`;
  const started = Date.now();
  const importId = await startImport(ctx.apis, ctx.key, userId);
  // Each fault fires once this share of the contacts is saved.
  const plan = kinds.map((kind) => ({ kind, at: Math.floor(contacts * (0.05 + random() * 0.6)), fired: false }));
  const result: RunResult = {
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
  };
  const inFlight: Array<Promise<void>> = [];
  let maxSaved = 0;
  let completed = false;
  for (let poll = 0; !completed; poll++) {
    if (Date.now() - started > ctx.boundMs) {
      result.stuck = true;
      break;
    }
    const api = ctx.apis[poll % ctx.apis.length]!;
    try {
      const res = await fetch(`${api}/v1/imports/${importId}`, { headers: { authorization: `Bearer ${ctx.key}` } });
      const body = (await res.json().catch(() => undefined)) as
        | { state?: string; saved?: number; total?: number | null; error?: string; errorType?: string }
        | undefined;
      if (res.status === 503) {
        result.answers.unavailable++;
      } else if (res.status !== 200 || !body) {
        result.statusErrors.push(`${api}: HTTP ${res.status} ${JSON.stringify(body)?.slice(0, 200)}`);
      } else {
        result.answers.ok++;
        const saved = body.saved ?? -1;
        const wrong =
          !['running', 'completed'].includes(body.state ?? '') ||
          saved < 0 ||
          saved > contacts ||
          (body.total !== null && body.total !== undefined && body.total !== contacts) ||
          (body.state === 'completed' && saved !== contacts);
        if (wrong) {
          const { state, total, error, errorType } = body;
          const seen = JSON.stringify({ state, saved, total, error, errorType });
          result.statusErrors.push(`${api} answered ${seen} (${maxSaved} saved seen before, ${contacts} in all)`);
        } else if (saved < maxSaved) {
          result.backwards.push(`${api} answered saved ${saved} (state ${body.state}) after ${maxSaved} had been seen`);
        }
        maxSaved = Math.max(maxSaved, saved);
        completed = body.state === 'completed' || body.state === 'failed' || body.state === 'cancelled';
      }
    } catch {
      result.answers.refused++;
    }
    for (const step of plan) {
      if (step.fired || maxSaved < step.at) continue;
      step.fired = true;
      inFlight.push(
        injectFault(step.kind, ctx).then(
          (what) => void result.faults.push(`${step.kind}@${Math.round((100 * step.at) / contacts)}%: ${what}`),
          (err: unknown) => void result.statusErrors.push(`fault ${step.kind} could not be injected: ${String(err)}`),
        ),
      );
    }
    await sleep(POLL_MS);
  }
  result.seconds = Math.round((Date.now() - started) / 100) / 10;
  // Faults still running (a restart) finish before the count, so the next run starts whole.
  await Promise.all(inFlight);
  ctx.provider.configure({ faults: {} });
  const { rows, distinct } = await countStored(ctx.db, userId);
  result.stored = rows;
  result.lost = Math.max(0, contacts - distinct);
  result.doubled = rows - distinct;
  return result;
}

function table(results: RunResult[], counts: Record<FaultKind, number>): string {
  const lines = ['run  contacts  seconds  stored    lost  doubled  stuck  503s  refused  status errors  went back  faults'];
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
        ` ${r.faults.map((f) => f.split(':')[0]).join(', ')}`,
      ].join(' '),
    );
  }
  const sum = (f: (r: RunResult) => number) => results.reduce((total, r) => total + f(r), 0);
  lines.push(
    '',
    '| runs | contacts | ' + FAULT_KINDS.join(' | ') + ' | lost | doubled | stuck | status errors | went back | 503 answers |',
    '|' + ' ---: |'.repeat(FAULT_KINDS.length + 8),
    `| ${results.length} | ${sum((r) => r.contacts)} | ${FAULT_KINDS.map((k) => counts[k]).join(' | ')} | ${sum((r) => r.lost)} | ` +
      `${sum((r) => r.doubled)} | ${sum((r) => (r.stuck ? 1 : 0))} | ${sum((r) => r.statusErrors.length)} | ` +
      `${sum((r) => r.backwards.length)} | ${sum((r) => r.answers.unavailable)} |`,
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const opts = options();
  const config = loadConfig({ ...process.env, DATA_DIR: process.env.DATA_DIR || path.join(os.tmpdir(), 'contacts-import-chaos') });
  if (config.database.kind !== 'postgres') throw new Error('DATABASE_URL must name the PostgreSQL store (postgres://…), as for npm run cluster');
  const temporalDb = parseTemporalDbUrl(process.env.TEMPORAL_DB_URL);
  const restartPostgres = postgresRestarter(config.database.url, process.env.CHAOS_PG_RESTART);
  const random = seededRandom(opts.seed);
  console.log(`chaos: ${opts.runs} runs, seed ${opts.seed}, ${opts.min}–${opts.max} contacts, ${opts.faultsPerRun} faults per run`);

  const provider = await startDemoProvider({ contacts: 0 });
  const ports = await clusterPorts({ temporal: 0, ui: 0, api: 0, provider: 0 }, 2);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const supervisor = clusterSupervisor(config.dataDir, {
    quiet: true,
    say: () => undefined,
    // A fault a minute apart per part at most: restart at once, never give up.
    policy: { initialDelayMs: 500, maxDelayMs: 2_000, resetAfterMs: 10_000, maxRestarts: 1_000, windowMs: 60_000 },
    onGiveUp: (message) => console.error(`chaos: ${message}`),
  });
  process.on('exit', () => supervisor.kill());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void supervisor.stop().then(() => process.exit(130)));
  const db = new pg.Pool({ connectionString: config.database.url, max: 2 });
  db.on('error', () => undefined); // connections cut by the PostgreSQL restart
  try {
    const cluster = await startCluster({
      dataDir: config.dataDir,
      temporalDb,
      databaseUrl: config.database.url,
      ports,
      workers: 2,
      providerUrl: provider.url,
      ui: false,
      supervisor,
      say: () => undefined,
    });
    console.log(`chaos: cluster up (Temporal ${cluster.temporalAddress}, APIs ${cluster.apiUrls.join(', ')}); logs in ${path.join(config.dataDir, 'cluster', 'logs')}`);
    const store = await openStore(config.database);
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: `chaos seed ${opts.seed}` });
    await store.close();

    // The kinds take turns in a seeded order, so every kind comes up once per |kinds| faults.
    const order = [...FAULT_KINDS].sort(() => random() - 0.5);
    const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    const results: RunResult[] = [];
    let next = 0;
    for (let run = 1; run <= opts.runs; run++) {
      const kinds = Array.from({ length: opts.faultsPerRun }, () => order[next++ % order.length]!);
      const contacts = opts.min + Math.floor(random() * (opts.max - opts.min + 1));
      const ctx = {
        cluster,
        provider,
        temporalPorts: ports.temporal,
        apiPorts: ports.apis,
        workers: 2,
        restartPostgres,
        random,
        apis: cluster.apiUrls,
        key,
        db,
        contacts,
        boundMs: opts.boundMs,
        seed: opts.seed,
      };
      const result = await oneRun(run, kinds, ctx);
      for (const fault of result.faults) counts[fault.split('@')[0] as FaultKind]++;
      results.push(result);
      const verdict = result.lost || result.doubled || result.stuck || result.statusErrors.length ? 'FAILED' : 'ok';
      console.log(
        `chaos: run ${run}/${opts.runs}: ${contacts} contacts in ${result.seconds} s, stored ${result.stored} (lost ${result.lost}, ` +
          `doubled ${result.doubled})${result.stuck ? ', STUCK' : ''}; faults: ${result.faults.join('; ') || 'none fired'}; ` +
          `status: ${result.answers.ok} ok, ${result.answers.unavailable} 503, ${result.answers.refused} refused, ${result.backwards.length} went back -> ${verdict}`,
      );
      for (const error of result.statusErrors) console.log(`chaos:   wrong: ${error}`);
      for (const stale of result.backwards) console.log(`chaos:   went back: ${stale}`);
    }
    console.log(`\n${table(results, counts)}\n`);
    const failed = results.some((r) => r.lost || r.doubled || r.stuck || r.statusErrors.length > 0);
    const summary = {
      runs: results.length,
      seed: opts.seed,
      faults: counts,
      lost: results.reduce((t, r) => t + r.lost, 0),
      doubled: results.reduce((t, r) => t + r.doubled, 0),
      stuck: results.filter((r) => r.stuck).length,
      statusErrors: results.reduce((t, r) => t + r.statusErrors.length, 0),
      backwards: results.reduce((t, r) => t + r.backwards.length, 0),
      unavailableAnswers: results.reduce((t, r) => t + r.answers.unavailable, 0),
    };
    console.log(`chaos: result ${JSON.stringify(summary)}`);
    return failed ? 1 : 0;
  } finally {
    await supervisor.stop();
    await db.end().catch(() => undefined);
    await provider.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`chaos: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
