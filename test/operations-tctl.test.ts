/**
 * The operator's path with `tctl` (v1.18), without our API: the tctl commands `docs/operations.md`
 * documents, run word for word as subprocesses (test/support/documented-commands.ts) against a
 * real running import on the run's dev server (test/support/operated-import.ts). Skipped, saying
 * why, where tctl is not installed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TerminatedFailure } from '@temporalio/common';
import { historyTable, resetPointBeforeLastBatch, runDocumented, TCTL, TCTL_SKIP, TEMPORAL } from './support/documented-commands';
import { waitFor } from './support/harness';
import { N, operatedImports, TENANT } from './support/operated-import';

describe('operating an import from the command line', () => {
  describe('with tctl', { skip: TCTL_SKIP }, () => {
    const ops = operatedImports();
    const { runningImport, failedImport, apiSays, failureOfRun, listed } = ops;

    it('lists by ImportUserId, queries status with --qt, and a tctl pause makes the API say paused', async () => {
      const { userId, importId, workflowId } = await runningImport('op-tctl-erin');
      const vars = { tenant: TENANT, 'user-id': userId };
      await listed(TCTL.listByUser, vars, workflowId);

      const status = await runDocumented(TCTL.query, vars);
      assert.match(status, /"state":\s*"running"/);
      assert.match(status, /"saved":\s*200/);
      assert.match(await runDocumented(TCTL.describe, vars), /ImportState/);
      assert.match(await runDocumented(TCTL.show, vars), /ActivityTaskScheduled/);

      await runDocumented(TCTL.pause, vars);
      const paused = await apiSays(importId, 'paused');
      assert.equal(paused.saved, 200);
      ops.provider.configure({ faults: {} });
      assert.match(await runDocumented(TCTL.query, vars), /"state":\s*"paused"/);
      await listed(TCTL.listPaused, vars, workflowId);

      await runDocumented(TCTL.resume, vars);
      const done = await apiSays(importId, 'completed');
      assert.equal(done.saved, N);
      assert.equal(await ops.contacts.countContacts(userId), N);
    });

    it('cancels and terminates with tctl', async () => {
      const bob = await runningImport('op-tctl-frank');
      await runDocumented(TCTL.cancel, { tenant: TENANT, 'user-id': bob.userId });
      assert.equal((await apiSays(bob.importId, 'cancelled')).saved, 200);

      const carol = await runningImport('op-tctl-grace');
      await runDocumented(TCTL.terminate, { tenant: TENANT, 'user-id': carol.userId, why: 'operations-cli test' });
      const failed = await apiSays(carol.importId, 'failed');
      assert.match(failed.error ?? '', /terminated/i);
      const cause = await failureOfRun(carol.workflowId, failed.runId);
      assert.ok(cause instanceof TerminatedFailure, `expected the run to be terminated, got ${String(cause)}`);
    });

    it('resets a failed import to the event before the failed batch with tctl', async () => {
      const { userId, workflowId } = await failedImport('op-tctl-heidi');
      const vars = { tenant: TENANT, 'user-id': userId, why: 'provider fixed' };
      await listed(TCTL.listFailed, vars, workflowId);
      ops.provider.configure({ faults: {} });
      const eventId = resetPointBeforeLastBatch(historyTable(await runDocumented(TEMPORAL.show, vars)));
      await runDocumented(TCTL.resetToEvent, { ...vars, 'event-id': String(eventId) });
      await waitFor(async () => (await ops.contacts.countContacts(userId)) === N, 'the reset import to save every contact', 30_000);
    });
  });
});
