/**
 * `npm run chaos -- --runs N --seed S`: the fault matrix, against the cluster of `npm run cluster`
 * (started here, on free ports, with the demo provider in this process so its faults can be
 * switched on and off). Each run imports 50,000–300,000 contacts through the two APIs and, when a
 * random share of them is saved, injects faults (scripts/chaos-faults.ts): SIGKILL a worker,
 * SIGKILL an API, restart Temporal's history then its front end, restart PostgreSQL, make the
 * provider throttle, fail or drop connections. Meanwhile it polls the import's status through
 * both APIs. At the end of each run it counts the user's contacts in the store.
 *
 * Two hostile tenants run beside it (scripts/chaos-hostile.ts): one whose CardDAV source dribbles
 * a byte every 2 s, one whose source never ends, with the limits shortened for the whole cluster
 * (`HOSTILE_LIMITS_ENV`). Each run starts their imports afresh and, at its end, checks that each
 * is waiting with its reason (`provider_too_slow`, `response_too_large`) or has failed after the
 * give-up with its type (`ProviderTooSlow`, `ResponseTooLarge`), then cancels what still runs.
 * How much they slow the others down: each run first imports a bystander of `--bystander`
 * contacts alone (no hostile import running, no fault), then starts the hostile imports, waits
 * until each has reached its server, and imports the same bystander again beside them (still no
 * fault); the table's "hostile +s" is the second time minus the first, in the same run, on the same
 * cluster. Both bystanders are counted in the store like the main import.
 *
 *   --runs N            runs (default 3)
 *   --seed S            seed of sizes, faults and moments (default: from the clock; printed)
 *   --min A --max B     contacts per import (default 50000 and 300000)
 *   --faults K          faults per run (default 2; the kinds take turns, so every K runs cover them all)
 *   --bound-seconds T   an import not completed T seconds after it started is stuck (default 600)
 *   --bystander B       contacts of the import timed alone and beside the hostile tenants (default 5000)
 *
 * Needs DATABASE_URL and TEMPORAL_DB_URL as `npm run cluster` does, and the right to restart that
 * PostgreSQL (root and Debian's pg_ctlcluster, or CHAOS_PG_RESTART="command"). Prints a table,
 * then `chaos: result {json}`; exits 1 unless every run ended with exactly N contacts (and B for
 * each bystander), none doubled, none stuck, no wrong status answer and every hostile import
 * ended as its limits say. Answers whose count went back (the API's memo
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
import { startHostileServer, type HostileServer } from '../demo-provider/hostile-server';
import { emptyResult, runFailed, summarise, table, type RunResult } from './chaos-report';
import { FAULT_KINDS, injectFault, postgresRestarter, seededRandom, type FaultContext, type FaultKind } from './chaos-faults';
import {
  cancelHostile,
  HOSTILE_LIMITS_ENV,
  HOSTILE_TENANTS,
  hostileOutcome,
  startHostileImports,
  type HostileTenant,
} from './chaos-hostile';
import { clusterPorts, clusterSupervisor, startCluster } from './cluster-parts';
import { parseTemporalDbUrl } from './cluster-temporal';

const TENANT = 'chaos';
const POLL_MS = 200;

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
      bystander: { type: 'string', default: '5000' },
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
    bystander: int('bystander', values.bystander, 1),
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

interface RunContext extends FaultContext {
  apis: string[];
  key: string;
  hostileKeys: Record<HostileTenant, string>;
  hostileServer: HostileServer;
  db: pg.Pool;
  contacts: number;
  bystander: number;
  boundMs: number;
  seed: number;
}

/** How long the hostile imports may take to show how they end, once the run's main import is over. */
const HOSTILE_OUTCOME_MS = 90_000;

/**
 * One run: the bystander alone, the hostile tenants' imports started, the bystander beside them,
 * then the main import under faults; at the end the hostile imports' outcome, and their cancellation.
 */
async function oneRun(run: number, kinds: FaultKind[], ctx: RunContext): Promise<RunResult> {
  const userId = `chaos-${ctx.seed}-${run}-${Date.now().toString(36)}`;
  const result = emptyResult(run, ctx.contacts);
  result.bystander.alone = await timeBystander(ctx, `${userId}-alone`, result);
  const requestsBefore = hostileRequests(ctx.hostileServer);
  const hostile = await startHostileImports(ctx.apis, ctx.hostileKeys, ctx.hostileServer, userId);
  try {
    await reached(ctx.hostileServer, requestsBefore, 60_000);
    result.bystander.beside = await timeBystander(ctx, `${userId}-beside`, result);
    await mainImport(userId, kinds, ctx, result);
    result.hostile = await hostileOutcome(ctx.apis, ctx.hostileKeys, hostile, HOSTILE_OUTCOME_MS);
  } finally {
    await cancelHostile(ctx.apis, ctx.hostileKeys, hostile, 120_000);
  }
  return result;
}

/** Requests the hostile server has had so far, by the hostile tenants' behaviours. */
const hostileRequests = (server: HostileServer) => (server.requests.dribble ?? 0) + (server.requests.endless ?? 0);

/** Resolves once the hostile server has had a request per hostile import since `before`. */
async function reached(server: HostileServer, before: number, timeoutMs: number): Promise<void> {
  const imports = HOSTILE_TENANTS.reduce((total, t) => total + t.imports, 0);
  const deadline = Date.now() + timeoutMs;
  while (hostileRequests(server) - before < imports) {
    if (Date.now() > deadline) throw new Error(`the hostile imports did not reach their server within ${timeoutMs / 1000} s`);
    await sleep(POLL_MS);
  }
}

/**
 * The bystander's import of `ctx.bystander` contacts (no fault running), from its POST to the status
 * that says it completed, in seconds. Its rows are counted into `result` like the main import's.
 */
async function timeBystander(ctx: RunContext, userId: string, result: RunResult): Promise<number> {
  ctx.provider.configure({ contacts: ctx.bystander, faults: {} });
  const started = Date.now();
  const importId = await startImport(ctx.apis, ctx.key, userId);
  for (let poll = 0; ; poll++) {
    if (Date.now() - started > ctx.boundMs) {
      result.stuck = true;
      break;
    }
    try {
      const res = await fetch(`${ctx.apis[poll % ctx.apis.length]}/v1/imports/${importId}`, { headers: { authorization: `Bearer ${ctx.key}` } });
      const body = (await res.json().catch(() => undefined)) as { state?: string; saved?: number; errorType?: string } | undefined;
      if (res.status === 200 && body?.state === 'completed') break;
      if (res.status === 200 && body?.state !== 'running') {
        result.statusErrors.push(`the bystander's import ${importId} ended ${JSON.stringify(body)?.slice(0, 200)}`);
        break;
      }
    } catch {
      // an API restarting after the previous run's fault: ask the other
    }
    await sleep(POLL_MS);
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const { rows, distinct } = await countStored(ctx.db, userId);
  result.lost += Math.max(0, ctx.bystander - distinct);
  result.doubled += rows - distinct;
  return seconds;
}

/** The run's main import of `ctx.contacts`, with `kinds` of faults injected as it goes; fills `result`. */
async function mainImport(userId: string, kinds: FaultKind[], ctx: RunContext, result: RunResult): Promise<void> {
  const { random, contacts } = ctx;
  ctx.provider.configure({ contacts, faults: {} });
  const started = Date.now();
  const importId = await startImport(ctx.apis, ctx.key, userId);
  // Each fault fires once this share of the contacts is saved.
  const plan = kinds.map((kind) => ({ kind, at: Math.floor(contacts * (0.05 + random() * 0.6)), fired: false }));
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
  result.lost += Math.max(0, contacts - distinct);
  result.doubled += rows - distinct;
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
  const hostileServer = await startHostileServer();
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
      env: HOSTILE_LIMITS_ENV,
      ui: false,
      supervisor,
      say: () => undefined,
    });
    console.log(`chaos: cluster up (Temporal ${cluster.temporalAddress}, APIs ${cluster.apiUrls.join(', ')}); logs in ${path.join(config.dataDir, 'cluster', 'logs')}`);
    const store = await openStore(config.database);
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: `chaos seed ${opts.seed}` });
    const hostileKeys = {} as Record<HostileTenant, string>;
    for (const { tenant } of HOSTILE_TENANTS) hostileKeys[tenant] = (await store.apiKeys.create({ scope: 'tenant', tenant, name: `chaos seed ${opts.seed}` })).key;
    await store.close();

    // The kinds take turns in a seeded order, so every kind comes up once per |kinds| faults.
    const order = [...FAULT_KINDS].sort(() => random() - 0.5);
    const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    const results: RunResult[] = [];
    let next = 0;
    const base: RunContext = {
      cluster,
      provider,
      temporalPorts: ports.temporal,
      apiPorts: ports.apis,
      workers: 2,
      restartPostgres,
      random,
      apis: cluster.apiUrls,
      key,
      hostileKeys,
      hostileServer,
      db,
      contacts: 0,
      bystander: opts.bystander,
      boundMs: opts.boundMs,
      seed: opts.seed,
    };
    // The first import on a fresh cluster waits on its workers' first polls (seconds, tens of them on
    // a busy machine): one bystander import, untimed, so that run 1's baseline is like the others'.
    const warmUp = emptyResult(0, 0);
    const warmUpSeconds = await timeBystander(base, `chaos-${opts.seed}-warm-up-${Date.now().toString(36)}`, warmUp);
    if (runFailed(warmUp)) throw new Error(`the warm-up import failed: ${JSON.stringify(warmUp)}`);
    console.log(`chaos: warm-up import of ${opts.bystander} contacts in ${warmUpSeconds} s`);
    for (let run = 1; run <= opts.runs; run++) {
      const kinds = Array.from({ length: opts.faultsPerRun }, () => order[next++ % order.length]!);
      const contacts = opts.min + Math.floor(random() * (opts.max - opts.min + 1));
      const result = await oneRun(run, kinds, { ...base, contacts });
      for (const fault of result.faults) counts[fault.split('@')[0] as FaultKind]++;
      results.push(result);
      const verdict = runFailed(result) ? 'FAILED' : 'ok';
      console.log(
        `chaos: run ${run}/${opts.runs}: ${contacts} contacts in ${result.seconds} s, stored ${result.stored} (lost ${result.lost}, ` +
          `doubled ${result.doubled})${result.stuck ? ', STUCK' : ''}; faults: ${result.faults.join('; ') || 'none fired'}; ` +
          `status: ${result.answers.ok} ok, ${result.answers.unavailable} 503, ${result.answers.refused} refused, ${result.backwards.length} went back; ` +
          `bystander ${opts.bystander} alone ${result.bystander.alone} s, beside the hostile tenants ${result.bystander.beside} s; ` +
          `hostile ${result.hostile.waiting} waiting, ${result.hostile.failed} gave up, ${result.hostile.wrong.length} wrong -> ${verdict}`,
      );
      for (const wrong of result.hostile.wrong) console.log(`chaos:   hostile: ${wrong}`);
      for (const error of result.statusErrors) console.log(`chaos:   wrong: ${error}`);
      for (const stale of result.backwards) console.log(`chaos:   went back: ${stale}`);
    }
    console.log(`\n${table(results, counts, opts.bystander)}\n`);
    const failed = results.some(runFailed);
    const summary = summarise(results, counts, opts);
    console.log(`chaos: result ${JSON.stringify(summary)}`);
    return failed ? 1 : 0;
  } finally {
    await supervisor.stop();
    await db.end().catch(() => undefined);
    await hostileServer.close();
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
