/**
 * The `importBatch` activity retried and cancelled (test/support/import-batch.ts): a retry resumes
 * from its heartbeat details (and from its input when they are unreadable), a failed page loses
 * and repeats nothing, and a cancellation carries the last saved checkpoint.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { BatchFailureDetails, EMPTY_CHECKPOINT, type BatchHeartbeat } from '../workflows/checkpoint';
import { FAILURE_TYPES } from '../workflows/contract';
import { waitFor } from './support/harness';
import { applicationFailureOf, DONE, FULL_READ, importBatchBench, newUser, rejectionOf } from './support/import-batch';

void describe('importBatch activity', () => {
  const bench = importBatchBench();
  const { runBatch, pagesServed } = bench;

  void it('resumes a retried attempt from its heartbeat details, not from the batch input', async () => {
    const user = newUser();
    const firstPage = await runBatch({ ...user, maxPages: 1 }).result;
    assert.equal(firstPage.done, false);
    assert.deepEqual({ ...firstPage.checkpoint, cursor: '…' }, { cursor: '…', fetched: 1000, saved: 1000, rejected: 0, pages: 1, total: 2345, ...FULL_READ });
    assert.notEqual(firstPage.checkpoint.cursor, null);
    bench.provider.resetStats();

    const heartbeatDetails: BatchHeartbeat = { checkpoint: firstPage.checkpoint, pagesThisBatch: 1 };
    const retry = runBatch({ ...user, checkpoint: EMPTY_CHECKPOINT }, { heartbeatDetails, attempt: 2 });

    assert.deepEqual(await retry.result, DONE);
    assert.equal(bench.provider.stats.pageTokensServed.get('0'), undefined, 'the retry fetched the first page again');
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]]);
    assert.equal(await bench.contacts.countContacts(user.userId), 2345);
    assert.deepEqual(
      retry.heartbeats.map((h) => [h.pagesThisBatch, h.checkpoint.pages]),
      [
        [2, 2],
        [3, 3],
      ],
      'heartbeats of the retry should continue the counts of the attempt before it',
    );
  });

  void it('ignores an unreadable heartbeat, with a warning, and starts the retry from its input checkpoint', async () => {
    const user = newUser();
    const firstPage = await runBatch({ ...user, maxPages: 1 }).result;
    bench.provider.resetStats();

    const retry = runBatch({ ...user, checkpoint: firstPage.checkpoint }, { heartbeatDetails: { bogus: 1 }, attempt: 2 });

    assert.deepEqual(await retry.result, DONE);
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]], 'the retry should start at the input checkpoint, page 2');
    assert.deepEqual(
      retry.heartbeats.map((h) => [h.pagesThisBatch, h.checkpoint.pages]),
      [
        [1, 2],
        [2, 3],
      ],
      'the retry counts its pages from the batch start, as if no heartbeat had come',
    );
    assert.ok(
      retry.warnings.some((entry) => /unreadable heartbeat/.test(entry.message)),
      `expected a warning about the unreadable heartbeat, got ${JSON.stringify(retry.warnings.map((e) => e.message))}`,
    );
    assert.equal(await bench.contacts.countContacts(user.userId), 2345);
  });

  void it('keeps the checkpoint of the pages it saved when a later page fails, so a retry loses and repeats nothing', async () => {
    const user = newUser();
    // resetStats (beforeEach) restarted the request count: request 1 (page 0) succeeds, request 2 (the prefetched page 1000) fails.
    bench.provider.configure({ faults: { every: { every: 2, kind: '500' } } });
    const attempt1 = runBatch(user);
    const failure = await applicationFailureOf(attempt1.result);
    assert.equal(failure.type, FAILURE_TYPES.providerUnavailable);
    assert.notEqual(failure.nonRetryable, true);

    const heartbeats = attempt1.heartbeats;
    const last = heartbeats.at(-1);
    assert.ok(last, 'the batch saved a page but never heartbeated it');
    assert.equal(heartbeats.length, 1);
    assert.equal(last.pagesThisBatch, 1);
    assert.equal(last.checkpoint.pages, 1);
    assert.equal(last.checkpoint.saved, 1000);
    assert.equal(last.checkpoint.fetched, 1000);
    assert.notEqual(last.checkpoint.cursor, null);
    assert.equal(await bench.contacts.countContacts(user.userId), last.checkpoint.saved, 'the store and the heartbeat disagree');

    bench.provider.configure({ faults: {} });
    bench.provider.resetStats();
    const attempt2 = runBatch(user, { heartbeatDetails: last, attempt: 2 });
    assert.deepEqual(await attempt2.result, DONE);
    assert.equal(await bench.contacts.countContacts(user.userId), 2345);
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]], 'the retry fetched a saved page again');
  });

  void it('rejects with CancelledFailure carrying the last saved checkpoint when cancelled while a page is in flight', { timeout: 60_000 }, async () => {
    const user = newUser();
    // Pages from offset 2000 on wait until the faults change: the batch is stuck on page 3 with 2 saved.
    bench.provider.configure({ faults: { holdFromOffset: 2000 } });
    const batch = runBatch(user);
    // Observe the outcome from the start, so a rejection before cancel() is never "unhandled".
    const outcome = rejectionOf(batch.result);
    await waitFor(async () => (await bench.contacts.countContacts(user.userId)) === 2000, 'the first two pages to be saved');
    await waitFor(() => bench.provider.stats.requests === 3, 'the request for the held page');
    batch.env.cancel();
    // Awaited while the page is still held: cancellation must not wait for the provider.
    const error = await outcome;
    assert.ok(error instanceof CancelledFailure, `expected a CancelledFailure, got ${String(error)}`);
    const checkpoint = BatchFailureDetails.parse(error.details[0]);
    assert.equal(checkpoint.saved, 2000);
    assert.equal(checkpoint.fetched, 2000);
    assert.equal(checkpoint.pages, 2);
    assert.equal(checkpoint.total, 2345);
    assert.notEqual(checkpoint.cursor, null);
    assert.deepEqual(checkpoint, batch.heartbeats.at(-1)?.checkpoint, 'the cancellation checkpoint is not the last heartbeated one');
    assert.equal(await bench.contacts.countContacts(user.userId), 2000);
  });

});
