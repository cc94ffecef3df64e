/**
 * Imports backed by Temporal: the {@link Imports} the API serves in production. An import is one
 * continue-as-new chain of the `ImportContacts` workflow; its `importId` names the chain (provider,
 * user, first run id), so it keeps answering after the same user starts a newer import.
 */
import type { Client } from '@temporalio/client';
import { STATUS_DEFAULTS } from '../../config/defaults';
import type { TokenSealer } from '../../config/token-seal';
import { TASK_QUEUE, type ImportTuning } from '../../workflows/contract';
import type { ImportView } from '../schemas';
import { createImportCommands } from './commands';
import { SharedReads } from './shared-reads';
import { createStatusReader } from './status-reader';
import type { Imports, TemporalPing } from './types';

export type { Imports, StartedImport, StartImportRequest, TemporalPing } from './types';
export { decodeImportId, encodeImportId, type ImportRef } from './import-id';

export interface TemporalImportsOptions {
  client: Client;
  sealer: TokenSealer;
  tuning: ImportTuning;
  taskQueue?: string;
  /** How long to wait for a worker to answer the status query before answering from the memo. */
  queryTimeoutMs?: number;
  /** A status younger than this is answered again without asking Temporal. */
  statusFreshMs?: number;
  /** A status younger than this is answered while a fresher one is being fetched. */
  statusStaleMs?: number;
}

export function createTemporalImports(options: TemporalImportsOptions): Imports {
  const readStatus = createStatusReader({
    client: options.client,
    queryTimeoutMs: options.queryTimeoutMs ?? STATUS_DEFAULTS.queryTimeoutMs,
  });
  const statuses = new SharedReads<ImportView>(readStatus, {
    freshMs: options.statusFreshMs ?? STATUS_DEFAULTS.freshMs,
    staleMs: options.statusStaleMs ?? STATUS_DEFAULTS.staleMs,
  });
  const commands = createImportCommands({
    client: options.client,
    sealer: options.sealer,
    tuning: options.tuning,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    readStatus,
    onChanged: (importId) => statuses.forget(importId),
  });
  return { ...commands, get: (importId) => statuses.get(importId) };
}

/** {@link TemporalPing} over a client: the cheapest call every frontend answers. */
export function temporalPing(client: Client): TemporalPing {
  return {
    async ping(deadline) {
      await client.withDeadline(deadline, () => client.workflowService.getSystemInfo({}));
    },
  };
}
