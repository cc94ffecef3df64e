/**
 * The `importBatch` activity on its own, through `MockActivityEnvironment`: a real demo provider and
 * a real SQLite store, no Temporal server. Heartbeats, retries from heartbeat details (the attempt
 * number) and cancellation are driven by hand, so each test can stop a batch at an exact page.
 *
 *   node --import tsx --test test/activities.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import {
  type BatchHeartbeat,
  type ImportBatchInput,
  type ImportBatchResult,
  createActivities,
} from '../activities/index';
import { createTokenSealer } from '../config/token-seal';
import type { ContactStore } from '../db/types';
import { type DemoProvider, startDemoProvider } from '../demo-provider/server';
import type { ImportCheckpoint } from '../workflows/contract';
import { storeCases, testSealer, uniqueId, waitFor } from './support/harness';

const CONTACTS = 2345;
const PAGE_SIZE = 1000;

const START: ImportCheckpoint = { cursor: null, fetched: 0, saved: 0, pages: 0, total: null };

/** Resolves to what the promise rejects with, failing the test when it resolves instead. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the activity to fail, but it completed');
}

async function applicationFailureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await rejectionOf(promise);
  assert.ok(error instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

void describe('importBatch activity', () => {
  let provider: DemoProvider;
  let store: ContactStore;
  let importBatch: ReturnType<typeof createActivities>['importBatch'];

  before(async () => {
    const sqlite = storeCases()[0];
    assert.ok(sqlite, 'the harness offers no SQLite store case');
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await sqlite.open();
    ({ importBatch } = createActivities({
      store,
      sealer: testSealer,
      googlePeopleBaseUrl: provider.url,
      // Far above any test's length: the only heartbeats are the per-page ones, so they can be counted exactly.
      keepAliveHeartbeatMs: 600_000,
    }));
  });

  after(async () => {
    await store?.close();
    await provider?.close();
  });

  beforeEach(() => {
    provider.configure({ contacts: CONTACTS, faults: {} });
    provider.resetStats();
  });

  /** A fresh user with a sealed token for them; `token` is the clear one the provider sees. */
  function newUser() {
    const userId = uniqueId('activity-user');
    const token = `ya29.${userId}`;
    return { userId, token, sealedAccessToken: testSealer.seal(token) };
  }

  /**
   * Runs one attempt of `importBatch` in its own mock environment, collecting every heartbeat.
   * `info` stands in for what the server would hand a retry (`heartbeatDetails`, `attempt`).
   */
  function runBatch(
    input: Pick<ImportBatchInput, 'userId' | 'sealedAccessToken'> & Partial<ImportBatchInput>,
    info: Partial<Info> = {},
  ) {
    // Expected failures would otherwise each log a WARN with a stack trace.
    const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
    const heartbeats: BatchHeartbeat[] = [];
    env.on('heartbeat', (details: BatchHeartbeat) => heartbeats.push(details));
    const batchInput: ImportBatchInput = {
      provider: 'google-people',
      pageSize: PAGE_SIZE,
      maxPages: 10,
      checkpoint: START,
      ...input,
    };
    const result: Promise<ImportBatchResult> = env.run(importBatch, batchInput);
    return { env, heartbeats, result };
  }

  function pagesServed(): Array<[string, number]> {
    return [...provider.stats.pageTokensServed];
  }

  void it('imports every page of a batch, heartbeating the checkpoint after each saved page', async () => {
    const user = newUser();
    const { heartbeats, result } = runBatch(user);

    assert.deepEqual(await result, {
      done: true,
      checkpoint: { cursor: null, fetched: 2345, saved: 2345, pages: 3, total: 2345 },
    });
    assert.equal(await store.countContacts(user.userId), 2345);
    assert.equal(await store.countContacts(user.userId, 'google-people'), 2345);

    assert.deepEqual(
      heartbeats.map((h) => [h.pagesThisBatch, h.checkpoint.pages, h.checkpoint.saved, h.checkpoint.fetched]),
      [
        [1, 1, 1000, 1000],
        [2, 2, 2000, 2000],
        [3, 3, 2345, 2345],
      ],
      'expected exactly one heartbeat per saved page, in order',
    );
    assert.ok(heartbeats.every((h) => h.checkpoint.total === 2345), 'every heartbeat should carry the provider total');
    assert.notEqual(heartbeats[0]?.checkpoint.cursor, null);
    assert.notEqual(heartbeats[1]?.checkpoint.cursor, null);
    assert.equal(heartbeats[2]?.checkpoint.cursor, null);
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1], ['2000', 1]], 'each page should be fetched exactly once');
    assert.equal(provider.stats.requests, 3);
  });

  void it('stops at maxPages without prefetching past the batch, and the next batch finishes from its checkpoint', async () => {
    const user = newUser();

    const first = await runBatch({ ...user, maxPages: 2 }).result;
    assert.equal(first.done, false);
    assert.equal(first.checkpoint.pages, 2);
    assert.equal(first.checkpoint.fetched, 2000);
    assert.equal(first.checkpoint.saved, 2000);
    assert.equal(first.checkpoint.total, 2345);
    assert.notEqual(first.checkpoint.cursor, null, 'a batch that stops early must hand back a cursor');
    assert.equal(await store.countContacts(user.userId), 2000);
    // The prefetch of page k+1 must not run past the batch's last page.
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1]], 'the batch fetched a page beyond maxPages');
    assert.equal(provider.stats.requests, 2, 'the batch sent a request beyond maxPages');

    const second = await runBatch({ ...user, maxPages: 2, checkpoint: first.checkpoint }).result;
    assert.deepEqual(second, {
      done: true,
      checkpoint: { cursor: null, fetched: 2345, saved: 2345, pages: 3, total: 2345 },
    });
    assert.equal(await store.countContacts(user.userId), 2345);
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1], ['2000', 1]], 'a page was fetched twice across batches');
  });

  void describe('failure classification', () => {
    void it('fails non-retryably with ProviderUnauthenticated on a revoked token, without the token in the message', async () => {
      const user = newUser();
      provider.configure({ faults: { revokedTokens: [user.token] } });
      const failure = await applicationFailureOf(runBatch(user).result);
      assert.equal(failure.type, 'ProviderUnauthenticated');
      assert.equal(failure.nonRetryable, true);
      assert.ok(!failure.message.includes(user.token), 'the access token leaked into the failure message');
      assert.ok(!failure.message.includes(user.sealedAccessToken), 'the sealed token leaked into the failure message');
      assert.equal(await store.countContacts(user.userId), 0);
    });

    void it('fails retryably with ProviderThrottled on 429, retrying after Retry-After', async () => {
      const user = newUser();
      provider.configure({ faults: { script: ['429'], retryAfterSeconds: 3 } });
      const failure = await applicationFailureOf(runBatch(user).result);
      assert.equal(failure.type, 'ProviderThrottled');
      assert.notEqual(failure.nonRetryable, true);
      assert.ok(failure.nextRetryDelay !== undefined && failure.nextRetryDelay !== null, 'nextRetryDelay is not set');
      assert.equal(msToNumber(failure.nextRetryDelay), 3000);
    });

    void it('fails retryably with ProviderUnavailable on 500', async () => {
      const user = newUser();
      provider.configure({ faults: { script: ['500'] } });
      const failure = await applicationFailureOf(runBatch(user).result);
      assert.equal(failure.type, 'ProviderUnavailable');
      assert.notEqual(failure.nonRetryable, true);
    });

    void it('fails non-retryably with InvalidImportInput when the token was sealed with another key', async () => {
      const user = newUser();
      const otherSealer = createTokenSealer(Buffer.alloc(32, 9));
      const failure = await applicationFailureOf(runBatch({ ...user, sealedAccessToken: otherSealer.seal(user.token) }).result);
      assert.equal(failure.type, 'InvalidImportInput');
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /TOKEN_ENCRYPTION_KEY/);
      assert.ok(!failure.message.includes(user.token), 'the access token leaked into the failure message');
      assert.equal(provider.stats.requests, 0, 'no request should reach the provider without a usable token');
    });
  });

  void it('resumes a retried attempt from its heartbeat details, not from the batch input', async () => {
    const user = newUser();
    const firstPage = await runBatch({ ...user, maxPages: 1 }).result;
    assert.equal(firstPage.done, false);
    assert.deepEqual({ ...firstPage.checkpoint, cursor: '…' }, { cursor: '…', fetched: 1000, saved: 1000, pages: 1, total: 2345 });
    assert.notEqual(firstPage.checkpoint.cursor, null);
    provider.resetStats();

    const heartbeatDetails: BatchHeartbeat = { checkpoint: firstPage.checkpoint, pagesThisBatch: 1 };
    const retry = runBatch({ ...user, checkpoint: START }, { heartbeatDetails, attempt: 2 });
    const result = await retry.result;

    assert.deepEqual(result, { done: true, checkpoint: { cursor: null, fetched: 2345, saved: 2345, pages: 3, total: 2345 } });
    assert.equal(provider.stats.pageTokensServed.get('0'), undefined, 'the retry fetched the first page again');
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]]);
    assert.equal(await store.countContacts(user.userId), 2345);
    assert.deepEqual(
      retry.heartbeats.map((h) => [h.pagesThisBatch, h.checkpoint.pages]),
      [
        [2, 2],
        [3, 3],
      ],
      'heartbeats of the retry should continue the counts of the attempt before it',
    );
  });

  void it('keeps the checkpoint of the pages it saved when a later page fails, so a retry loses and repeats nothing', async () => {
    const user = newUser();
    // resetStats (beforeEach) restarted the request count: request 1 (page 0) succeeds, request 2 (the prefetched page 1000) fails.
    provider.configure({ faults: { every: { every: 2, kind: '500' } } });
    const attempt1 = runBatch(user);
    const failure = await applicationFailureOf(attempt1.result);
    assert.equal(failure.type, 'ProviderUnavailable');
    assert.notEqual(failure.nonRetryable, true);

    const last = attempt1.heartbeats.at(-1);
    assert.ok(last, 'the batch saved a page but never heartbeated it');
    assert.equal(attempt1.heartbeats.length, 1);
    assert.equal(last.pagesThisBatch, 1);
    assert.equal(last.checkpoint.pages, 1);
    assert.equal(last.checkpoint.saved, 1000);
    assert.equal(last.checkpoint.fetched, 1000);
    assert.notEqual(last.checkpoint.cursor, null);
    assert.equal(await store.countContacts(user.userId), last.checkpoint.saved, 'the store and the heartbeat disagree');

    provider.configure({ faults: {} });
    provider.resetStats();
    const attempt2 = runBatch(user, { heartbeatDetails: last, attempt: 2 });
    assert.deepEqual(await attempt2.result, {
      done: true,
      checkpoint: { cursor: null, fetched: 2345, saved: 2345, pages: 3, total: 2345 },
    });
    assert.equal(await store.countContacts(user.userId), 2345);
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]], 'the retry fetched a saved page again');
  });

  void it('rejects with CancelledFailure carrying the last saved checkpoint when cancelled while a page is in flight', { timeout: 60_000 }, async () => {
    const user = newUser();
    // Pages from offset 2000 on wait until the faults change: the batch is stuck on page 3 with 2 saved.
    provider.configure({ faults: { holdFromOffset: 2000 } });
    const batch = runBatch(user);
    // Observe the outcome from the start, so a rejection before cancel() is never "unhandled".
    const outcome = rejectionOf(batch.result);
    try {
      await waitFor(async () => (await store.countContacts(user.userId)) === 2000, 'the first two pages to be saved');
      await waitFor(() => provider.stats.requests === 3, 'the request for the held page');
      batch.env.cancel();
      // Awaited while the page is still held: cancellation must not wait for the provider.
      const error = await outcome;
      assert.ok(error instanceof CancelledFailure, `expected a CancelledFailure, got ${String(error)}`);
      const checkpoint = error.details[0] as ImportCheckpoint | undefined;
      assert.ok(checkpoint, 'the CancelledFailure carries no checkpoint');
      assert.equal(checkpoint.saved, 2000);
      assert.equal(checkpoint.fetched, 2000);
      assert.equal(checkpoint.pages, 2);
      assert.equal(checkpoint.total, 2345);
      assert.notEqual(checkpoint.cursor, null);
      assert.deepEqual(checkpoint, batch.heartbeats.at(-1)?.checkpoint, 'the cancellation checkpoint is not the last heartbeated one');
      assert.equal(await store.countContacts(user.userId), 2000);
    } finally {
      provider.configure({ faults: {} });
    }
  });
});
