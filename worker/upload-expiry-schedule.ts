/**
 * The `upload-expiry/<task queue>` schedule: every hour it starts `ExpireUploads` with the retention
 * (`UPLOAD_RETENTION`). Every worker makes sure of it when it starts, so it exists wherever workers
 * run, with no setup step; operators see it with `temporal schedule list` and on the Web UI's
 * Schedules page, and may pause it there.
 */
import { ScheduleAlreadyRunning, type Client, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { UPLOAD_DEFAULTS } from '../config/defaults';
import { ExpireUploads } from '../workflows';
import { parseOrNull } from '../workflows/contract';
import { ExpireUploadsInput, uploadExpiryScheduleId } from '../workflows/upload-expiry-contract';

export interface UploadExpiryScheduleOptions {
  taskQueue: string;
  /** `UPLOAD_RETENTION`, in seconds. */
  retentionSeconds: number;
  /** Between two runs (`UPLOAD_DEFAULTS.expiryEveryMs`). */
  everyMs?: number;
}

/**
 * Creates the schedule, or brings an existing one in line with `options` (another retention or
 * interval), leaving it alone when it already matches, paused or not. Idempotent: workers
 * starting side by side may all call it.
 */
export async function ensureUploadExpirySchedule(client: Client, options: UploadExpiryScheduleOptions): Promise<'created' | 'updated' | 'unchanged'> {
  const everyMs = options.everyMs ?? UPLOAD_DEFAULTS.expiryEveryMs;
  const input: ExpireUploadsInput = { retentionSeconds: options.retentionSeconds };
  const scheduleId = uploadExpiryScheduleId(options.taskQueue);
  const spec = { intervals: [{ every: everyMs }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof ExpireUploads> = {
    type: 'startWorkflow',
    workflowType: ExpireUploads,
    // Temporal appends each run's time.
    workflowId: scheduleId,
    taskQueue: options.taskQueue,
    args: [input],
    staticSummary: `Delete uploads older than ${options.retentionSeconds} s that no running import reads (UPLOAD_RETENTION)`,
  };
  // A run still going when the next is due is skipped; after an outage, one run catches up.
  const policies = { overlap: 'SKIP' as const, catchupWindow: everyMs };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  const current = await handle.describe();
  const currentInput = parseOrNull(ExpireUploadsInput, current.action.args?.[0]).value;
  const matches =
    currentInput?.retentionSeconds === options.retentionSeconds &&
    current.spec.intervals?.length === 1 &&
    current.spec.intervals[0]?.every === everyMs;
  if (matches) return 'unchanged';
  // Pausing is the operators' to decide: `update` keeps the state.
  await handle.update((previous) => ({ ...previous, spec, action, policies }));
  return 'updated';
}
