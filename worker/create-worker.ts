/**
 * Builds an import worker. `worker/main.ts` runs one as a process; tests build them in-process with
 * a pre-bundled workflow so each test gets a fresh worker cheaply.
 */
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { AppConfig } from '../config';
import { WORKER_DEFAULTS } from '../config/defaults';
import type { ProviderSettings, SourceSettings } from '../providers';
import { TASK_QUEUE } from '../workflows/contract';
import { heapHeadroomInterceptor, type HeapHeadroom } from './heap-headroom';
import { importLogContext } from './log-context';

export interface ImportWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  deps: ActivityDeps;
  taskQueue?: string;
  /** A bundle from `bundleWorkflowsInThread`; otherwise the worker bundles `workflows/` itself. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  maxConcurrentActivityTaskExecutions?: number;
  /** Upper bound on heartbeat throttling: how stale a resumable checkpoint can be on the server. */
  heartbeatThrottleMs?: number;
  identity?: string;
  /**
   * The service's payload encryption (`encryption/data-converter.ts`). Every worker in production has
   * it; its `failureConverterPath` must match the one the workflow bundle was built with.
   */
  dataConverter?: DataConverter;
  /** The process's heap headroom, shared by its running batches (`worker/main.ts` makes one); none by default. */
  heapHeadroom?: HeapHeadroom;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** What a worker process's sources read from its configuration: each provider's settings, and what every source shares. */
export function workerSourceSettings(
  config: Pick<AppConfig, 'defaultPhoneRegion' | 'sourcesAllowPrivateAddresses' | 'outboundLimits'>,
  providers: ProviderSettings,
): SourceSettings {
  return {
    providers,
    defaultPhoneRegion: config.defaultPhoneRegion,
    allowPrivateAddresses: config.sourcesAllowPrivateAddresses,
    outboundLimits: config.outboundLimits,
  };
}

export async function createImportWorker(options: ImportWorkerOptions): Promise<Worker> {
  const throttle = `${options.heartbeatThrottleMs ?? WORKER_DEFAULTS.heartbeatThrottleMs} milliseconds` as const;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    activities: createActivities(options.deps),
    // Batch log lines name their import (`importId`), not only its workflow run.
    interceptors: { activity: [importLogContext, ...(options.heapHeadroom ? [heapHeadroomInterceptor(options.heapHeadroom)] : [])] },
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    maxConcurrentActivityTaskExecutions:
      options.maxConcurrentActivityTaskExecutions ?? WORKER_DEFAULTS.maxConcurrentActivities,
    // Heartbeats carry the resume checkpoint: a short throttle keeps it at most a page or two
    // behind, so a crash re-fetches little. They are not history events, so history stays small.
    maxHeartbeatThrottleInterval: throttle,
    defaultHeartbeatThrottleInterval: throttle,
    shutdownGraceTime: WORKER_DEFAULTS.shutdownGraceMs,
  });
}

export { NativeConnection };
