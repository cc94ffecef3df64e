/**
 * Activities: the only place that talks to providers and the database. Built by a factory that
 * receives its dependencies, so the worker wires real ones and tests can wire their own. Workflows
 * see them only as the type {@link ImportActivities}.
 */
import type { TokenSealer } from '../config/token-seal';
import type { ContactStore } from '../db/types';
import { createImportBatch } from './import-batch';
import { openSource, type SourceSettings } from './sources';

export interface ActivityDeps {
  store: ContactStore;
  sealer: TokenSealer;
  /** What sources read from the worker's configuration (base URLs; never credentials). */
  sources: SourceSettings;
  /** Which source serves a provider; the registry in `./sources` unless a test swaps it. */
  openSource?: typeof openSource;
  /** How often a batch heartbeats while it waits on a slow page; below the heartbeat timeout. */
  keepAliveHeartbeatMs?: number;
}

export function createActivities(deps: ActivityDeps) {
  return {
    importBatch: createImportBatch({ ...deps, openSource: deps.openSource ?? openSource }),
  };
}

export type ImportActivities = ReturnType<typeof createActivities>;
