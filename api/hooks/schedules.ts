/**
 * Sync schedules as Temporal Schedules: one per (tenant, provider, user), ID
 * `sync/{tenant}/{provider}/{userId}`. Each run starts `ScheduledSync`, which starts (or joins) the
 * user's import under its one workflow ID. Operators see them on the Web UI's Schedules page and
 * with `temporal schedule list`.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import { SCHEDULE_DEFAULTS, TEMPORAL_OUTAGE_DEFAULTS, WEBHOOK_DEFAULTS } from '../../config/defaults';
import type { TokenSealer } from '../../encryption/token-seal';
import { ScheduledSync } from '../../workflows';
import { parseOrNull, searchAttributes, type ImportTuning } from '../../workflows/contract';
import { ScheduledSyncResult, scheduledSyncWorkflowId, syncScheduleId, type ScheduledSyncInput } from '../../workflows/hooks-contract';
import { ApiError } from '../errors';
import { sealCredentials } from '../imports/credentials';
import type { ConnectionStore } from '../../db/connections';
import { SCHEDULE_PROVIDER_IDS, type ResolvedSource } from '../../providers';
import { encodeImportId } from '../../workflows/import-id';
import type { PutSyncBody, SyncView } from './schemas';

type SyncProvider = SyncView['provider'];

/** A `PUT` as the API hands it on: a connection source already looked up, of a provider that schedules. */
export type ScheduleRequest = Omit<PutSyncBody, 'source'> & { source: ResolvedSource & { provider: SyncProvider } };

/** What the HTTP layer needs of sync schedules (an interface, so contract tests can fake it). */
export interface SyncSchedules {
  /** Creates or replaces the schedule; `created` is `false` when one existed. */
  put(tenant: string, userId: string, request: ScheduleRequest): Promise<{ created: boolean; view: SyncView }>;
  /** The user's schedules (of `provider` only, when given). */
  list(tenant: string, userId: string, provider?: SyncProvider): Promise<SyncView[]>;
  /** Deletes the user's schedules (of `provider` only, when given); resolves to the providers whose went. */
  remove(tenant: string, userId: string, provider?: SyncProvider): Promise<SyncProvider[]>;
}

export interface TemporalSchedulesOptions {
  client: Client;
  sealer: TokenSealer;
  tuning: ImportTuning;
  taskQueue: string;
  /** Shortest `every` accepted (`SCHEDULE_DEFAULTS.minEveryMs`; tests allow seconds). */
  minEveryMs?: number;
  /** First retry of a refused webhook delivery, for the imports the schedule starts. */
  webhookRetryInitialMs?: number;
  /** Where a refresh token is kept, sealed, as a connection (as for `POST /v1/imports`); without it one is refused. */
  connections?: ConnectionStore;
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** `"6h"` in milliseconds. The schema has checked the shape. */
function parseEvery(every: string): number {
  return Number(every.slice(0, -1)) * UNIT_MS[every.slice(-1) as Unit];
}

/** Milliseconds as `every` is written: the largest unit that divides them. */
function formatEvery(ms: number): string {
  const unit = (['d', 'h', 'm', 's'] as const).find((u) => ms % UNIT_MS[u] === 0) ?? 's';
  return `${Math.max(1, Math.round(ms / UNIT_MS[unit]))}${unit}`;
}

export function createTemporalSchedules(options: TemporalSchedulesOptions): SyncSchedules {
  const { client, sealer, tuning, taskQueue } = options;
  const minEveryMs = options.minEveryMs ?? SCHEDULE_DEFAULTS.minEveryMs;
  // Like import calls, one deadline for every request of a call: a Temporal that is down answers 503.
  const bounded = <R>(call: () => Promise<R>) => client.withDeadline(Date.now() + TEMPORAL_OUTAGE_DEFAULTS.callBudgetMs * 2, call);

  /** The last run's import, when that run started one (two cheap reads of a closed workflow). */
  async function lastImportId(tenant: string, userId: string, provider: SyncProvider, description: ScheduleDescription): Promise<string | null> {
    const last = description.info.recentActions.at(-1)?.action;
    if (!last) return null;
    try {
      const handle = client.workflow.getHandle(last.workflow.workflowId, last.workflow.firstExecutionRunId);
      if ((await handle.describe()).status.name !== 'COMPLETED') return null;
      const result = parseOrNull(ScheduledSyncResult, await handle.result()).value;
      return result?.firstRunId ? encodeImportId({ tenant, provider, userId, firstRunId: result.firstRunId }) : null;
    } catch {
      return null;
    }
  }

  async function viewOf(tenant: string, userId: string, provider: SyncProvider, description: ScheduleDescription): Promise<SyncView> {
    const every = description.spec.intervals?.[0]?.every ?? 0;
    const last = description.info.recentActions.at(-1);
    return {
      userId,
      provider,
      scheduleId: syncScheduleId({ tenant, userId }, provider),
      every: formatEvery(every),
      jitterSeconds: Math.round((description.spec.jitter ?? 0) / 1000),
      paused: description.state.paused,
      nextRunTimes: description.info.nextActionTimes.slice(0, SCHEDULE_DEFAULTS.nextRuns).map((t) => t.toISOString()),
      lastRunAt: last ? last.takenAt.toISOString() : null,
      lastImportId: await lastImportId(tenant, userId, provider, description),
    };
  }

  async function describe(tenant: string, userId: string, provider: SyncProvider): Promise<SyncView | null> {
    try {
      const description = await client.schedule.getHandle(syncScheduleId({ tenant, userId }, provider)).describe();
      return await viewOf(tenant, userId, provider, description);
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return null;
      throw err;
    }
  }

  async function put(tenant: string, userId: string, { every, source, notify }: ScheduleRequest) {
    const everyMs = parseEvery(every);
    if (everyMs < minEveryMs) {
      throw new ApiError(422, 'validation_failed', `every: at least ${formatEvery(minEveryMs)} between syncs (got "${every}")`);
    }
    const { provider } = source;
    const owner = { tenant, userId };
    // Sealed like an import's (a refresh token goes to the store, and the input only notes it is
    // there); the payload codec encrypts the schedule's action on top.
    const sealedCredentials = await sealCredentials(options.connections, sealer, owner, source);
    const input: ScheduledSyncInput = {
      tenant,
      userId,
      provider,
      sealedCredentials,
      tuning,
      mode: 'incremental',
      ...(notify ? { notify: { url: notify.url, retryInitialIntervalMs: options.webhookRetryInitialMs ?? WEBHOOK_DEFAULTS.retryInitialIntervalMs } } : {}),
    };
    const spec = {
      intervals: [{ every: everyMs }],
      // Spread users' syncs (and their providers' quotas) instead of all firing on the hour.
      jitter: Math.min(Math.floor(everyMs / 10), SCHEDULE_DEFAULTS.maxJitterMs),
    };
    const action = {
      type: 'startWorkflow' as const,
      workflowType: ScheduledSync,
      workflowId: scheduledSyncWorkflowId(owner, provider),
      taskQueue,
      args: [input] as [ScheduledSyncInput],
      typedSearchAttributes: [
        { key: searchAttributes.tenant, value: tenant },
        { key: searchAttributes.userId, value: userId },
        { key: searchAttributes.provider, value: provider },
      ],
      staticSummary: `Start or join the ${provider} import of user ${userId} of ${tenant}`,
    };
    // A run still going when the next is due is skipped (and ScheduledSync itself joins an import
    // already running): one sync of a user and provider at a time.
    const policies = { overlap: 'SKIP' as const, catchupWindow: '1 minute' };
    const scheduleId = syncScheduleId(owner, provider);
    let created = true;
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        policies,
        typedSearchAttributes: action.typedSearchAttributes,
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      created = false;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
    }
    const view = await describe(tenant, userId, provider);
    // Deleted between our write and our read (a concurrent DELETE): that answer is the truth now.
    if (!view) throw new ApiError(503, 'sync_changed', `The schedule ${scheduleId} was deleted while it was being set; PUT it again`);
    return { created, view };
  }

  return {
    put: (tenant, userId, request) => bounded(() => put(tenant, userId, request)),
    list: (tenant, userId, provider) =>
      bounded(async () => {
        const views = await Promise.all((provider ? [provider] : SCHEDULE_PROVIDER_IDS).map((p) => describe(tenant, userId, p)));
        return views.filter((view): view is SyncView => view !== null);
      }),
    remove: (tenant, userId, provider) =>
      bounded(async () => {
        const removed: SyncProvider[] = [];
        for (const p of provider ? [provider] : SCHEDULE_PROVIDER_IDS) {
          try {
            await client.schedule.getHandle(syncScheduleId({ tenant, userId }, p)).delete();
            removed.push(p);
          } catch (err) {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
          }
        }
        return removed;
      }),
  };
}
