/**
 * Imports backed by Temporal: the {@link Imports} the API serves in production. An import is one
 * continue-as-new chain of the `ImportContacts` workflow; its `importId` names the chain (tenant,
 * provider, user, first run id; `workflows/import-id.ts`), so it keeps answering after the same user starts a newer import.
 */
import type { Client } from '@temporalio/client';
import { STATUS_DEFAULTS, TEMPORAL_OUTAGE_DEFAULTS } from '../../config/defaults';
import type { TokenSealer } from '../../encryption/token-seal';
import { TASK_QUEUE, type ImportTuning } from '../../workflows/contract';
import { TemporalUnavailableError } from '../errors';
import type { ImportView } from '../schemas';
import type { ConnectionStore } from '../../db/connections';
import { createImportCommands } from './commands';
import { createCredentialRenewal, createWaitingRenewal } from './credentials';
import { createImportList } from './list';
import { cacheKey, readAfterCall, SharedReads, splitKey } from './shared-reads';
import { createStatusReader, withStoredState, type StatusReaderOptions } from './status-reader';
import type { Imports, TemporalPing } from './types';

export type { Erasure, Imports, StartedImport, StartImportRequest, TemporalPing } from './types';
export { createTemporalErasure } from './erasure';
export { newImportView } from './commands';

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
  /** A running import that saved no page for this long has its status ask Temporal why (`STATUS_DEFAULTS.quietMs`). */
  statusQuietMs?: number;
  /**
   * Longest one call (a status, a start, a command) waits on Temporal, all its requests together,
   * before it fails as Temporal unavailable (503). Must exceed `queryTimeoutMs`.
   */
  callBudgetMs?: number;
  /**
   * Whether Temporal answers, from a connection monitor (`observability/connection-monitor.ts`).
   * While it says no, every call fails at once with {@link TemporalUnavailableError} instead of waiting.
   */
  isTemporalUp?: () => boolean;
  /** First retry of a refused webhook delivery (`WEBHOOK_DEFAULTS` unless given). */
  webhookRetryInitialMs?: number;
  /** Where refresh tokens are kept, sealed, as connections (`store.connections`); without it, sources with one are refused (422). */
  connections?: ConnectionStore;
  /**
   * What the store holds of an import, in one read (`store.importStates.read`): a status is never
   * behind its stored checkpoint, asks Temporal why it waits only when the store cannot show it
   * moving, and says `rate_limited` while a budget of the import's is closed.
   */
  storedState?: StatusReaderOptions['storedState'];
}

export function createTemporalImports(options: TemporalImportsOptions): Imports {
  // Every status reads the store; concurrent reads of one import's state share one statement.
  const readState = options.storedState;
  const sharedState = readState && readAfterCall((key) => readState(...splitKey(key)));
  const storedState = sharedState && ((tenant: string, key: string) => sharedState(cacheKey(tenant, key)));
  const readStatus = createStatusReader({
    client: options.client,
    queryTimeoutMs: options.queryTimeoutMs ?? STATUS_DEFAULTS.queryTimeoutMs,
    storedState,
    quietMs: options.statusQuietMs,
  });
  // Keyed by import id, which names its tenant: readStatus refuses it for any other tenant.
  const statuses = new SharedReads<ImportView>((key) => readStatus(...splitKey(key)), {
    freshMs: options.statusFreshMs ?? STATUS_DEFAULTS.freshMs,
    staleMs: options.statusStaleMs ?? STATUS_DEFAULTS.staleMs,
  });
  const commands = createImportCommands({
    client: options.client,
    sealer: options.sealer,
    tuning: options.tuning,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    readStatus,
    onChanged: (tenant, importId) => statuses.forget(cacheKey(tenant, importId)),
    webhookRetryInitialMs: options.webhookRetryInitialMs,
    connections: options.connections,
  });
  const renewCredentials = createCredentialRenewal({
    client: options.client,
    sealer: options.sealer,
    connections: options.connections,
    readStatus,
    onChanged: (tenant, importId) => statuses.forget(cacheKey(tenant, importId)),
  });
  const renewWaiting = createWaitingRenewal(options.client, renewCredentials);
  const list = createImportList({ client: options.client, sealer: options.sealer });
  const budgetMs = options.callBudgetMs ?? TEMPORAL_OUTAGE_DEFAULTS.callBudgetMs;
  // One deadline for every request a call makes to Temporal (the client keeps it in async context):
  // without it, a call to a server that is down waits out the SDK's retries, 20 s and more.
  const bounded =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      if (options.isTemporalUp?.() === false) return Promise.reject(new TemporalUnavailableError());
      return options.client.withDeadline(Date.now() + budgetMs, () => call(...args));
    };
  return {
    start: bounded(commands.start),
    pause: bounded(commands.pause),
    resume: bounded(commands.resume),
    cancel: bounded(commands.cancel),
    // Two status reads around an update a worker must run: more than one call's budget.
    renewCredentials: (...args: Parameters<typeof renewCredentials>) => {
      if (options.isTemporalUp?.() === false) return Promise.reject(new TemporalUnavailableError());
      return options.client.withDeadline(Date.now() + 4 * budgetMs, () => renewCredentials(...args));
    },
    // A describe before the renewal above.
    renewWaiting: (...args: Parameters<typeof renewWaiting>) => {
      if (options.isTemporalUp?.() === false) return Promise.reject(new TemporalUnavailableError());
      return options.client.withDeadline(Date.now() + 5 * budgetMs, () => renewWaiting(...args));
    },
    list: bounded(list),
    // The Temporal part of a status is shared and cached; the store's checkpoint and budget closure
    // are read fresh (one statement), so no process answers behind what another already said.
    get: bounded(async (tenant: string, importId: string) =>
      withStoredState(storedState, tenant, importId, await statuses.get(cacheKey(tenant, importId))),
    ),
  };
}

/** {@link TemporalPing} over a client: the cheapest call every frontend answers. */
export function temporalPing(client: Client): TemporalPing {
  return {
    async ping(deadline) {
      await client.withDeadline(deadline, () => client.workflowService.getSystemInfo({}));
    },
  };
}
