/**
 * `/healthz`'s check: Temporal and the database each asked once, both at once, under one deadline;
 * answered again from that check while it is younger than `cacheMs`. Callers arriving while a check
 * runs share it, so however many probes come in, the two servers see one check per `cacheMs`.
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
  now?: () => number;
}

/** The health check, cached: never rejects, a part that fails or times out is `unavailable`. */
export function createHealthCheck(options: HealthCheckOptions): () => Promise<HealthReport> {
  const cacheMs = options.cacheMs ?? HEALTH_DEFAULTS.cacheMs;
  const now = options.now ?? Date.now;
  const check = async (): Promise<HealthReport> => {
    const deadline = now() + HEALTH_DEFAULTS.timeoutMs;
    const [temporal, database] = await Promise.all([
      options.temporal.ping(deadline).then(() => 'ok' as const, () => 'unavailable' as const),
      options.store.ping().then(() => 'ok' as const, () => 'unavailable' as const),
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
