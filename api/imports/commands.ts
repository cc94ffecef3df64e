/**
 * What the API asks Temporal to do with an import: start it (or find the one already running),
 * pause, resume and cancel it.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { TokenSealer } from '../../encryption/token-seal';
import { ImportContacts } from '../../workflows';
import {
  ImportMemo,
  importWorkflowId,
  MEMO_KEYS,
  parseOrNull,
  pauseSignal,
  resumeSignal,
  searchAttributes,
  type ImportInput,
  type ImportTuning,
} from '../../workflows/contract';
import { WEBHOOK_DEFAULTS } from '../../config/defaults';
import type { ConnectionStore } from '../../db/connections';
import { ApiError } from '../errors';
import { sealCredentials } from './credentials';
import type { ImportView } from '../schemas';
import type { ProviderId } from '../../providers';
import { encodeImportId, type ImportRef } from '../../workflows/import-id';
import type { ReadStatus } from './status-reader';
import type { StartedImport, StartImportRequest } from './types';

export interface ImportCommandsOptions {
  client: Client;
  sealer: TokenSealer;
  tuning: ImportTuning;
  taskQueue: string;
  /** Reads an import's status straight from Temporal (no shared cache: commands act on the truth). */
  readStatus: ReadStatus;
  /** Called after a command reached the import, so cached status is not served from before it. */
  onChanged: (tenant: string, importId: string) => void;
  /** Where refresh tokens are kept, sealed, as connections (db/connections.ts); without it, a source with one is refused. */
  connections?: ConnectionStore;
  /** First retry of a refused webhook delivery (`WEBHOOK_DEFAULTS`; tests shorten it). */
  webhookRetryInitialMs?: number;
}

type Action = 'pause' | 'resume' | 'cancel';

/** An import just started: running, nothing fetched yet. */
export function newImportView(ref: Omit<ImportRef<ProviderId>, 'workflowId'>, runId: string, startedAt: string): ImportView {
  return {
    importId: encodeImportId(ref),
    workflowId: importWorkflowId(ref, ref.provider),
    runId,
    userId: ref.userId,
    provider: ref.provider,
    state: 'running',
    fetched: 0,
    saved: 0,
    rejected: 0,
    pages: 0,
    total: null,
    startedAt,
    updatedAt: startedAt,
  };
}

const notRunning = (view: ImportView, action: Action) =>
  new ApiError(409, 'import_not_running', `Cannot ${action} import ${view.importId}: it is ${view.state}`);

export function createImportCommands(options: ImportCommandsOptions) {
  const { client, sealer, tuning, taskQueue, readStatus } = options;

  /**
   * Starts an import, or returns the one already running for this user and provider. The workflow
   * ID plus the USE_EXISTING conflict policy make that atomic in Temporal: no app-side lock, and a
   * burst of refreshes still yields one import.
   */
  async function start(tenant: string, { userId, source, notify, mode }: StartImportRequest): Promise<StartedImport> {
    const { provider } = source;
    const workflowId = importWorkflowId({ tenant, userId }, provider);
    const startedAt = new Date().toISOString();
    // Tells our start apart from an existing run returned by USE_EXISTING (the SDK does not expose
    // the server's `started` flag). Random, not secret.
    const startToken = randomBytes(12).toString('base64url');
    // Before the start: a refresh token goes to the store first, where the import's first batch looks for it.
    const sealedCredentials = await sealCredentials(options.connections, sealer, { tenant, userId }, source);
    const input: ImportInput = {
      tenant,
      userId,
      provider,
      sealedCredentials,
      tuning,
      startedAt,
      // Resolved by the first batch (activities/import-sync.ts); the status then says which ran.
      mode: mode ?? 'auto',
      // The URL the API resolved (the request's, or the tenant's default): events go there at the end.
      ...(notify ? { notify: { url: notify.url, retryInitialIntervalMs: options.webhookRetryInitialMs ?? WEBHOOK_DEFAULTS.retryInitialIntervalMs } } : {}),
    };
    const memo: ImportMemo = { [MEMO_KEYS.startToken]: startToken };
    const handle = await client.workflow.start(ImportContacts, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      // A finished import (whatever its outcome) may be followed by a new one.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      // Temporal's fairness: its workflow tasks (and batches) take turns with other tenants'.
      priority: { fairnessKey: tenant },
      memo,
      typedSearchAttributes: [
        { key: searchAttributes.tenant, value: tenant },
        { key: searchAttributes.userId, value: userId },
        { key: searchAttributes.provider, value: provider },
        { key: searchAttributes.state, value: 'running' },
        { key: searchAttributes.contactsSaved, value: 0 },
      ],
      staticSummary: `Import ${provider} contacts for user ${userId} of ${tenant}`,
      staticDetails: [
        `**Tenant** ${tenant} · **User** ${userId} · **Provider** ${provider}`,
        `Pages of ${tuning.pageSize} contacts, ${tuning.pagesPerBatch} pages per batch.`,
        'Query `status` for progress; signal `pause` / `resume`; cancel to stop. Both stop the running batch at its next page.',
      ].join('\n\n'),
    });
    const description = await handle.describe();
    const created = parseOrNull(ImportMemo, description.memo ?? {}).value?.startToken === startToken;
    const firstRunId = description.raw.workflowExecutionInfo?.firstRunId || handle.firstExecutionRunId;
    const importId = encodeImportId({ tenant, provider, userId, firstRunId });
    if (!created) return { created, view: await readStatus(tenant, importId) };
    return { created, view: newImportView({ tenant, provider, userId, firstRunId }, description.runId, startedAt) };
  }

  /**
   * Sends the signal or cancellation to the run that is current for this import, by run id, so it
   * can never reach a newer import under the same workflow ID. Should that run close in between
   * (it finished, or continued as new), the import is read again once.
   */
  async function act(tenant: string, importId: string, action: Action): Promise<ImportView> {
    for (let attempt = 1; ; attempt += 1) {
      const view = await readStatus(tenant, importId);
      // An import waiting for new credentials is still open: it can be cancelled (or paused) too.
      if (view.state !== 'running' && view.state !== 'paused' && view.state !== 'needs_reauth') throw notRunning(view, action);
      const handle = client.workflow.getHandle(view.workflowId, view.runId);
      try {
        if (action === 'cancel') await handle.cancel();
        else await handle.signal(action === 'pause' ? pauseSignal : resumeSignal);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        if (attempt < 2) continue;
        throw notRunning(await readStatus(tenant, importId), action);
      }
      options.onChanged(tenant, importId);
      return view;
    }
  }

  return {
    start,
    pause: (tenant: string, importId: string) => act(tenant, importId, 'pause'),
    resume: (tenant: string, importId: string) => act(tenant, importId, 'resume'),
    /** Requests Temporal cancellation; the workflow stops at the next page and closes as cancelled. */
    cancel: (tenant: string, importId: string) => act(tenant, importId, 'cancel'),
  };
}
