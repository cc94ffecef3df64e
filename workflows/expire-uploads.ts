/**
 * `ExpireUploads`: what the `upload-expiry` schedule starts (hourly). One activity deletes the
 * uploads past their retention that no running import reads (activities/upload-expiry.ts); it
 * heartbeats its position, so a retry goes on where the last attempt stopped.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ImportActivities } from '../activities';
import { readInput } from './contract';
import { ExpireUploadsInput, ExpireUploadsResult } from './upload-expiry-contract';

const { expireUploads } = proxyActivities<ImportActivities>({
  // Generous for an hour's expired uploads; the heartbeat, not this, notices a dead worker.
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  // The store or Temporal briefly down: try again; the next hourly run starts afresh anyway.
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 10 },
});

export async function ExpireUploads(rawInput: ExpireUploadsInput): Promise<ExpireUploadsResult> {
  const input = readInput(ExpireUploadsInput, rawInput, 'upload expiry input');
  // Our own activity's answer, read with the schema all the same (a worker on another contract).
  return ExpireUploadsResult.parse(await expireUploads(input));
}
