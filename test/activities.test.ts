/**
 * The `importBatch` activity on its own, through `MockActivityEnvironment`: a real demo provider and
 * a real SQLite store, no Temporal server. Heartbeats, retries from heartbeat details (the attempt
 * number) and cancellation are driven by hand, so each test can stop a batch at an exact page.
 * How each provider answer is classified is `google-people.test.ts`'s job; here, what the batch
 * does with it.
 *
 *   node --import tsx --test test/activities.test.ts
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index';
import type { ContactSource, PageRequest, SourcePage } from '../providers';
import { createTokenSealer } from '../encryption/token-seal';
import type { ContactRecord, ContactStore, Store } from '../db/types';
import { type DemoProvider, startDemoProvider } from '../demo-provider/server';
import { BatchFailureDetails, BatchHeartbeat, EMPTY_CHECKPOINT } from '../workflows/checkpoint';
import { DEFAULT_TENANT, FAILURE_TYPES, type ImportBatchInput, type ImportBatchResult } from '../workflows/contract';
import { googleCredentials, storeCases, testSealer, uniqueId, waitFor } from './support/harness';
import { SealedTokenVault } from '../activities/token-vault';
import { readProviderSettings } from '../providers';

const CONTACTS = 2345;
/** Every batch here imports for this tenant (not the default one), so the store's tenant scoping is on the path. */
const TENANT = 'activities';
const PAGE_SIZE = 1000;
/** What every batch here reads with: a full read (an empty store has nothing to sweep), nothing deleted. */
const FULL_READ = { mode: 'full', deleted: 0 } as const;
const DONE = { done: true, checkpoint: { cursor: null, fetched: 2345, saved: 2345, rejected: 0, pages: 3, total: 2345, ...FULL_READ } };

type ImportBatch = ReturnType<typeof createActivities>['importBatch'];

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

function contactRecord(n: number): ContactRecord {
  return {
    externalId: `fake/${n}`,
    etag: `etag-${n}`,
    displayName: `Fake ${n}`,
    email: null,
    phone: null,
    organization: null,
    raw: { n },
  };
}

void describe('importBatch activity', () => {
  let provider: DemoProvider;
  let store: Store;
  /** The store as the batches' tenant sees it. */
  let contacts: ContactStore;
  let deps: ActivityDeps;
  let importBatch: ImportBatch;

  before(async () => {
    const sqlite = storeCases()[0];
    assert.ok(sqlite, 'the harness offers no SQLite store case');
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await sqlite.open();
    contacts = store.tenant(TENANT);
    deps = {
      store,
      sealer: testSealer,
      sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }) },
      // Far above any test's length: the only heartbeats are the per-page ones, so they can be counted exactly.
      keepAliveHeartbeatMs: 600_000,
    };
    ({ importBatch } = createActivities(deps));
  });

  after(async () => {
    await store?.close();
    await provider?.close();
  });

  beforeEach(() => {
    provider.configure({ contacts: CONTACTS, faults: {} });
    provider.resetStats();
  });

  // A test that fails while a page is held must not leave it held for the next one.
  afterEach(() => {
    provider.configure({ faults: {} });
  });

  /** A fresh user with a sealed token for them, and their import; `token` is the clear one the provider sees. */
  function newUser() {
    const userId = uniqueId('activity-user');
    const token = `ya29.${userId}`;
    return { userId, token, sealedCredentials: testSealer.seal(googleCredentials(token)), importKey: uniqueId('import') };
  }

  /**
   * Runs one attempt of `importBatch` in its own mock environment, collecting every heartbeat and
   * every warning it logs. `info` stands in for what the server would hand a retry
   * (`heartbeatDetails`, `attempt`).
   */
  function runBatch(
    input: Pick<ImportBatchInput, 'userId' | 'sealedCredentials' | 'importKey'> & Partial<ImportBatchInput>,
    info: Partial<Info> = {},
    batch: ImportBatch = importBatch,
  ) {
    const warnings: LogEntry[] = [];
    // Collected rather than printed: expected failures would otherwise each log a stack trace.
    const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('WARN', (entry) => warnings.push(entry)) });
    const details: unknown[] = [];
    env.on('heartbeat', (detail: unknown) => details.push(detail));
    const batchInput: ImportBatchInput = {
      tenant: TENANT,
      provider: 'google-people',
      pageSize: PAGE_SIZE,
      maxPages: 10,
      checkpoint: EMPTY_CHECKPOINT,
      mode: 'full',
      ...input,
    };
    const result: Promise<ImportBatchResult> = env.run(batch, batchInput);
    return {
      env,
      result,
      warnings,
      /** Every heartbeat so far, read with the contract's schema as a retry would read it. */
      get heartbeats(): BatchHeartbeat[] {
        return details.map((detail) => BatchHeartbeat.parse(detail));
      },
    };
  }

  function pagesServed(): Array<[string, number]> {
    return [...provider.stats.pageTokensServed];
  }

  void it('imports every page of a batch, heartbeating the checkpoint after each saved page', async () => {
    const user = newUser();
    const batch = runBatch(user);

    assert.deepEqual(await batch.result, DONE);
    assert.equal(await contacts.countContacts(user.userId), 2345);
    assert.equal(await contacts.countContacts(user.userId, 'google-people'), 2345);
    assert.equal(await store.tenant(DEFAULT_TENANT).countContacts(user.userId), 0, "the contacts are the batch's tenant's only");

    const heartbeats = batch.heartbeats;
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
    assert.equal(await contacts.countContacts(user.userId), 2000);
    // The prefetch of page k+1 must not run past the batch's last page.
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1]], 'the batch fetched a page beyond maxPages');
    assert.equal(provider.stats.requests, 2, 'the batch sent a request beyond maxPages');

    const second = await runBatch({ ...user, maxPages: 2, checkpoint: first.checkpoint }).result;
    assert.deepEqual(second, DONE);
    assert.equal(await contacts.countContacts(user.userId), 2345);
    assert.deepEqual(pagesServed(), [['0', 1], ['1000', 1], ['2000', 1]], 'a page was fetched twice across batches');
  });

  void describe('when a batch cannot go on', () => {
    void it('carries the checkpoint of the pages it saved in the details of a non-retryable failure', async () => {
      const user = newUser();
      // Page 2 waits while the token is revoked. It was authorised before, so it is served and
      // saved; page 3 gets the 401.
      provider.configure({ faults: { holdFromOffset: 1000 } });
      const batch = runBatch(user);
      const outcome = applicationFailureOf(batch.result);
      await waitFor(() => provider.stats.requests === 2, 'the request for the held page 2');
      provider.configure({ faults: { revokedTokens: [user.token] } });

      const failure = await outcome;
      assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
      assert.equal(failure.nonRetryable, true);
      assert.ok(!failure.message.includes(user.token), 'the access token leaked into the failure message');
      assert.ok(!failure.message.includes(user.sealedCredentials), 'the sealed token leaked into the failure message');
      const stoppedAt = BatchFailureDetails.parse(failure.details?.[0]);
      assert.deepEqual(
        { ...stoppedAt, cursor: stoppedAt.cursor === null ? null : 'a cursor' },
        { cursor: 'a cursor', fetched: 2000, saved: 2000, rejected: 0, pages: 2, total: 2345, ...FULL_READ },
        'the failure says how far the batch got, so the import can report exact counts',
      );
      assert.deepEqual(stoppedAt, batch.heartbeats.at(-1)?.checkpoint, 'the details are the last heartbeated checkpoint');
      assert.equal(await contacts.countContacts(user.userId), 2000);
    });

    void it('fails retryably with WorkerMisconfigured, and tells onMisconfigured, when the token was sealed with a key this worker lacks', async () => {
      const user = newUser();
      const otherSealer = createTokenSealer(Buffer.alloc(32, 9));
      const problems: string[] = [];
      const { importBatch: reporting } = createActivities({ ...deps, onMisconfigured: (problem) => problems.push(problem) });
      const failure = await applicationFailureOf(
        runBatch({ ...user, sealedCredentials: otherSealer.seal(googleCredentials(user.token)) }, {}, reporting).result,
      );
      assert.equal(failure.type, FAILURE_TYPES.workerMisconfigured);
      assert.notEqual(failure.nonRetryable, true, 'the fault is this worker\'s: a worker with the key can do the batch');
      assert.match(failure.message, /TOKEN_ENCRYPTION_KEY/, 'the message says which setting to fix');
      assert.ok(!failure.message.includes(user.token), 'the access token leaked into the failure message');
      assert.deepEqual(problems, [failure.message], 'the worker is told once, with the same words');
      assert.equal(provider.stats.requests, 0, 'no request should reach the provider without a usable token');
    });

    void it('fails non-retryably with InvalidImportInput when the sealed credentials are malformed', async () => {
      const user = newUser();
      const failure = await applicationFailureOf(runBatch({ ...user, sealedCredentials: 'not-a-sealed-token' }).result);
      assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /malformed/);
      assert.equal(provider.stats.requests, 0, 'no request should reach the provider without a usable token');
    });

    void it('fails non-retryably with InvalidImportInput when its input does not match the contract', async () => {
      const user = newUser();
      const failure = await applicationFailureOf(runBatch({ ...user, pageSize: 5000 }).result);
      assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /pageSize/, 'the message names the field that is wrong');
      assert.equal(provider.stats.requests, 0, 'no request should reach the provider for a batch it cannot trust');
    });
  });

  void it('resumes a retried attempt from its heartbeat details, not from the batch input', async () => {
    const user = newUser();
    const firstPage = await runBatch({ ...user, maxPages: 1 }).result;
    assert.equal(firstPage.done, false);
    assert.deepEqual({ ...firstPage.checkpoint, cursor: '…' }, { cursor: '…', fetched: 1000, saved: 1000, rejected: 0, pages: 1, total: 2345, ...FULL_READ });
    assert.notEqual(firstPage.checkpoint.cursor, null);
    provider.resetStats();

    const heartbeatDetails: BatchHeartbeat = { checkpoint: firstPage.checkpoint, pagesThisBatch: 1 };
    const retry = runBatch({ ...user, checkpoint: EMPTY_CHECKPOINT }, { heartbeatDetails, attempt: 2 });

    assert.deepEqual(await retry.result, DONE);
    assert.equal(provider.stats.pageTokensServed.get('0'), undefined, 'the retry fetched the first page again');
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]]);
    assert.equal(await contacts.countContacts(user.userId), 2345);
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
    provider.resetStats();

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
    assert.equal(await contacts.countContacts(user.userId), 2345);
  });

  void it('keeps the checkpoint of the pages it saved when a later page fails, so a retry loses and repeats nothing', async () => {
    const user = newUser();
    // resetStats (beforeEach) restarted the request count: request 1 (page 0) succeeds, request 2 (the prefetched page 1000) fails.
    provider.configure({ faults: { every: { every: 2, kind: '500' } } });
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
    assert.equal(await contacts.countContacts(user.userId), last.checkpoint.saved, 'the store and the heartbeat disagree');

    provider.configure({ faults: {} });
    provider.resetStats();
    const attempt2 = runBatch(user, { heartbeatDetails: last, attempt: 2 });
    assert.deepEqual(await attempt2.result, DONE);
    assert.equal(await contacts.countContacts(user.userId), 2345);
    assert.deepEqual(pagesServed(), [['1000', 1], ['2000', 1]], 'the retry fetched a saved page again');
  });

  void it('rejects with CancelledFailure carrying the last saved checkpoint when cancelled while a page is in flight', { timeout: 60_000 }, async () => {
    const user = newUser();
    // Pages from offset 2000 on wait until the faults change: the batch is stuck on page 3 with 2 saved.
    provider.configure({ faults: { holdFromOffset: 2000 } });
    const batch = runBatch(user);
    // Observe the outcome from the start, so a rejection before cancel() is never "unhandled".
    const outcome = rejectionOf(batch.result);
    await waitFor(async () => (await contacts.countContacts(user.userId)) === 2000, 'the first two pages to be saved');
    await waitFor(() => provider.stats.requests === 3, 'the request for the held page');
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
    assert.equal(await contacts.countContacts(user.userId), 2000);
  });

  void it('reads from the source that deps.openSource picks for the provider, saving its pages and checkpointing its cursors', async () => {
    const user = newUser();
    // Three pages of 2, 2 and 1 contacts, linked by cursors only this source understands.
    const pages = new Map<string | null, SourcePage>([
      [null, { contacts: [contactRecord(1), contactRecord(2)], nextCursor: 'fake-cursor-a', total: 5 }],
      ['fake-cursor-a', { contacts: [contactRecord(3), contactRecord(4)], nextCursor: 'fake-cursor-b', total: null }],
      ['fake-cursor-b', { contacts: [contactRecord(5)], nextCursor: null, total: null }],
    ]);
    const requests: Array<Omit<PageRequest, 'signal'>> = [];
    const fake: ContactSource = {
      fetchPage({ cursor, pageSize }) {
        requests.push({ cursor, pageSize });
        const page = pages.get(cursor);
        return page ? Promise.resolve(page) : Promise.reject(new Error(`the fake source issued no cursor ${cursor}`));
      },
    };
    const opened: unknown[] = [];
    const { importBatch: withFake } = createActivities({
      ...deps,
      openSource: (chosen, credentials, settings) => {
        opened.push({ provider: chosen, credentials, settings });
        return fake;
      },
    });

    const batch = runBatch({ ...user, pageSize: 2 }, {}, withFake);

    assert.deepEqual(await batch.result, { done: true, checkpoint: { cursor: null, fetched: 5, saved: 5, rejected: 0, pages: 3, total: 5, ...FULL_READ } });
    assert.deepEqual(
      opened,
      [
        {
          provider: 'google-people',
          credentials: googleCredentials(user.token),
          settings: { uploads: deps.store.uploads, tokens: new SealedTokenVault(deps.store.connections, deps.sealer), ...deps.sources },
        },
      ],
      'the source is opened once, for the batch provider, with the credentials unsealed',
    );
    assert.deepEqual(requests, [
      { cursor: null, pageSize: 2 },
      { cursor: 'fake-cursor-a', pageSize: 2 },
      { cursor: 'fake-cursor-b', pageSize: 2 },
    ]);
    assert.deepEqual(
      batch.heartbeats.map((h) => [h.checkpoint.cursor, h.checkpoint.saved, h.checkpoint.total]),
      [
        ['fake-cursor-a', 2, 5],
        ['fake-cursor-b', 4, 5],
        [null, 5, 5],
      ],
      "every checkpoint carries the source's own cursor, and the total it last reported",
    );
    const saved = await contacts.listContacts(user.userId, { limit: 10 });
    assert.deepEqual(
      saved.items.map((c) => [c.provider, c.externalId, c.displayName]),
      [1, 2, 3, 4, 5].map((n) => ['google-people', `fake/${n}`, `Fake ${n}`]),
    );
    assert.equal(provider.stats.requests, 0, 'the Google People source was not used');
  });
});
