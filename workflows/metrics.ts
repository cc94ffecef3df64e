/**
 * The workflow's own series, through the SDK's workflow metric meter (emitted by the worker's
 * Prometheus endpoint; never during replay, so a replayed history does not count twice).
 * Sandbox-safe: it imports only `@temporalio/workflow`.
 */
import { metricMeter } from '@temporalio/workflow';

export const WORKFLOW_METRICS = {
  importDuration: 'contacts_import_duration_seconds',
} as const;

/**
 * Records one finished import: from the `POST` that started it (`startedAt`, carried across
 * continue-as-new) to its end, by provider and final state.
 */
export function recordImportEnded(provider: string, state: string, startedAt: string, completedAt: string): void {
  const seconds = (Date.parse(completedAt) - Date.parse(startedAt)) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) return;
  metricMeter
    .createHistogram(WORKFLOW_METRICS.importDuration, 'float', 's', 'Duration of finished imports, start to end')
    .record(seconds, { provider, state });
}
