/**
 * Reading one import's status from Temporal: the `status` query while a worker answers, else the
 * workflow's memo and Temporal's record of how the run ended. Both answers are parsed with the
 * contract's schemas: they come from workflow code that may be older or newer than this API.
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { EMPTY_CHECKPOINT, furthest, statusCounts, type StatusCounts } from '../../workflows/checkpoint';
import {
  importKey,
  ImportMemo,
  parseOrNull,
  RunStatus,
  statusQuery,
  type ImportStatus,
} from '../../workflows/contract';
import { ApiError } from '../errors';
import type { ImportView } from '../schemas';
import { currentRunOfChain } from './chain';
import { isProviderId } from '../../providers';
import { resolveImportId } from '../../workflows/import-id';
import type { StoredImportState } from '../../db/types';
import { STATUS_DEFAULTS } from '../../config/defaults';
import { etaOf, rateOf, waiting, waitingOf, withBudgetWait } from './progress';
import { cacheKey } from './shared-reads';

export const importNotFound = (importId: string) =>
  new ApiError(404, 'import_not_found', `No import with id "${importId}"`);

export interface StatusReaderOptions {
  client: Client;
  /** How long to wait for a worker to answer the status query before answering from the memo. */
  queryTimeoutMs: number;
  /** Where a value that does not parse is reported (counts and times only: never PII). */
  warn?: (message: string) => void;
  /**
   * What the store holds of an import, by its import key, in one read (`store.importStates.read`):
   * the checkpoint committed with its last saved page, when a batch attempt last failed, and the
   * latest closure among its budget keys. The workflow's counts (query and memo) move when a batch
   * ends, so they can be a batch behind what is stored, and the memo behind the query: with this, a
   * status answered from the memo (no worker answering in time) does not step back after one from
   * the query; a running import that saves pages and has no failure since is known to be moving
   * without asking Temporal; and every import on a key a provider closed says so, until when.
   */
  storedState?: (tenant: string, importKey: string) => Promise<StoredImportState>;
  /**
   * A running import whose last page was saved longer ago than this may be waiting for a reason
   * the store does not know (a worker that died mid-batch): its status asks Temporal (`describe`).
   */
  quietMs?: number;
}

export type ReadStatus = (tenant: string, importId: string) => Promise<ImportView>;

/** What {@link withStored} learnt from the store, beside the counts it took. */
interface Stored<S> {
  status: S;
  /** The stored state; absent when there is no store or it did not answer. */
  state?: StoredImportState;
}

/**
 * `status` brought up to the stored checkpoint (`furthest`), so a progress bar never steps back
 * whichever API process or path answers. In every state: the checkpoint is exact for the pages
 * committed, and an import that ended (cancelled, terminated, failed) before its workflow heard of
 * its last pages has a memo behind them. A store that does not answer leaves `status` as it is.
 */
async function withStored<S extends StatusCounts>(
  storedState: StatusReaderOptions['storedState'],
  tenant: string,
  key: string,
  status: S,
): Promise<Stored<S>> {
  if (!storedState) return { status };
  try {
    const state = await storedState(tenant, key);
    return { status: furthest(status, state.progress?.checkpoint ?? null), state };
  } catch {
    return { status };
  }
}

/** When the import last saved a page, for `waitingOf`: `null` for never, absent without word from the store. */
const savedAtOf = (state: StoredImportState | undefined) => (state ? (state.progress?.updatedAt ?? null) : undefined);

/**
 * Whether a running import's status has to ask Temporal why it may be waiting: unless the store
 * shows it moving (a page saved within `quietMs`, and no batch attempt failed since), or the store
 * did not answer.
 */
export function mayBeWaiting(state: StoredImportState | undefined, now: number, quietMs: number): boolean {
  const progress = state?.progress;
  if (!progress) return true;
  if (progress.failedSinceSave) return true;
  return !(now - Date.parse(progress.updatedAt) <= quietMs);
}

/** Import keys of the import ids answered lately, by tenant and id: forgotten all at once when full. */
const storedKeys = new Map<string, string | null>();

/**
 * The import key `importId` names for `tenant`, or `null` when it names none of theirs; remembered,
 * because every status answer needs it and a client polls the same id (decoding it is a base64
 * decode, a JSON parse and a schema check).
 */
function storedKeyOf(tenant: string, importId: string): string | null {
  const memo = cacheKey(tenant, importId);
  let key = storedKeys.get(memo);
  if (key === undefined) {
    const ref = resolveImportId(tenant, importId, isProviderId);
    key = ref && importKey(ref.workflowId, ref.firstRunId);
    if (storedKeys.size >= STATUS_DEFAULTS.importsRemembered) storedKeys.clear();
    storedKeys.set(memo, key);
  }
  return key;
}

/**
 * A status read earlier (a shared, cached answer: `shared-reads.ts`) brought up to what the store
 * says now, in one read: the checkpoint stored with the last page, and any closed budget of the
 * import's. Several API processes each cache their own answers: with this, a client whose requests
 * alternate between them never sees the count go back by the pages one process's answer is behind
 * the other's, and a provider's pause shows at once.
 */
export async function withStoredState(
  storedState: StatusReaderOptions['storedState'],
  tenant: string,
  importId: string,
  view: ImportView,
): Promise<ImportView> {
  const key = storedKeyOf(tenant, importId);
  if (key === null) return view;
  const { status, state } = await withStored(storedState, tenant, key, view);
  return withBudgetWait(status, state?.wait ?? null);
}

export function createStatusReader({
  client,
  queryTimeoutMs,
  warn = console.warn,
  storedState,
  quietMs = STATUS_DEFAULTS.quietMs,
}: StatusReaderOptions): ReadStatus {
  const aheadOf = (tenant: string, key: string, status: ImportStatus) => withStored(storedState, tenant, key, status);

  return async function readStatus(tenant, importId) {
    const ref = resolveImportId(tenant, importId, isProviderId);
    if (!ref) throw importNotFound(importId);
    const { workflowId } = ref;
    const base = { importId, workflowId, userId: ref.userId, provider: ref.provider };
    // Temporal's record of the pending batch (attempt, last failure, next attempt time) says why a
    // running import is not moving; answered by the server alone, and only asked when needed.
    const describe = () =>
      client.workflow
        .getHandle(workflowId)
        .describe()
        .then((d) => (d.raw.workflowExecutionInfo?.firstRunId === ref.firstRunId ? d : undefined))
        .catch(() => undefined);

    // Fast path: the newest run under this workflow ID is usually our chain, still running.
    // NOT_OPEN (set on the client) makes the server reject the query at once for a closed run.
    try {
      const answer: unknown = await client.withDeadline(Date.now() + queryTimeoutMs, () =>
        client.workflow.getHandle(workflowId).query(statusQuery),
      );
      const live = parseOrNull(RunStatus, answer);
      if (live.value === null) warn(`api: ignoring a status query answer for ${workflowId} that does not parse (${live.problem})`);
      else if (live.value.firstExecutionRunId === ref.firstRunId) {
        const { runId, firstExecutionRunId: _first, samples, ...answered } = live.value;
        const { status, state } = await aheadOf(tenant, importKey(workflowId, ref.firstRunId), answered);
        const now = Date.now();
        const rate = status.state === 'running' ? rateOf(samples, status.saved, now) : undefined;
        const description = status.state === 'running' && mayBeWaiting(state, now, quietMs) ? await describe() : undefined;
        const why = waitingOf(status, description, savedAtOf(state));
        const eta = etaOf(status, rate, why);
        return {
          ...base,
          runId,
          ...status,
          ...(rate !== undefined ? { rate } : {}),
          ...(eta !== undefined ? { etaSeconds: eta } : {}),
          ...(why ? { waiting: why } : {}),
        };
      }
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw importNotFound(importId);
      // Closed, a newer import, or no worker answering: Temporal's own records answer below.
    }

    const description = (await describe()) ?? (await currentRunOfChain(client, workflowId, ref.firstRunId));
    if (!description) throw importNotFound(importId);
    const { status, state } = await aheadOf(tenant, importKey(workflowId, ref.firstRunId), statusFromDescription(description, warn));
    const savedAt = savedAtOf(state);
    // Running, yet no worker answered the query: nothing runs it (or nothing can, as deployed).
    const why =
      description.status.name === 'RUNNING' && status.state === 'running'
        ? (waitingOf(status, description, savedAt) ?? waiting('worker_unavailable', status))
        : waitingOf(status, description, savedAt);
    return { ...base, runId: description.runId, ...status, ...(why ? { waiting: why } : {}) };
  };
}

/** What Temporal records of a run, by `describe` or in a listing, that a status is read from. */
export type RunRecord = Pick<WorkflowExecutionDescription, 'workflowId' | 'memo' | 'startTime' | 'closeTime'> & {
  status: { name: WorkflowExecutionDescription['status']['name'] };
};

/** Status from `describe` (or a listing): the memo the workflow keeps current, and how the run ended. */
export function statusFromDescription(description: RunRecord, warn: (message: string) => void = console.warn): ImportStatus {
  const memo = parseOrNull(ImportMemo, description.memo ?? {});
  if (memo.value === null) warn(`api: ignoring the memo of ${description.workflowId}, which does not parse (${memo.problem})`);
  const progress = memo.value?.progress;
  const startedAt = progress?.startedAt ?? description.startTime.toISOString();
  const status: ImportStatus = {
    state: progress?.state ?? 'running',
    ...statusCounts(progress ?? EMPTY_CHECKPOINT),
    startedAt,
    updatedAt: progress?.updatedAt ?? startedAt,
  };
  const closedAt = progress?.completedAt ?? description.closeTime?.toISOString();
  switch (description.status.name) {
    case 'RUNNING':
      // Paused and needs_reauth are open states the memo knows; anything else open is running.
      if (status.state === 'needs_reauth') {
        return { ...status, error: progress?.error, errorType: progress?.errorType, reauthBy: progress?.reauthBy };
      }
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
      return {
        ...status,
        state: 'failed',
        completedAt: closedAt,
        error: progress?.error ?? 'The import failed',
        ...(progress?.errorType ? { errorType: progress.errorType } : {}),
      };
  }
}
