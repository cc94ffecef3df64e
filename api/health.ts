/**
 * `/healthz`'s check: Temporal and the database each asked once, both at once, under one deadline
 * (a part that has not answered by then is unavailable); answered again from that check while it
 * is younger than `cacheMs`. Callers arriving while a check runs share it, so however many probes
 * come in, the two servers see one check per `cacheMs`.
 */
import { HEALTH_DEFAULTS } from '../config/defaults';
import type { Store } from '../db/types';
import type { TemporalPing } from './imports';

export type PartHealth = 'ok' | 'unavailable';

export interface HealthReport {
  status: PartHealth;
  temporal: PartHealth;
  database: PartHealth;
}

export interface HealthCheckOptions {
  temporal: TemporalPing;
  store: Pick<Store, 'ping'>;
  /** How long one check is answered again (`HEALTH_DEFAULTS.cacheMs`); 0 checks on every call but still shares one in flight. */
  cacheMs?: number;
  /** How long each part has to answer before it counts as unavailable (`HEALTH_DEFAULTS.timeoutMs`). */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * What `ping` says of a part: `ok` when it resolves within `timeoutMs`. A ping that never settles
 * (a stalled database connection) must not hold the check, which every probe meanwhile shares.
 */
async function partHealth(ping: () => Promise<unknown>, timeoutMs: number): Promise<PartHealth> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'unavailable'>((resolve) => (timer = setTimeout(() => resolve('unavailable'), timeoutMs)));
  try {
    return await Promise.race([
      Promise.resolve()
        .then(ping)
        .then(
          () => 'ok' as const,
          () => 'unavailable' as const,
        ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The health check, cached: never rejects, a part that fails or times out is `unavailable`. */
export function createHealthCheck(options: HealthCheckOptions): () => Promise<HealthReport> {
  const cacheMs = options.cacheMs ?? HEALTH_DEFAULTS.cacheMs;
  const timeoutMs = options.timeoutMs ?? HEALTH_DEFAULTS.timeoutMs;
  const now = options.now ?? Date.now;
  const check = async (): Promise<HealthReport> => {
    // Temporal's client gives up at the deadline itself; the race covers the database, which has none.
    const deadline = now() + timeoutMs;
    const [temporal, database] = await Promise.all([
      partHealth(() => options.temporal.ping(deadline), timeoutMs),
      partHealth(() => options.store.ping(), timeoutMs),
    ]);
    return { status: temporal === 'ok' && database === 'ok' ? 'ok' : 'unavailable', temporal, database };
  };
  // `until` is infinite while the check runs: every caller meanwhile shares it.
  let last: { until: number; report: Promise<HealthReport> } | undefined;
  return () => {
    if (last && now() < last.until) return last.report;
    const entry = { until: Infinity, report: check() };
    last = entry;
    void entry.report.then(() => {
      entry.until = now() + cacheMs;
    });
    return entry.report;
  };
}
