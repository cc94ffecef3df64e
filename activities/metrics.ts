/**
 * The import's own series, emitted through the Temporal SDK's metric meter: they come out of the
 * worker's Prometheus endpoint beside the SDK's own (`WORKER_METRICS_ADDRESS`), one scrape target,
 * tagged by the SDK with `namespace`, `task_queue` and `activity_type`, and by us with `provider`.
 * Names are listed, with what to alert on, in docs/operations.md.
 *
 * No tag ever holds a user, tenant or import id: each distinct value is a new series to store.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, type MetricMeter } from '@temporalio/common';
import type { ConnectionGateState } from './connection-gate';
import type { PageGateState } from './page-gate';

export const IMPORT_METRICS = {
  contactsSaved: 'contacts_import_contacts_saved',
  contactsRejected: 'contacts_import_contacts_rejected',
  pagesFetched: 'contacts_import_pages_fetched',
  providerFailures: 'contacts_import_provider_failures',
  batchDuration: 'contacts_import_batch_duration_seconds',
  pagesInFlight: 'contacts_import_pages_in_flight',
  pagesWaiting: 'contacts_import_pages_waiting',
  connectionsInUse: 'contacts_import_connections_in_use',
  connectionsWaiting: 'contacts_import_connections_waiting',
} as const;

/** Counts one import's saved pages; built once per batch from the activity's meter. */
export interface PageMetrics {
  pageSaved(contacts: number, rejected: number): void;
}

/** The page counters for a batch of `provider`. */
export function pageMetrics(meter: MetricMeter, provider: string): PageMetrics {
  const tags = { provider };
  const saved = meter.createCounter(IMPORT_METRICS.contactsSaved, 'contacts', 'Contacts saved (upserted) by import batches');
  const rejected = meter.createCounter(IMPORT_METRICS.contactsRejected, 'records', 'Source records set aside as unreadable');
  const pages = meter.createCounter(IMPORT_METRICS.pagesFetched, 'pages', 'Source pages fetched and saved');
  return {
    pageSaved(contacts, rejects) {
      saved.add(contacts, tags);
      if (rejects > 0) rejected.add(rejects, tags);
      pages.add(1, tags);
    },
  };
}

/**
 * The page gate's state as two gauges of the worker (`page-gate.ts`): pages in flight, and batches
 * waiting for a permit. Pass the result as the gate's `onChange`.
 */
export function pageGateGauges(meter: MetricMeter): (state: PageGateState) => void {
  const inFlight = meter.createGauge(IMPORT_METRICS.pagesInFlight, 'int', 'pages', 'Pages fetched and being saved, in this worker');
  const waiting = meter.createGauge(IMPORT_METRICS.pagesWaiting, 'int', 'pages', 'Pages waiting for a permit of the worker page gate');
  return (state) => {
    inFlight.set(state.inFlight);
    waiting.set(state.waiting);
  };
}

/** The connection gate's state as gauges, for the whole worker. */
export function connectionGateGauges(meter: MetricMeter): (state: ConnectionGateState) => void {
  const inUse = meter.createGauge(IMPORT_METRICS.connectionsInUse, 'int', 'connections', 'Requests this worker waits on (pages being fetched, webhooks)');
  const waiting = meter.createGauge(IMPORT_METRICS.connectionsWaiting, 'int', 'connections', 'Requests waiting for a connection of the worker');
  return (state) => {
    inUse.set(state.inUse);
    waiting.set(state.waiting);
  };
}

/** `ProviderThrottled`, `ProviderUnavailable`…: the failure's type, or its class name when it has none. */
function failureType(err: unknown): string {
  if (err instanceof ApplicationFailure) return err.type ?? 'ApplicationFailure';
  return err instanceof Error ? err.name : 'unknown';
}

const providerOf = (input: unknown): string => {
  const provider = (input as { provider?: unknown } | null)?.provider;
  return typeof provider === 'string' ? provider : 'unknown';
};

/**
 * `batch` measured: its duration by outcome (`completed`, `failed`, `cancelled`) and each failed
 * attempt counted by failure type. The activity itself is unchanged.
 */
export function measureBatch<I, R>(batch: (input: I) => Promise<R>): (input: I) => Promise<R> {
  const measured = async (input: I): Promise<R> => {
    const meter = Context.current().metricMeter;
    const provider = providerOf(input);
    const started = performance.now();
    let outcome = 'completed';
    try {
      return await batch(input);
    } catch (err) {
      const cancelled = Context.current().cancellationSignal.aborted;
      outcome = cancelled ? 'cancelled' : 'failed';
      if (!cancelled) {
        meter
          .createCounter(IMPORT_METRICS.providerFailures, 'failures', 'Failed batch attempts, by failure type')
          .add(1, { provider, failure_type: failureType(err) });
      }
      throw err;
    } finally {
      meter
        .createHistogram(IMPORT_METRICS.batchDuration, 'float', 's', 'Wall time of one batch attempt')
        .record((performance.now() - started) / 1000, { provider, outcome });
    }
  };
  // Temporal registers activities by property name; the function's own name is kept for stack traces.
  Object.defineProperty(measured, 'name', { value: batch.name });
  return measured;
}
