/**
 * Erasure's first step: delete the user's sync schedules, so none starts a new import of the user
 * while, or after, their data is deleted. Through Temporal, with the worker's own client.
 */
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { FAILURE_TYPES, type EraseUserInput } from '../workflows/contract';
import { syncScheduleId } from '../workflows/hooks-contract';
import { SCHEDULE_PROVIDER_IDS } from '../providers';
import { failure } from '../providers/kit/failures';

export function createScheduleActivities(deps: { client?: Client }) {
  /** Deletes every sync schedule of the user; resolves to how many there were. Idempotent. */
  async function deleteUserSchedules(owner: EraseUserInput): Promise<number> {
    const { client } = deps;
    if (!client) {
      throw failure(FAILURE_TYPES.workerMisconfigured, 'This worker has no Temporal client for erasure activities; another worker should take them');
    }
    let deleted = 0;
    for (const provider of SCHEDULE_PROVIDER_IDS) {
      try {
        await client.schedule.getHandle(syncScheduleId(owner, provider)).delete();
        deleted += 1;
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    }
    return deleted;
  }
  return { deleteUserSchedules };
}
