/**
 * The hostile tenants of `npm run chaos`: one whose CardDAV source dribbles (a `207` at once, then
 * one byte every 2 s, never done) and one whose source never ends (a multistatus streamed without
 * end), both served by the hostile server in the chaos process (demo-provider/hostile-server.ts).
 * Their imports run beside the other tenants' in every run; the limits they meet are shortened
 * through the cluster's environment ({@link HOSTILE_LIMITS_ENV}) so that they end within a run or two.
 */
import type { HostileServer } from '../demo-provider/hostile-server';
import { FAILURE_TYPES } from '../workflows/contract';

/**
 * What every worker and API of the chaos cluster runs with: a dribbling answer passes its request's
 * deadline after 10 s (its bytes come more often than the idle timeout), an endless one passes
 * 8 MiB (a demo page of 1,000 people is about 1 MB), and an import whose source failed on such a
 * limit for 30 s gives up. The other tenants' imports save pages every second or so, so their
 * windows never close: a batch's window ends only after 30 s without a page saved
 * (workflows/give-up.ts), and only source failures in it give up.
 */
export const HOSTILE_LIMITS_ENV = {
  PROVIDER_FIRST_BYTE_TIMEOUT: '10s',
  PROVIDER_IDLE_TIMEOUT: '5s',
  PROVIDER_REQUEST_TIMEOUT: '10s',
  PROVIDER_MAX_RESPONSE_BYTES: String(8 * 1024 * 1024),
  IMPORT_GIVE_UP_AFTER: '30s',
} as const;

/** The hostile tenants: how many imports each starts per run, and how they must end. */
export const HOSTILE_TENANTS = [
  { tenant: 'chaos-dribble', path: '/dribble/?every=2000', imports: 4, reason: 'provider_too_slow', errorType: FAILURE_TYPES.providerTooSlow },
  { tenant: 'chaos-endless', path: '/endless/', imports: 2, reason: 'response_too_large', errorType: FAILURE_TYPES.responseTooLarge },
] as const;
export type HostileTenant = (typeof HOSTILE_TENANTS)[number]['tenant'];

export interface HostileImport {
  tenant: HostileTenant;
  importId: string;
}

/** How the hostile imports of one run ended: parked with their reason, failed after the give-up with their type, or wrongly. */
export interface HostileOutcome {
  waiting: number;
  failed: number;
  /** Each import that ended otherwise (completed, another reason or type, no answer in time): what it said. */
  wrong: string[];
}

/** The API's answer about an import, as far as the hostile tenants' checks read it. */
interface ImportAnswer {
  state?: string;
  saved?: number;
  errorType?: string | null;
  waiting?: { reason?: string };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** An API call that retries while the API is down or answers 503 (a fault is running), up to `deadline`. */
async function call(apis: string[], key: string, method: string, route: string, deadline: number, body?: unknown): Promise<{ status: number; json: unknown }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${apis[attempt % apis.length]}${route}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const json = (await res.json().catch(() => undefined)) as unknown;
      if (res.status !== 503) return { status: res.status, json };
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`${method} ${route} kept answering 503`);
    await sleep(500);
  }
}

/** Starts every hostile tenant's imports against `server`, with users named after `tag`. */
export async function startHostileImports(apis: string[], keys: Record<HostileTenant, string>, server: HostileServer, tag: string): Promise<HostileImport[]> {
  const started: HostileImport[] = [];
  const deadline = Date.now() + 120_000;
  for (const { tenant, path, imports } of HOSTILE_TENANTS) {
    for (let i = 0; i < imports; i++) {
      const source = { provider: 'carddav', url: `${server.url}${path}`, username: 'chaos', password: 'chaos-password' };
      const res = await call(apis, keys[tenant], 'POST', '/v1/imports', deadline, { userId: `${tenant}-${tag}-${i}`, source });
      const importId = (res.json as { importId?: string } | undefined)?.importId;
      if ((res.status !== 202 && res.status !== 200) || !importId) throw new Error(`POST /v1/imports for ${tenant} answered ${res.status}: ${JSON.stringify(res.json)}`);
      started.push({ tenant, importId });
    }
  }
  return started;
}

/**
 * Waits (up to `timeoutMs`) until every hostile import shows how it ends: running and waiting with
 * its tenant's reason, or failed with its tenant's error type. An import still showing something
 * else when the time is up, or failed with another type, or completed, is wrong.
 */
export async function hostileOutcome(apis: string[], keys: Record<HostileTenant, string>, imports: HostileImport[], timeoutMs: number): Promise<HostileOutcome> {
  const outcome: HostileOutcome = { waiting: 0, failed: 0, wrong: [] };
  const deadline = Date.now() + timeoutMs;
  const pending = new Map(imports.map((entry) => [entry.importId, { entry, last: 'no answer' }]));
  while (pending.size > 0) {
    for (const [importId, item] of pending) {
      const expected = HOSTILE_TENANTS.find((t) => t.tenant === item.entry.tenant)!;
      let answer: ImportAnswer | undefined;
      try {
        const res = await call(apis, keys[item.entry.tenant], 'GET', `/v1/imports/${importId}`, deadline);
        if (res.status !== 200) {
          item.last = `HTTP ${res.status} ${JSON.stringify(res.json)?.slice(0, 200)}`;
          continue;
        }
        answer = res.json as ImportAnswer;
      } catch (err) {
        item.last = `no answer: ${err instanceof Error ? err.message : String(err)}`;
        continue;
      }
      const { state, saved, errorType, waiting } = answer;
      item.last = JSON.stringify({ state, saved, errorType, waiting: waiting?.reason });
      if (state === 'running' && waiting?.reason === expected.reason) {
        outcome.waiting++;
        pending.delete(importId);
      } else if (state === 'failed' && errorType === expected.errorType) {
        outcome.failed++;
        pending.delete(importId);
      } else if (state !== 'running') {
        outcome.wrong.push(`${item.entry.tenant} import ${importId} ended ${item.last}, not waiting with ${expected.reason} or failed with ${expected.errorType}`);
        pending.delete(importId);
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) {
      for (const [importId, item] of pending) outcome.wrong.push(`${item.entry.tenant} import ${importId} still said ${item.last} after ${timeoutMs / 1000} s`);
      break;
    }
    await sleep(500);
  }
  return outcome;
}

/** Cancels the hostile imports still running and waits (up to `timeoutMs`) until none runs, so the next run's baseline has them gone. */
export async function cancelHostile(apis: string[], keys: Record<HostileTenant, string>, imports: HostileImport[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const { tenant, importId } of imports) await call(apis, keys[tenant], 'POST', `/v1/imports/${importId}/cancel`, deadline);
  for (const { tenant, importId } of imports) {
    for (;;) {
      const res = await call(apis, keys[tenant], 'GET', `/v1/imports/${importId}`, deadline);
      if ((res.json as ImportAnswer | undefined)?.state !== 'running') break;
      if (Date.now() > deadline) throw new Error(`hostile import ${importId} still runs ${timeoutMs / 1000} s after it was cancelled`);
      await sleep(300);
    }
  }
}
