/**
 * Activities: the only place that talks to providers and the database. Built by a factory that
 * receives its dependencies, so the worker wires real ones and tests can wire their own. Workflows
 * see them only as the type {@link ImportActivities}.
 */
import type { Client } from '@temporalio/client';
import { connectionsPerTenant, GOVERNOR_DEFAULTS, WORKER_DEFAULTS } from '../config/defaults';
import type { TokenSealer } from '../encryption/token-seal';
import type { Store } from '../db/types';
import { createConnectionActivities } from './connections';
import { createErasureActivities } from './erasure';
import { createImportBatch } from './import-batch';
import { createScheduleActivities } from './sync-schedules';
import { createUploadExpiryActivities } from './upload-expiry';
import { createWebhookActivities } from './webhooks';
import { measureBatch } from './metrics';
import { createConnectionGate, type ConnectionGate } from './connection-gate';
import { createPageGate, type PageGate } from './page-gate';
import { SealedTokenVault } from './token-vault';
import { openSource, type SourceOpener, type SourceSettings } from '../providers';
import { createRequestGovernor, type RequestGovernor } from '../providers/kit/governor';

export interface ActivityDeps {
  store: Store;
  /** A client on the worker's connection, for erasure (it cancels imports and waits for them). */
  client?: Client;
  sealer: TokenSealer;
  /** What sources read from the worker's configuration (each provider's settings; never credentials). */
  sources: SourceSettings;
  /** Which source serves a provider; the registry's (`providers/index.ts`) unless a test swaps it. */
  openSource?: SourceOpener;
  /** How often a batch heartbeats while it waits on a slow page; below the heartbeat timeout. */
  keepAliveHeartbeatMs?: number;
  /**
   * The worker process's page gate (`page-gate.ts`), made once by whoever builds the worker and
   * shared by all its batches; left out, these activities get one of their own, sized for the store.
   */
  pageGate?: PageGate;
  /**
   * The worker process's connection gate (`connection-gate.ts`), made once like the page gate and
   * shared by its batches and webhook deliveries; left out, these activities get one of their own.
   */
  connectionGate?: ConnectionGate;
  /** Whether a batch fetches its next page while it saves the current one (`IMPORT_FETCH_AHEAD`). */
  fetchAhead?: boolean;
  /**
   * The process's rate governor (`providers/kit/governor.ts`), made once by whoever builds the
   * worker; left out, these activities get one of their own over the store, with the defaults.
   */
  governor?: RequestGovernor;
  /**
   * Called when a batch fails because this worker lacks part of its configuration (the token key
   * the import's credentials were sealed with). The batch fails retryably as `WorkerMisconfigured`;
   * the worker decides when to stop polling (`worker/misconfiguration-guard.ts`).
   */
  onMisconfigured?: (problem: string) => void;
}

export function createActivities(deps: ActivityDeps) {
  const { connections } = WORKER_DEFAULTS;
  const connectionGate = deps.connectionGate ?? createConnectionGate({ connections, perTenant: connectionsPerTenant(connections) });
  return {
    importBatch: measureBatch(
      createImportBatch({
        ...deps,
        // Uploaded files live in the worker's own store; sources read them through it. Kept refresh
        // tokens too, sealed with the worker's key, and the budgets every worker shares.
        sources: {
          uploads: deps.store.uploads,
          tokens: new SealedTokenVault(deps.store.connections, deps.sealer),
          governor: deps.governor ?? createRequestGovernor({ state: deps.store.budgets, ...GOVERNOR_DEFAULTS }),
          ...deps.sources,
        },
        openSource: deps.openSource ?? openSource,
        pageGate: deps.pageGate ?? createPageGate(WORKER_DEFAULTS.pagesInFlight[deps.store.kind]),
        connectionGate,
      }),
    ),
    ...createErasureActivities(deps),
    ...createConnectionActivities(deps),
    ...createScheduleActivities(deps),
    ...createUploadExpiryActivities(deps),
    ...createWebhookActivities({
      ...deps,
      allowPrivateAddresses: deps.sources.allowPrivateAddresses,
      outboundLimits: deps.sources.outboundLimits,
      connections: connectionGate,
    }),
  };
}

export type ImportActivities = ReturnType<typeof createActivities>;
