/**
 * The operator's path with the `temporal` CLI, without our API: the commands `docs/operations.md`
 * documents, run word for word as subprocesses (test/support/documented-commands.ts) against a
 * real running import on the run's dev server (test/support/operated-import.ts), with assertions
 * on what they print and on what the API and the store then say.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TerminatedFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../workflows/contract';
import { historyTable, jsonIn, resetPointBeforeLastBatch, runDocumented, TEMPORAL } from './support/documented-commands';
import { temporal, waitFor } from './support/harness';
import { N, operatedImports, TENANT } from './support/operated-import';

describe('operating an import from the command line', () => {
  const ops = operatedImports();
  const { runningImport, failedImport, apiSays, failureOfRun, assertFailedWith, listed } = ops;

  it('finds, inspects, pauses and resumes an import until it has exactly N contacts', async () => {
    const { userId, importId, workflowId } = await runningImport('op-alice');
    const vars = { tenant: TENANT, 'user-id': userId };

    await listed(TEMPORAL.listByUser, vars, workflowId);

    const status = jsonIn(await runDocumented(TEMPORAL.query, vars));
    assert.equal(status.state, 'running');
    assert.equal(status.saved, 200);
    assert.equal(status.total, N);

    const described = await runDocumented(TEMPORAL.describe, vars);
    assert.match(described, new RegExp(`Import google-people contacts for user ${userId}`), 'describe shows the summary');
    assert.match(described, /ImportState/, 'describe shows the search attributes');
    assert.match(described, /Pending Activities: 1[\s\S]*importBatch/, 'describe shows the running batch');

    const history = await runDocumented(TEMPORAL.show, vars);
    assert.match(history, /WorkflowExecutionStarted/);
    assert.match(history, /ActivityTaskScheduled/);
    const detailed = await runDocumented(TEMPORAL.showDetailed, vars);
    assert.match(detailed, new RegExp(`Import google-people contacts for user ${userId}`), 'show --detailed has the summary');
    assert.match(detailed, /pages 3–4 · 100 contacts per page · 200 saved so far/, 'and the running batch');

    await runDocumented(TEMPORAL.pause, vars);
    // The pause stops the batch at the page it waits for; the page is let go only once it has.
    const paused = await apiSays(importId, 'paused');
    assert.equal(paused.saved, 200);
    ops.provider.configure({ faults: {} });
    assert.equal(jsonIn(await runDocumented(TEMPORAL.query, vars)).state, 'paused');
    await listed(TEMPORAL.listPaused, vars, workflowId);

    await runDocumented(TEMPORAL.resume, vars);
    const done = await apiSays(importId, 'completed');
    assert.equal(done.saved, N);
    assert.equal(await ops.contacts.countContacts(userId), N, 'exactly N contacts after pause and resume');
  });

  it('cancels an import: the API says cancelled and keeps what was saved', async () => {
    const { userId, importId } = await runningImport('op-bob');
    const output = await runDocumented(TEMPORAL.cancel, { tenant: TENANT, 'user-id': userId });
    assert.match(output, /cancel/i);
    const cancelled = await apiSays(importId, 'cancelled');
    assert.equal(cancelled.saved, 200);
    assert.equal(await ops.contacts.countContacts(userId), 200);
  });

  it('terminates an import: the API says failed, terminated by an operator', async () => {
    const { userId, importId, workflowId } = await runningImport('op-carol');
    await runDocumented(TEMPORAL.terminate, { tenant: TENANT, 'user-id': userId, why: 'operations-cli test' });
    const failed = await apiSays(importId, 'failed');
    assert.match(failed.error ?? '', /terminated/i);
    const cause = await failureOfRun(workflowId, failed.runId);
    assert.ok(cause instanceof TerminatedFailure, `expected the run to be terminated, got ${String(cause)}`);
    assert.match(await runDocumented(TEMPORAL.show, { tenant: TENANT, 'user-id': userId }), /WorkflowExecutionTerminated/);
  });

  it('resets a failed import: LastWorkflowTask fails again, the event before the failed batch re-runs it, and the API follows', async () => {
    const { userId, importId, workflowId, failed } = await failedImport('op-dave');
    assert.match(failed.error ?? '', /401/);
    assert.equal(failed.saved, 500);
    assert.equal(await ops.contacts.countContacts(userId), 500, 'the failed import counts exactly what it saved');
    const vars = { tenant: TENANT, 'user-id': userId, why: 'provider fixed' };
    await listed(TEMPORAL.listFailed, vars, workflowId);

    // The cause is fixed outside the workflow's input (here: the provider accepts the token again).
    ops.provider.configure({ faults: {} });

    // LastWorkflowTask replays the recorded activity failure: the run fails again, nothing is fetched.
    const requestsBefore = ops.provider.stats.requests;
    assert.match(await runDocumented(TEMPORAL.resetLast, vars), /Resetting workflow/);
    await waitFor(
      async () => {
        const described = await runDocumented(TEMPORAL.describe, vars);
        return /LastResetTime/.test(described) && /Status\s+FAILED/.test(described);
      },
      'the LastWorkflowTask reset run to fail',
      30_000,
    );
    assert.equal(ops.provider.stats.requests, requestsBefore, 'a LastWorkflowTask reset does not call the provider again');
    const { client } = await temporal();
    const failedAgain = await client.workflow.getHandle(workflowId).describe();
    assert.notEqual(failedAgain.runId, failed.runId, 'the reset made a new run');
    await assertFailedWith(workflowId, failedAgain.runId, FAILURE_TYPES.providerUnauthenticated);

    // Reset to the WorkflowTaskCompleted just above the failed batch: the batch runs again.
    const eventId = resetPointBeforeLastBatch(historyTable(await runDocumented(TEMPORAL.show, vars)));
    assert.match(await runDocumented(TEMPORAL.resetToEvent, { ...vars, 'event-id': String(eventId) }), /Resetting workflow/);
    await waitFor(
      async () => /Status\s+COMPLETED/.test(await runDocumented(TEMPORAL.describe, vars)),
      'the reset import to complete',
      30_000,
    );
    assert.equal(await ops.contacts.countContacts(userId), N, 'the reset run saved the rest: exactly N contacts');
    const result = jsonIn((await runDocumented(TEMPORAL.describe, vars)).split(/Result\s+/)[1] ?? '');
    assert.equal(result.saved, N);

    // The importId from before the resets still names the import. The API may answer from its
    // last reading for up to a couple of seconds.
    const status = await apiSays(importId, 'completed');
    assert.equal(status.saved, N);
  });
});
