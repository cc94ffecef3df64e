/**
 * `GET /v1/imports`: a tenant's imports, through Temporal visibility. Every import sets the
 * `ImportTenant`, `ImportUserId` and `ImportProvider` search attributes when it starts and keeps
 * `ImportState` current, so one list query finds them; the tenant in it is the caller's, from its
 * key, never from the request. A chain that continued as new is listed once, as its current run.
 *
 * Each item is read from the run's record alone (its memo and how it ended), like a status while no
 * worker answers: a page costs one visibility call, however long the list.
 *
 * The cursor is Temporal's page token sealed with the tenant and the filters it was made for
 * (`encryption/token-seal.ts`): opaque, and refused (400) when altered or replayed elsewhere, before
 * Temporal sees it.
 */
import type { Client } from '@temporalio/client';
import { decodeMapFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { isProviderId } from '../../providers';
import { ImportMemo, parseOrNull, searchAttributes, WORKFLOW_TYPE } from '../../workflows/contract';
import { encodeImportId, refOfRun } from '../../workflows/import-id';
import { SealedTokenError, type TokenSealer } from '../../encryption/token-seal';
import { ApiError } from '../errors';
import type { ImportPage, ImportView, ListImportsQuery } from '../schemas';
import { statusFromDescription, type RunRecord } from './status-reader';

type RawExecution = temporal.api.workflow.v1.IWorkflowExecutionInfo;
const Status = temporal.api.enums.v1.WorkflowExecutionStatus;

/** A run's status as the SDK names it (`RunRecord`). */
const STATUS_NAMES: Partial<Record<number, RunRecord['status']['name']>> = {
  [Status.WORKFLOW_EXECUTION_STATUS_RUNNING]: 'RUNNING',
  [Status.WORKFLOW_EXECUTION_STATUS_COMPLETED]: 'COMPLETED',
  [Status.WORKFLOW_EXECUTION_STATUS_FAILED]: 'FAILED',
  [Status.WORKFLOW_EXECUTION_STATUS_CANCELED]: 'CANCELLED',
  [Status.WORKFLOW_EXECUTION_STATUS_TERMINATED]: 'TERMINATED',
  [Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT]: 'TIMED_OUT',
  [Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW]: 'CONTINUED_AS_NEW',
};

/**
 * How each state is found. An open import's state is its `ImportState` attribute; a closed one's is
 * how its run ended (an import terminated by an operator never said `failed` itself).
 */
const STATE_FILTERS: Record<ImportView['state'], string> = {
  running: `ExecutionStatus = 'Running' AND ${searchAttributes.state.name} = 'running'`,
  paused: `ExecutionStatus = 'Running' AND ${searchAttributes.state.name} = 'paused'`,
  needs_reauth: `ExecutionStatus = 'Running' AND ${searchAttributes.state.name} = 'needs_reauth'`,
  completed: `ExecutionStatus = 'Completed'`,
  cancelled: `ExecutionStatus = 'Canceled'`,
  failed: `ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut')`,
};

/** A value in a list query: the schemas allow no quote in any, and none is let through. */
function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** The visibility query for `tenant`'s imports that `query` filters. */
export function listQuery(tenant: string, query: Pick<ListImportsQuery, 'userId' | 'provider' | 'state'>): string {
  const clauses = [
    `WorkflowType = ${literal(WORKFLOW_TYPE)}`,
    `${searchAttributes.tenant.name} = ${literal(tenant)}`,
    // Each run a chain continued from is closed as ContinuedAsNew: the chain is its current run.
    `ExecutionStatus != 'ContinuedAsNew'`,
  ];
  if (query.userId !== undefined) clauses.push(`${searchAttributes.userId.name} = ${literal(query.userId)}`);
  if (query.provider !== undefined) clauses.push(`${searchAttributes.provider.name} = ${literal(query.provider)}`);
  if (query.state !== undefined) clauses.push(`(${STATE_FILTERS[query.state]})`);
  return clauses.join(' AND ');
}

export interface ImportListOptions {
  client: Client;
  /** Seals cursors. */
  sealer: TokenSealer;
  /** Where a run that does not parse is reported (counts and times only). */
  warn?: (message: string) => void;
}

/** `list(tenant, query)`: one page of the tenant's imports. */
const invalidCursor = () => new ApiError(400, 'invalid_cursor', 'cursor is not one this API issued for this listing');

export function createImportList({ client, sealer, warn = console.warn }: ImportListOptions) {
  /** What a cursor holds: the page token, and the query it continues. */
  const cursorOf = (query: string, token: Uint8Array) =>
    Buffer.from(sealer.seal(JSON.stringify({ query, token: Buffer.from(token).toString('base64url') }))).toString('base64url');
  function tokenOf(query: string, cursor: string): Uint8Array {
    let opened: unknown;
    try {
      opened = JSON.parse(sealer.open(Buffer.from(cursor, 'base64url').toString('utf8')));
    } catch (err) {
      if (err instanceof SealedTokenError || err instanceof SyntaxError) throw invalidCursor();
      throw err;
    }
    const { query: madeFor, token } = (opened ?? {}) as { query?: unknown; token?: unknown };
    if (madeFor !== query || typeof token !== 'string') throw invalidCursor();
    return Buffer.from(token, 'base64url');
  }

  /**
   * The chain a listed run belongs to: its memo says (`firstRunId`), else the server's record of the
   * run does (a describe, for runs that published no memo yet).
   */
  async function firstRunOf(workflowId: string, runId: string, memo: Record<string, unknown> | undefined): Promise<string> {
    const said = parseOrNull(ImportMemo, memo ?? {}).value?.firstRunId;
    if (said) return said;
    const described = await client.workflow.getHandle(workflowId, runId).describe();
    return described.raw.workflowExecutionInfo?.firstRunId || runId;
  }

  /** The import a listed run is the current run of, or `null` for a run that is not one we made. */
  async function viewOf(tenant: string, raw: RawExecution): Promise<ImportView | null> {
    const workflowId = raw.execution?.workflowId ?? '';
    const runId = raw.execution?.runId ?? '';
    const name = STATUS_NAMES[raw.status ?? 0];
    if (!name || !raw.startTime) return null;
    const memo = await decodeMapFromPayloads(client.options.loadedDataConverter, raw.memo?.fields);
    const ref = refOfRun(workflowId, await firstRunOf(workflowId, runId, memo), isProviderId);
    if (!ref || ref.tenant !== tenant) return null;
    const record: RunRecord = {
      workflowId,
      memo,
      startTime: new Date(Number(raw.startTime.seconds ?? 0) * 1000 + Math.floor((raw.startTime.nanos ?? 0) / 1e6)),
      closeTime: raw.closeTime ? new Date(Number(raw.closeTime.seconds ?? 0) * 1000 + Math.floor((raw.closeTime.nanos ?? 0) / 1e6)) : undefined,
      status: { name },
    };
    const status = statusFromDescription(record, warn);
    return { importId: encodeImportId(ref), workflowId, runId, userId: ref.userId, provider: ref.provider, ...status };
  }

  return async function list(tenant: string, query: ListImportsQuery): Promise<ImportPage> {
    const visibilityQuery = listQuery(tenant, query);
    const page = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query: visibilityQuery,
      pageSize: query.limit,
      nextPageToken: query.cursor === undefined ? undefined : tokenOf(visibilityQuery, query.cursor),
    });
    const views = await Promise.all(page.executions.map((raw) => viewOf(tenant, raw)));
    const token = page.nextPageToken;
    return {
      items: views.filter((view): view is ImportView => view !== null),
      nextCursor: token && token.length > 0 ? cursorOf(visibilityQuery, token) : null,
    };
  };
}
