/**
 * When an import gives up on its source (`workflows/give-up.ts`), read from the failures Temporal
 * ends a batch's window with, built here as the SDK builds them from history: pure, no server. The
 * whole path (a real worker, a dribbling server, a window of seconds) is in test/isolation.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivityFailure, ApplicationFailure, CancelledFailure, defaultPayloadConverter, TimeoutFailure } from '@temporalio/common';
import { advance, EMPTY_CHECKPOINT, type BatchHeartbeat } from '../workflows/checkpoint';
import { FAILURE_TYPES } from '../workflows/contract';
import { failureConverter } from '../workflows/failure-converter';
import { windowEnd } from '../workflows/give-up';

const START = advance(EMPTY_CHECKPOINT, { saved: 10, rejected: 0, nextCursor: 'p2', total: 100, deleted: 0 });
const FURTHER = advance(START, { saved: 10, rejected: 0, nextCursor: 'p3', total: 100, deleted: 0 });

/**
 * The failure of a window that closed while an attempt ran or waited: a schedule-to-close timeout
 * whose cause the server set to the last attempt's failure. The SDK keeps that cause only in the
 * raw failure, as here.
 */
function closedWindow(last: Error | undefined, heartbeat?: BatchHeartbeat): ActivityFailure {
  const timeout = new TimeoutFailure('Not enough time to schedule next retry before activity ScheduleToClose timeout', heartbeat, 'SCHEDULE_TO_CLOSE');
  timeout.failure = { ...failureConverter.errorToFailure(timeout, defaultPayloadConverter), ...(last ? { cause: failureConverter.errorToFailure(last, defaultPayloadConverter) } : {}) };
  return new ActivityFailure('Activity task timed out', 'importBatch', '1', 'TIMEOUT', 'worker', timeout);
}

const sourceFailure = (type: string, details: unknown[] = [START]) =>
  ApplicationFailure.create({ type, message: `the source failed (${type})`, nonRetryable: false, details });

describe('the end of a batch window', () => {
  it('gives up, with the last failure type and message, when the source failed for the whole window', () => {
    for (const type of [FAILURE_TYPES.providerTooSlow, FAILURE_TYPES.responseTooLarge, FAILURE_TYPES.providerUnavailable, FAILURE_TYPES.providerThrottled]) {
      const ended = windowEnd(closedWindow(sourceFailure(type)), START);
      assert.deepEqual(ended, { outcome: 'give-up', type, message: `the source failed (${type})`, checkpoint: START });
    }
  });

  it('gives up when the server ended the window with the attempt failure itself', () => {
    const err = new ActivityFailure('Activity task failed', 'importBatch', '1', 'TIMEOUT', 'worker', sourceFailure(FAILURE_TYPES.providerUnavailable));
    assert.equal(windowEnd(err, START)?.outcome, 'give-up');
  });

  it('opens a new window when the batch saved a page in this one, as its heartbeat or its failure says', () => {
    const beat = windowEnd(closedWindow(sourceFailure(FAILURE_TYPES.providerTooSlow), { checkpoint: FURTHER, pagesThisBatch: 1 }), START);
    assert.deepEqual(beat && { outcome: beat.outcome, pages: beat.checkpoint.pages }, { outcome: 'new-window', pages: 2 });
    const reported = windowEnd(closedWindow(sourceFailure(FAILURE_TYPES.providerTooSlow, [FURTHER])), START);
    assert.deepEqual(reported && { outcome: reported.outcome, pages: reported.checkpoint.pages }, { outcome: 'new-window', pages: 2 });
  });

  it('opens a new window when the source is not to blame: no attempt ran, a worker lacked its key, a worker died', () => {
    const heartbeatTimeout = new TimeoutFailure('heartbeat', undefined, 'HEARTBEAT');
    for (const last of [undefined, sourceFailure(FAILURE_TYPES.workerMisconfigured), heartbeatTimeout]) {
      assert.equal(windowEnd(closedWindow(last), START)?.outcome, 'new-window', `after ${last?.message ?? 'no attempt'}`);
    }
  });

  it('leaves every other end of a batch to the caller: a failure for good, a cancellation', () => {
    const forGood = ApplicationFailure.create({ type: FAILURE_TYPES.providerInvalidRequest, message: '404', nonRetryable: true });
    assert.equal(windowEnd(new ActivityFailure('failed', 'importBatch', '1', 'NON_RETRYABLE_FAILURE', 'worker', forGood), START), undefined);
    assert.equal(windowEnd(new ActivityFailure('cancelled', 'importBatch', '1', 'CANCEL_REQUESTED', 'worker', new CancelledFailure('x')), START), undefined);
    assert.equal(windowEnd(new Error('not an activity'), START), undefined);
  });
});
