/**
 * Everything the API asks Temporal about imports. An import is one continue-as-new chain of the
 * `ImportContacts` workflow; its `importId` names the chain (provider, user, first run id), so it
 * keeps answering after the same user starts a newer import under the same workflow ID.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TokenSealer } from '../config/token-seal';
import {
  MEMO_PROGRESS_KEY,
  MEMO_START_TOKEN_KEY,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  importWorkflowId,
  pauseSignal,
  resumeSignal,
  searchAttributes,
  statusQuery,
  type ImportInput,
  type ImportStatus,
  type ImportTuning,
  type Provider,
} from '../workflows/contract';
import { ApiError } from './errors';
import { decodeImportId, encodeImportId } from './import-id';

/** An import as the API shows it. */
export interface ImportView extends ImportStatus {
  importId: string;
  workflowId: string;
  runId: string;
  userId: string;
  provider: Provider;
}

export interface ImportServiceOptions {
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

interface CachedStatus {
  view?: ImportView;
  at: number;
  refreshing?: Promise<ImportView>;
}

const notFound = (importId: string) => new ApiError(404, 'import_not_found', `No import with id "${importId}"`);
const notRunning = (view: ImportView, action: string) =>
  new ApiError(409, 'import_not_running', `Cannot ${action} import ${view.importId}: it is ${view.state}`);

export class ImportService {
  private readonly client: Client;
  private readonly sealer: TokenSealer;
  private readonly tuning: ImportTuning;
  private readonly taskQueue: string;
  private readonly queryTimeoutMs: number;
  private readonly statusFreshMs: number;
  private readonly statusStaleMs: number;
  private readonly statuses = new Map<string, CachedStatus>();

  constructor(options: ImportServiceOptions) {
    this.client = options.client;
    this.sealer = options.sealer;
    this.tuning = options.tuning;
    this.taskQueue = options.taskQueue ?? TASK_QUEUE;
    this.queryTimeoutMs = options.queryTimeoutMs ?? 2_000;
    this.statusFreshMs = options.statusFreshMs ?? 250;
    this.statusStaleMs = options.statusStaleMs ?? 2_000;
  }

  /**
   * Starts an import, or returns the one already running for this user and provider. The workflow
   * ID plus the USE_EXISTING conflict policy make that atomic in Temporal: no app-side lock, and a
   * burst of refreshes still yields one import.
   */
  async start(userId: string, provider: Provider, accessToken: string): Promise<{ created: boolean; view: ImportView }> {
    const workflowId = importWorkflowId(provider, userId);
    const startedAt = new Date().toISOString();
    // Tells our start apart from an existing run returned by USE_EXISTING (the SDK does not expose
    // the server's `started` flag). Random, not secret.
    const startToken = randomBytes(12).toString('base64url');
    const input: ImportInput = {
      userId,
      provider,
      sealedAccessToken: this.sealer.seal(accessToken),
      tuning: this.tuning,
      startedAt,
    };
    const handle = await this.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: this.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      // A finished import (whatever its outcome) may be followed by a new one.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      memo: { [MEMO_START_TOKEN_KEY]: startToken },
      typedSearchAttributes: [
        { key: searchAttributes.userId, value: userId },
        { key: searchAttributes.provider, value: provider },
        { key: searchAttributes.state, value: 'running' },
        { key: searchAttributes.contactsSaved, value: 0 },
      ],
      staticSummary: `Import ${provider} contacts for user ${userId}`,
      staticDetails: [
        `**User** ${userId} · **Provider** ${provider}`,
        `Pages of ${this.tuning.pageSize} contacts, ${this.tuning.pagesPerBatch} pages per batch.`,
        'Query `status` for progress; signal `pause` / `resume`; cancel to stop between batches.',
      ].join('\n\n'),
    });
    const description = await handle.describe();
    const created = description.memo?.[MEMO_START_TOKEN_KEY] === startToken;
    const firstRunId = description.raw.workflowExecutionInfo?.firstRunId || handle.firstExecutionRunId;
    const importId = encodeImportId({ provider, userId, firstRunId });
    if (created) {
      const view: ImportView = {
        importId,
        workflowId,
        runId: description.runId,
        userId,
        provider,
        state: 'running',
        fetched: 0,
        saved: 0,
        pages: 0,
        total: null,
        startedAt,
        updatedAt: startedAt,
      };
      return { created, view };
    }
    return { created, view: await this.get(importId) };
  }

  /**
   * The import's status, as {@link read} gets it, shared between callers: a workflow answers its
   * queries one at a time, so a web app polling from many tabs would otherwise queue behind itself.
   * Callers within {@link statusFreshMs} share one answer; up to {@link statusStaleMs} they get the
   * last answer while one fetch refreshes it. Progress moves per batch, so this hides little.
   */
  async get(importId: string): Promise<ImportView> {
    const now = Date.now();
    const cached = this.statuses.get(importId);
    const age = cached?.view ? now - cached.at : Infinity;
    if (cached?.view && age < this.statusFreshMs) return cached.view;
    const refresh = () => {
      const entry: CachedStatus = cached ?? { at: 0 };
      entry.refreshing ??= this.read(importId).then(
        (view) => {
          Object.assign(entry, { view, at: Date.now(), refreshing: undefined });
          return view;
        },
        (err: unknown) => {
          this.statuses.delete(importId);
          throw err;
        },
      );
      this.statuses.set(importId, entry);
      return entry.refreshing;
    };
    if (this.statuses.size > 10_000) this.forgetStatusesOlderThan(now - this.statusStaleMs);
    if (cached?.view && age < this.statusStaleMs) {
      refresh().catch(() => undefined);
      return cached.view;
    }
    return refresh();
  }

  private forgetStatusesOlderThan(time: number): void {
    for (const [id, entry] of this.statuses) if (!entry.refreshing && entry.at < time) this.statuses.delete(id);
  }

  /** The import's status: from the `status` query while it runs, from Temporal's records after. */
  private async read(importId: string): Promise<ImportView> {
    const ref = decodeImportId(importId);
    if (!ref) throw notFound(importId);
    const workflowId = importWorkflowId(ref.provider, ref.userId);
    const base = { importId, workflowId, userId: ref.userId, provider: ref.provider };

    // Fast path: the newest run under this workflow ID is usually our chain, still running.
    // NOT_OPEN (set on the client) makes the server reject the query at once for a closed run.
    try {
      const live = await this.client.withDeadline(Date.now() + this.queryTimeoutMs, () =>
        this.client.workflow.getHandle(workflowId).query(statusQuery),
      );
      if (live.firstExecutionRunId === ref.firstRunId) {
        const { runId, firstExecutionRunId: _first, ...status } = live;
        return { ...base, runId, ...status };
      }
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(importId);
      // Closed, a newer import, or no worker answering: Temporal's own records answer below.
    }

    const description = await this.currentRun(workflowId, ref.firstRunId);
    if (!description) throw notFound(importId);
    return { ...base, runId: description.runId, ...statusFromDescription(description) };
  }

  async pause(importId: string): Promise<ImportView> {
    return this.act(importId, 'pause');
  }

  async resume(importId: string): Promise<ImportView> {
    return this.act(importId, 'resume');
  }

  /** Requests Temporal cancellation; the workflow stops at the next page and closes as cancelled. */
  async cancel(importId: string): Promise<ImportView> {
    return this.act(importId, 'cancel');
  }

  /**
   * Sends the signal or cancellation to the run that is current for this import, by run id, so it
   * can never reach a newer import under the same workflow ID. Should that run close in between
   * (it finished, or continued as new), the import is read again once.
   */
  private async act(importId: string, action: 'pause' | 'resume' | 'cancel'): Promise<ImportView> {
    for (let attempt = 1; ; attempt += 1) {
      const view = await this.read(importId);
      if (view.state !== 'running' && view.state !== 'paused') throw notRunning(view, action);
      const handle = this.client.workflow.getHandle(view.workflowId, view.runId);
      try {
        if (action === 'cancel') await handle.cancel();
        else await handle.signal(action === 'pause' ? pauseSignal : resumeSignal);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        if (attempt < 2) continue;
        throw notRunning(await this.read(importId), action);
      }
      this.statuses.delete(importId);
      return view;
    }
  }

  /** The current run of the chain that started with `firstRunId`, or `null` if there is none. */
  private async currentRun(workflowId: string, firstRunId: string): Promise<WorkflowExecutionDescription | null> {
    // The newest run under this ID is ours when it shares our first run: that covers continue-as-new
    // and operator resets (a reset run keeps the first run id but no close event links to it).
    try {
      const latest = await this.client.workflow.getHandle(workflowId).describe();
      if (latest.raw.workflowExecutionInfo?.firstRunId === firstRunId) return latest;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
    // A newer import replaced ours under this workflow ID: walk our chain from its first run.
    let runId = firstRunId;
    for (;;) {
      let description: WorkflowExecutionDescription;
      try {
        description = await this.client.workflow.getHandle(workflowId, runId).describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
      if (description.status.name !== 'CONTINUED_AS_NEW') return description;
      const { history } = await this.client.workflowService.getWorkflowExecutionHistory({
        namespace: this.client.options.namespace,
        execution: { workflowId, runId },
        historyEventFilterType: temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
      });
      const next = history?.events?.[0]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (!next) return description;
      runId = next;
    }
  }
}

/** Status from `describe`: the memo the workflow keeps current, and how the run ended. */
function statusFromDescription(description: WorkflowExecutionDescription): ImportStatus {
  const memo = description.memo?.[MEMO_PROGRESS_KEY] as Partial<ImportStatus> | undefined;
  const startedAt = memo?.startedAt ?? description.startTime.toISOString();
  const status: ImportStatus = {
    state: memo?.state ?? 'running',
    fetched: memo?.fetched ?? 0,
    saved: memo?.saved ?? 0,
    pages: memo?.pages ?? 0,
    total: memo?.total ?? null,
    startedAt,
    updatedAt: memo?.updatedAt ?? startedAt,
  };
  const closedAt = memo?.completedAt ?? description.closeTime?.toISOString();
  switch (description.status.name) {
    case 'RUNNING':
      if (status.state !== 'paused') status.state = 'running';
      return status;
    case 'COMPLETED':
      return { ...status, state: 'completed', completedAt: closedAt };
    case 'CANCELLED':
      return { ...status, state: 'cancelled', completedAt: closedAt };
    case 'TERMINATED':
      return { ...status, state: 'failed', completedAt: closedAt, error: 'The import was terminated by an operator' };
    case 'TIMED_OUT':
      return { ...status, state: 'failed', completedAt: closedAt, error: 'The import timed out' };
    default:
      return { ...status, state: 'failed', completedAt: closedAt, error: memo?.error ?? 'The import failed' };
  }
}
