/**
 * The worker's Prometheus endpoint (`WORKER_METRICS_ADDRESS`, `host:port`, served at `/metrics` by
 * the SDK's native core): Temporal's own series (`temporal_*`: polls, task latencies, activity
 * failures, slots) and the import's (`contacts_import_*`, `activities/metrics.ts` and
 * `workflows/metrics.ts`), one scrape target. Unset: no endpoint (several workers on one machine
 * would fight over one default port); `npm start` sets `127.0.0.1:9464`.
 */
import type { RuntimeOptions } from '@temporalio/worker';
import { IMPORT_METRICS } from '../activities/metrics';
import { ConfigError } from '../config/parse';
import { WORKFLOW_METRICS } from '../workflows/metrics';

/** Where `npm start` serves its worker's metrics unless `WORKER_METRICS_ADDRESS` says otherwise. */
export const DEFAULT_WORKER_METRICS_ADDRESS = '127.0.0.1:9464' as const;

/**
 * Seconds: a batch is a few pages (well under a second each), an import minutes to hours, a wait for
 * a provider's budget from nothing to the governor's 10 s.
 */
const BUCKETS = {
  [IMPORT_METRICS.batchDuration]: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  [IMPORT_METRICS.budgetWait]: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  [WORKFLOW_METRICS.importDuration]: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
} as const;

/** `host:port` checked, or `undefined` when unset or `off`. Throws {@link ConfigError} saying what to write. */
export function workerMetricsAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.WORKER_METRICS_ADDRESS?.trim();
  if (!raw || raw === 'off') return undefined;
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65_535) {
    throw new ConfigError(`WORKER_METRICS_ADDRESS must be host:port, such as 127.0.0.1:9464, or off (got "${raw}")`);
  }
  return raw;
}

/** `127.0.0.1:9464` → `{ host: '127.0.0.1', port: 9464 }` (brackets of an IPv6 host dropped). */
export function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

/** `address` with another port, its host written as it was (`[::1]:9464` → `[::1]:9465`). */
export function withPort(address: string, port: number): string {
  return `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
}

/** `telemetryOptions.metrics` for `Runtime.install`, or nothing when metrics are off. */
export function workerMetricsTelemetry(address: string | undefined): Pick<NonNullable<RuntimeOptions['telemetryOptions']>, 'metrics'> {
  if (!address) return {};
  const histogramBucketOverrides: Record<string, number[]> = {};
  for (const [name, buckets] of Object.entries(BUCKETS)) histogramBucketOverrides[name] = [...buckets];
  return { metrics: { prometheus: { bindAddress: address, histogramBucketOverrides } } };
}
