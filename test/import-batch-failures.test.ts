/**
 * The `importBatch` activity when a batch cannot go on (test/support/import-batch.ts): a token
 * refused mid-batch, sealed with a key this worker lacks or malformed, and input that does not
 * match the contract, each failing with its type and, where pages were saved, their checkpoint.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActivities } from '../activities/index';
import { createTokenSealer } from '../encryption/token-seal';
import { BatchFailureDetails } from '../workflows/checkpoint';
import { FAILURE_TYPES } from '../workflows/contract';
import { googleCredentials, waitFor } from './support/harness';
import { applicationFailureOf, FULL_READ, importBatchBench, newUser } from './support/import-batch';

void describe('importBatch activity', () => {
  const bench = importBatchBench();
  const { runBatch } = bench;

  void describe('when a batch cannot go on', () => {
    void it('carries the checkpoint of the pages it saved in the details of a non-retryable failure', async () => {
      const user = newUser();
      // Page 2 waits while the token is revoked. It was authorised before, so it is served and
      // saved; page 3 gets the 401.
      bench.provider.configure({ faults: { holdFromOffset: 1000 } });
      const batch = runBatch(user);
      const outcome = applicationFailureOf(batch.result);
      await waitFor(() => bench.provider.stats.requests === 2, 'the request for the held page 2');
      bench.provider.configure({ faults: { revokedTokens: [user.token] } });

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
      assert.equal(await bench.contacts.countContacts(user.userId), 2000);
    });

    void it('fails retryably with WorkerMisconfigured, and tells onMisconfigured, when the token was sealed with a key this worker lacks', async () => {
      const user = newUser();
      const otherSealer = createTokenSealer(Buffer.alloc(32, 9));
      const problems: string[] = [];
      const { importBatch: reporting } = createActivities({ ...bench.deps, onMisconfigured: (problem) => problems.push(problem) });
      const failure = await applicationFailureOf(
        runBatch({ ...user, sealedCredentials: otherSealer.seal(googleCredentials(user.token)) }, {}, reporting).result,
      );
      assert.equal(failure.type, FAILURE_TYPES.workerMisconfigured);
      assert.notEqual(failure.nonRetryable, true, 'the fault is this worker\'s: a worker with the key can do the batch');
      assert.match(failure.message, /TOKEN_ENCRYPTION_KEY/, 'the message says which setting to fix');
      assert.ok(!failure.message.includes(user.token), 'the access token leaked into the failure message');
      assert.deepEqual(problems, [failure.message], 'the worker is told once, with the same words');
      assert.equal(bench.provider.stats.requests, 0, 'no request should reach the provider without a usable token');
    });

    void it('fails non-retryably with InvalidImportInput when the sealed credentials are malformed', async () => {
      const user = newUser();
      const failure = await applicationFailureOf(runBatch({ ...user, sealedCredentials: 'not-a-sealed-token' }).result);
      assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /malformed/);
      assert.equal(bench.provider.stats.requests, 0, 'no request should reach the provider without a usable token');
    });

    void it('fails non-retryably with InvalidImportInput when its input does not match the contract', async () => {
      const user = newUser();
      const failure = await applicationFailureOf(runBatch({ ...user, pageSize: 5000 }).result);
      assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /pageSize/, 'the message names the field that is wrong');
      assert.equal(bench.provider.stats.requests, 0, 'no request should reach the provider for a batch it cannot trust');
    });
  });
});
