/**
 * Unreferenced uploads expire after `UPLOAD_RETENTION`, deleted by the `upload-expiry/<queue>`
 * Temporal Schedule (`ExpireUploads` and its activity), never while an import reads them: an upload
 * is kept while the import last started on it runs, and for a grace period after an import was
 * started on it; a delete that finds the reference changed (an import started meanwhile) deletes
 * nothing. On SQLite and PostgreSQL, against the run's Temporal server and a real worker.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createUploadExpiryActivities } from '../activities/upload-expiry';
import type { Store, UploadMeta } from '../db/types';
import { ensureUploadExpirySchedule } from '../worker/upload-expiry-schedule';
import { importWorkflowId } from '../workflows/contract';
import { ExpireUploadsResult, uploadExpiryScheduleId } from '../workflows/upload-expiry-contract';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import { UPLOAD_EXPIRY_COMMANDS } from './support/documented-commands';
import { NAMESPACE, startWorker, storeCases, temporal, uniqueId, waitFor } from './support/harness';
import { storeSql } from './support/store-sql';

const DAY_MS = 86_400_000;
const RETENTION_SECONDS = 7 * 86_400;
const CARD = Buffer.from('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nEND:VCARD\r\n');
const run = promisify(execFile);

/**
 * A `temporal` command of docs/operations.md ("Upload expiry") as an operator types it, the
 * placeholders filled, with the connection flags added.
 */
async function documented(command: string, vars: { taskQueue: string; address: string }): Promise<string> {
  const filled = command.replace('<task-queue>', vars.taskQueue).replace('<why>', 'tested by upload-expiry.test.ts');
  const args = [...filled.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '').slice(1);
  const { stdout } = await run(resolveTemporalCli(), [...args, '--address', vars.address, '--namespace', NAMESPACE]);
  return stdout;
}

async function* body(): AsyncGenerator<Uint8Array> {
  yield CARD;
}

for (const storeCase of storeCases()) {
  describe(`upload expiry on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    let worker: Worker;
    let workerRun: Promise<void>;
    let taskQueue: string;

    before(async () => {
      store = await storeCase.open();
      taskQueue = uniqueId(`expiry-${storeCase.name}`);
      // No import runs on this worker: it is here for ExpireUploads. The provider is never asked.
      worker = await startWorker({ store, providerUrl: 'http://127.0.0.1:9', taskQueue });
      workerRun = worker.run();
    });
    after(async () => {
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await store?.close();
    });

    const save = (tenant: string, userId: string) =>
      store.uploads.save(tenant, userId, body(), { maxBytes: 1 << 20, quotaBytes: 1 << 30, detect: async () => 'vcard' });
    /** Makes the upload (and its reference, when given) as old as a test cannot wait for. */
    const age = async (upload: UploadMeta, createdAgoMs: number, referencedAgoMs?: number) => {
      await storeSql(storeCase, 'UPDATE uploads SET created_at = ? WHERE tenant_id = ? AND upload_id = ?', [
        new Date(Date.now() - createdAgoMs).toISOString(),
        upload.tenant,
        upload.uploadId,
      ]);
      if (referencedAgoMs !== undefined) {
        await storeSql(storeCase, 'UPDATE uploads SET referenced_at = ? WHERE tenant_id = ? AND upload_id = ?', [
          new Date(Date.now() - referencedAgoMs).toISOString(),
          upload.tenant,
          upload.uploadId,
        ]);
      }
    };
    const chunks = async (tenant: string) =>
      Number((await storeSql<{ n: number | string }>(storeCase, 'SELECT count(*) AS n FROM upload_chunks WHERE tenant_id = ?', [tenant]))[0]?.n);
    const expiredOf = async (tenant: string) =>
      (await store.uploads.expiring(new Date(Date.now() - RETENTION_SECONDS * 1000).toISOString(), null, 10_000)).filter((u) => u.tenant === tenant);

    it("records a reference only on the user's own upload, and deletes an expired one only if its reference is unchanged", async () => {
      const tenant = uniqueId('ref');
      const upload = await save(tenant, 'alice');
      const workflowId = importWorkflowId({ tenant, userId: 'alice' }, 'file');
      assert.equal(await store.uploads.reference(tenant, upload.uploadId, { userId: 'bob', workflowId }), false, "another user's import");
      assert.equal(await store.uploads.reference(tenant, 'upl_neverissued', { userId: 'alice', workflowId }), false, 'no such upload');
      assert.equal(await store.uploads.reference(uniqueId('other'), upload.uploadId, { userId: 'alice', workflowId }), false, 'another tenant');
      assert.equal(await store.uploads.reference(tenant, upload.uploadId, { userId: 'alice', workflowId }), true);
      const young = await save(tenant, 'alice');
      await age(upload, 30 * DAY_MS, 20 * DAY_MS);

      const [listed] = await expiredOf(tenant);
      assert.equal(listed?.uploadId, upload.uploadId, 'only the old upload is past its retention');
      assert.equal(listed?.reference?.workflowId, workflowId);
      // An import is started on it between the listing and the delete: the delete finds nothing.
      assert.equal(await store.uploads.reference(tenant, upload.uploadId, { userId: 'alice', workflowId }), true);
      assert.equal(await store.uploads.deleteExpired(listed), false);
      assert.ok(await store.uploads.get(tenant, upload.uploadId), 'the upload an import was just started on is still there');

      const [again] = await expiredOf(tenant);
      assert.ok(again);
      assert.equal(await store.uploads.deleteExpired(again), true);
      assert.equal(await store.uploads.get(tenant, upload.uploadId), null);
      assert.equal(await store.uploads.usedBytes(tenant), young.bytes, 'its bytes no longer count against the quota');
      if (storeCase.name === 'postgres') assert.equal(await chunks(tenant), 1, "only the young upload's chunk is left");
      else await assert.rejects(store.uploads.open(tenant, upload.uploadId), /has no upload/);
    });

    it('the schedule deletes what no running import reads and keeps the rest', { timeout: 120_000 }, async () => {
      const { client, address } = await temporal();
      const scheduleId = uploadExpiryScheduleId(taskQueue);
      assert.equal(await ensureUploadExpirySchedule(client, { taskQueue, retentionSeconds: RETENTION_SECONDS }), 'created');
      const tenant = uniqueId('expiry');
      // Carol's import runs (on a queue no worker polls, so it stays running).
      const running = await client.workflow.start('ImportContacts', {
        taskQueue: uniqueId('nobody-polls'),
        workflowId: importWorkflowId({ tenant, userId: 'carol' }, 'file'),
        args: [{}],
      });
      try {
        assert.equal(await ensureUploadExpirySchedule(client, { taskQueue, retentionSeconds: RETENTION_SECONDS }), 'unchanged', 'idempotent');
        assert.equal(await ensureUploadExpirySchedule(client, { taskQueue, retentionSeconds: 2 * RETENTION_SECONDS }), 'updated');
        assert.equal(await ensureUploadExpirySchedule(client, { taskQueue, retentionSeconds: RETENTION_SECONDS }), 'updated');
        assert.match(await documented(UPLOAD_EXPIRY_COMMANDS.list, { taskQueue, address }), new RegExp(scheduleId), 'operators see it');

        const unreferenced = await save(tenant, 'alice');
        const young = await save(tenant, 'alice');
        const readByRunningImport = await save(tenant, 'carol');
        const importEnded = await save(tenant, 'dave');
        const importStarting = await save(tenant, 'erin');
        for (const [upload, userId] of [[readByRunningImport, 'carol'], [importEnded, 'dave'], [importStarting, 'erin']] as const) {
          await store.uploads.reference(tenant, upload.uploadId, { userId, workflowId: importWorkflowId({ tenant, userId }, 'file') });
        }
        await age(unreferenced, 30 * DAY_MS);
        await age(readByRunningImport, 30 * DAY_MS, 20 * DAY_MS);
        await age(importEnded, 30 * DAY_MS, 20 * DAY_MS);
        await age(importStarting, 30 * DAY_MS);

        const handle = client.schedule.getHandle(scheduleId);
        await documented(UPLOAD_EXPIRY_COMMANDS.trigger, { taskQueue, address });
        const run = await waitFor(async () => (await handle.describe()).info.recentActions.at(-1)?.action.workflow, 'the scheduled run to start');
        const result = ExpireUploadsResult.parse(await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result());
        assert.ok(result.deleted >= 2 && result.kept >= 2, `deleted at least the two, kept at least the two: ${JSON.stringify(result)}`);

        assert.equal(await store.uploads.get(tenant, unreferenced.uploadId), null, 'past its retention, never imported: deleted');
        assert.equal(await store.uploads.get(tenant, importEnded.uploadId), null, 'its import is not running: deleted');
        assert.ok(await store.uploads.get(tenant, young.uploadId), 'within its retention: kept');
        assert.ok(await store.uploads.get(tenant, readByRunningImport.uploadId), 'its import runs: kept');
        assert.ok(await store.uploads.get(tenant, importStarting.uploadId), 'an import was just started on it: kept');
        assert.equal(await store.uploads.usedBytes(tenant), 3 * CARD.length);

        // Paused by an operator, it stays paused when a worker starts with another retention.
        await documented(UPLOAD_EXPIRY_COMMANDS.pause, { taskQueue, address });
        assert.equal(await ensureUploadExpirySchedule(client, { taskQueue, retentionSeconds: 2 * RETENTION_SECONDS }), 'updated');
        assert.equal((await handle.describe()).state.paused, true, 'still paused after a worker updated it');
      } finally {
        await running.terminate('test over').catch(() => undefined);
        await client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
      }
    });

    it('goes on from where its last heartbeat says it stopped', async () => {
      const { client } = await temporal();
      const tenant = uniqueId('resume');
      const uploads = [await save(tenant, 'alice'), await save(tenant, 'alice'), await save(tenant, 'alice')];
      for (const [i, upload] of uploads.entries()) await age(upload, 30 * DAY_MS - i * 1_000);
      const [, second] = await expiredOf(tenant);
      assert.ok(second);
      const env = new MockActivityEnvironment({
        heartbeatDetails: { after: { createdAt: second.createdAt, tenant, uploadId: second.uploadId }, deleted: 5, bytes: 500, kept: 1 },
      });
      const { expireUploads } = createUploadExpiryActivities({ store, client });
      const result = ExpireUploadsResult.parse(await env.run(expireUploads, { retentionSeconds: RETENTION_SECONDS }));
      assert.ok(result.deleted >= 6 && result.bytes >= 500 + CARD.length, `the counts go on from the heartbeat's: ${JSON.stringify(result)}`);
      assert.ok(await store.uploads.get(tenant, uploads[0]!.uploadId), 'before the position: not looked at again');
      assert.ok(await store.uploads.get(tenant, uploads[1]!.uploadId), 'the position itself: done already');
      assert.equal(await store.uploads.get(tenant, uploads[2]!.uploadId), null, 'after it: deleted');
    });
  });
}
