/**
 * File imports end to end, on the run's real Temporal dev server: `POST /v1/uploads`, then
 * `POST /v1/imports` with `{"provider": "file", "uploadId"}`, a real worker reading the upload in
 * batches, the contacts and rejects read back over HTTP. Once on SQLite and once on PostgreSQL (when
 * `TEST_DATABASE_URL` is set).
 *
 * - every fixture dialect (test/fixtures/contacts) against its exact expectations in expected.json;
 * - the generated 20,000-record vCard and CSV files (about 1% malformed) in pages of 1,000, two pages
 *   a batch and two batches a run, so batching and continue-as-new are both exercised;
 * - a re-import of the same upload saves no new rows;
 * - a worker process SIGKILLed mid-import, replaced, ending with exactly the expected counts.
 *
 *   npx tsx scripts/run-tests.ts test/file-import.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { Worker } from '@temporalio/worker';
import type { z } from '@hono/zod-openapi';
import { RejectPage, Upload } from '../api/schemas';
import type { ContactStore, Store } from '../db/types';
import { expectContactPage, expectError, expectImport, expectJson, type ContactPageBody, type ImportView, type TestApi, startApi } from './support/api';
import { writeCsvFile, writeVCardFile, type ContactFileExpectation } from './support/contact-files';
import { startWorker, storeCases, temporal, temporalAddress, uniqueId } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures', 'contacts');
/** Not the default tenant, so the tenant travels every step of the way. */
const TENANT = 'file-e2e';
/** Pages of 1,000 (the default), two a batch, two batches a run: 20 pages, 10 batches, 5 runs. */
const TUNING = { pageSize: 1000, pagesPerBatch: 2, maxBatchesPerRun: 2 };
/** The kill test's import: 5,000 cards in pages of 250, ten a batch, so the first batch is in flight at 1,000. */
const KILL_TUNING = { pageSize: 250, pagesPerBatch: 10, maxBatchesPerRun: 100 };
const KILL_RECORDS = 5_000;
const KILL_AT = 1_000;
const LARGE = 20_000;
/** File imports never call the People API: its URL only has to be valid. */
const NO_PROVIDER = 'http://127.0.0.1:9';

interface ExpectedRecord {
  externalId?: string;
  displayName: string | null;
  email: string | null;
  phone: string | null;
  phoneE164: string | null;
  organization: string | null;
}
interface FixtureExpectation {
  duplicates: number;
  records: ExpectedRecord[];
  rejected: Array<{ position: string; reason: string; message: string }>;
}
const EXPECTED = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, FixtureExpectation>;
const DIALECTS = [
  'vcard-2.1.vcf',
  'vcard-3.0.vcf',
  'vcard-4.0.vcf',
  'google.csv',
  'google-legacy.csv',
  'outlook.csv',
  'outlook-windows-1252.csv',
  'google-bom.csv',
] as const;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const contentType = (file: string) => (file.endsWith('.vcf') ? 'text/vcard' : 'text/csv');
const fields = (c: ExpectedRecord): ExpectedRecord => ({
  displayName: c.displayName,
  email: c.email,
  phone: c.phone,
  phoneE164: c.phoneE164,
  organization: c.organization,
});
const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

let dir: string;
type GeneratedFile = ContactFileExpectation & { bytes: Buffer };
const large = {} as Record<'vcard' | 'csv', GeneratedFile>;
let killFile: GeneratedFile;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'file-import-'));
  const vcard = writeVCardFile(path.join(dir, 'contacts.vcf'), LARGE);
  const csv = writeCsvFile(path.join(dir, 'contacts.csv'), LARGE);
  large.vcard = { ...vcard, bytes: fs.readFileSync(vcard.path) };
  large.csv = { ...csv, bytes: fs.readFileSync(csv.path) };
  const small = writeVCardFile(path.join(dir, 'kill.vcf'), KILL_RECORDS);
  killFile = { ...small, bytes: fs.readFileSync(small.path) };
  assert.equal(vcard.rejected, 200, 'the generator writes 1% malformed records');
  assert.equal(csv.rejected, 200);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Uploads `bytes` for `userId`, raw or as a one-file multipart form, expecting 201. */
async function upload(api: TestApi, userId: string, bytes: Buffer, type: string, multipart = false) {
  const form = new FormData();
  if (multipart) form.append('file', new Blob([bytes], { type }), 'contacts');
  const res = await fetch(`${api.url}/v1/uploads?userId=${encodeURIComponent(userId)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.key}`, ...(multipart ? {} : { 'content-type': type }) },
    body: multipart ? form : bytes,
  });
  const text = await res.text();
  const meta = expectJson({ status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined }, 201, Upload);
  assert.equal(meta.bytes, bytes.length, 'the upload kept every byte');
  assert.equal(meta.sha256, sha256(bytes));
  assert.equal(meta.format, type === 'text/vcard' ? 'vcard' : 'csv');
  return meta;
}

const fileSource = (userId: string, uploadId: string) => ({ userId, source: { provider: 'file', uploadId } });

/**
 * Fails when the import's batch keeps failing: the workflow's pending activity on its 3rd attempt
 * with an application failure, reported with that failure's type and message. A batch that cannot
 * progress is retried for ever, so waiting longer would only hide why.
 */
async function assertNotStuck(started: ImportView, saved: number): Promise<void> {
  const { client } = await temporal();
  const description = await client.workflow.getHandle(started.workflowId).describe();
  for (const activity of description.raw.pendingActivities ?? []) {
    if ((activity.attempt ?? 0) >= 3 && activity.lastFailure?.applicationFailureInfo) {
      const error = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, activity.lastFailure);
      assert.fail(
        `import ${started.importId} is stuck at saved=${saved}: its batch failed ${activity.attempt} times, last with ` +
          `${activity.lastFailure.applicationFailureInfo.type}: ${error?.message ?? activity.lastFailure.message}`,
      );
    }
  }
}

/**
 * Polls the status until `until` says so (by default: `completed`). Fails at once when the import
 * ends otherwise (`failed`, `cancelled`) or its batch is stuck ({@link assertNotStuck}).
 */
async function completed(
  api: TestApi,
  started: ImportView,
  { timeoutMs = 60_000, until = (s: ImportView) => s.state === 'completed' }: { timeoutMs?: number; until?: (s: ImportView) => boolean | Promise<boolean> } = {},
): Promise<ImportView> {
  const deadline = Date.now() + timeoutMs;
  let lastCheck = Date.now();
  for (;;) {
    const res = await api.call('GET', `/v1/imports/${started.importId}`);
    // Temporal slower than the API's call budget (a loaded machine) is answered 503 with the stored
    // progress, which the API documents as "try again shortly": a poller does.
    let seen: unknown = 'Temporal unavailable';
    if (res.status === 503) {
      expectError(res, 503, 'temporal_unavailable');
    } else {
      const status = expectImport(res, 200);
      if (await until(status)) return status;
      assert.equal(status.state, 'running', `import ${started.importId} ended ${status.state}: ${status.errorType}: ${status.error}`);
      if (Date.now() - lastCheck > 1000) {
        lastCheck = Date.now();
        await assertNotStuck(started, status.saved);
      }
      seen = status;
    }
    assert.ok(Date.now() < deadline, `import ${started.importId} not there after ${timeoutMs} ms: ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every contact of `userId` through `GET /v1/users/{userId}/contacts`, following the cursor. */
async function allContacts(api: TestApi, userId: string): Promise<ContactPageBody['items']> {
  const items: ContactPageBody['items'] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `?limit=1000&cursor=${encodeURIComponent(cursor)}` : '?limit=1000';
    const page = expectContactPage(await api.call('GET', `/v1/users/${encodeURIComponent(userId)}/contacts${query}`));
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** Every reject of an import through `GET /v1/imports/{importId}/rejects`, `limit` at a time. */
async function allRejects(api: TestApi, importId: string, limit: number) {
  const items: z.infer<typeof RejectPage>['items'] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = cursor ? `?limit=${limit}&cursor=${encodeURIComponent(cursor)}` : `?limit=${limit}`;
    const page = expectJson(await api.call('GET', `/v1/imports/${importId}/rejects${query}`), 200, RejectPage);
    assert.ok(page.items.length <= limit);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

function assertLargeImport(status: ImportView, expected: ContactFileExpectation, pageSize: number): void {
  assert.equal(status.state, 'completed');
  assert.equal(status.provider, 'file');
  assert.equal(status.saved, expected.saved, 'saved: every distinct id once');
  assert.equal(status.rejected, expected.rejected, 'rejected: every malformed record');
  assert.equal(status.pages, Math.ceil(expected.records / pageSize), 'read in several pages, none counted twice');
  assert.ok(status.pages > 1);
}

/** SIGKILLs `proc` unless it has exited, and waits for it to be gone. */
async function killNow(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await exited;
}

for (const storeCase of storeCases()) {
  describe(`file imports through the API on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    /** The store as the API's tenant sees it. */
    let contacts: ContactStore;
    let api: TestApi;
    let worker: Worker | undefined;
    let workerRun: Promise<void> | undefined;
    /** The kill test's worker process, its task queue and API: started early, so its start-up overlaps the other tests. */
    const killQueue = uniqueId(`file-kill-${storeCase.name}`);
    let killApi: TestApi | undefined;
    let victim: ChildProcess | undefined;
    /** Large-file imports of the first tests, re-imported by a later one. */
    const imported: Partial<Record<'vcard' | 'csv', { userId: string; uploadId: string; first: ImportView }>> = {};

    before(async () => {
      store = await storeCase.open();
      contacts = store.tenant(TENANT);
      const taskQueue = uniqueId(`file-${storeCase.name}`);
      api = await startApi({ store, taskQueue, tenant: TENANT, tuning: TUNING });
      worker = await startWorker({ store, providerUrl: NO_PROVIDER, taskQueue });
      workerRun = worker.run();
      killApi = await startApi({ store, taskQueue: killQueue, tenant: TENANT, tuning: KILL_TUNING });
      victim = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
        cwd: ROOT,
        env: {
          ...process.env,
          ...storeCase.env,
          TEMPORAL_ADDRESS: await temporalAddress(),
          TEMPORAL_TASK_QUEUE: killQueue,
          WORKER_HEARTBEAT_THROTTLE_MS: '20',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    });
    after(async () => {
      if (victim) await killNow(victim);
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await killApi?.close();
      await api?.close();
      await store?.close();
    });

    for (const file of DIALECTS) {
      it(`imports ${file}: exact saved and rejected counts, stored fields and rejects`, async () => {
        const expected = EXPECTED[file];
        assert.ok(expected, `expected.json describes ${file}`);
        const userId = uniqueId('dialect');
        const bytes = fs.readFileSync(path.join(FIXTURES, file));
        // One of them as a form, the way a browser sends a file input.
        const { uploadId } = await upload(api, userId, bytes, contentType(file), file === 'google-bom.csv');
        const { json: started } = await api.startImport(fileSource(userId, uploadId), 202);
        assert.equal(started.provider, 'file');
        assert.equal(started.workflowId, `import-contacts/${TENANT}/file/${userId}`);

        const done = await completed(api, started);
        assert.equal(done.saved, expected.records.length, 'saved');
        assert.equal(done.rejected, expected.rejected.length, 'rejected');
        assert.equal(done.pages, 1);

        const listed = await allContacts(api, userId);
        assert.ok(listed.every((c) => c.provider === 'file'), 'every contact is filed under the file provider');
        assert.deepEqual(listed.map(fields).sort(byJson), expected.records.map(fields).sort(byJson), 'the stored fields');
        for (const record of expected.records.filter((r) => r.externalId !== undefined)) {
          const contact = listed.find((c) => c.externalId === record.externalId);
          assert.ok(contact, `a contact is stored under its UID ${record.externalId}`);
          assert.deepEqual(fields(contact), fields(record));
        }
        assert.equal(new Set(listed.map((c) => c.externalId)).size, listed.length, 'no id twice');
        assert.equal(await contacts.countContacts(userId), expected.records.length, 'the store holds exactly these');

        const { items } = await allRejects(api, started.importId, 1000);
        assert.deepEqual(
          items.map(({ position, reason, message }) => ({ position, reason, message })).sort(byJson),
          [...expected.rejected].sort(byJson),
          'the rejects listing',
        );
        for (const reject of items) {
          assert.ok(reject.excerpt.length > 0, `reject ${reject.position} keeps an excerpt`);
          assert.ok(Buffer.byteLength(reject.excerpt) <= 2048, `reject ${reject.position}: an excerpt is at most 2 KiB`);
        }
      });
    }

    for (const format of ['vcard', 'csv'] as const) {
      it(`imports the ${LARGE.toLocaleString('en')}-record ${format} file with ~1% malformed records: exact counts, every reject listed, several batches and runs`, async () => {
        const expected = large[format];
        const userId = uniqueId(`large-${format}`);
        const { uploadId } = await upload(api, userId, expected.bytes, format === 'vcard' ? 'text/vcard' : 'text/csv');
        const { json: started } = await api.startImport(fileSource(userId, uploadId), 202);
        const done = await completed(api, started);
        assertLargeImport(done, expected, TUNING.pageSize);
        imported[format] = { userId, uploadId, first: done };

        const { client } = await temporal();
        const latest = await client.workflow.getHandle(started.workflowId).describe();
        assert.notEqual(latest.runId, started.runId, 'the import continued as new (two batches a run)');

        assert.equal(await contacts.countContacts(userId), expected.saved, 'the store holds exactly the distinct records');
        const listed = await allContacts(api, userId);
        assert.equal(listed.length, expected.saved);
        assert.equal(new Set(listed.map((c) => c.externalId)).size, expected.saved, 'no id twice');

        const rejects = await allRejects(api, started.importId, 64);
        assert.ok(rejects.pages >= 4, `the rejects listing was paged with its cursor (${rejects.pages} pages)`);
        assert.deepEqual(rejects.items.map((r) => r.position).sort(), [...expected.rejectedPositions].sort(), 'every reject, once');
        assert.deepEqual([...new Set(rejects.items.map((r) => r.reason))].sort(), ['no_identity', 'unparseable']);
      });
    }

    it('re-imports the same uploads with new imports: the same counts, no new rows', async () => {
      await Promise.all(
        (['vcard', 'csv'] as const).map(async (format) => {
          const first = imported[format];
          assert.ok(first, `the ${format} file was imported by the test before`);
          const expected = large[format];
          const { json: again } = await api.startImport(fileSource(first.userId, first.uploadId), 202);
          assert.notEqual(again.importId, first.first.importId, 'a new import');
          const done = await completed(api, again);
          assertLargeImport(done, expected, TUNING.pageSize);
          assert.equal(await contacts.countContacts(first.userId), expected.saved, `${format}: the same rows, none added`);
          const rejects = await allRejects(api, again.importId, 1000);
          assert.deepEqual(
            rejects.items.map((r) => r.position).sort(),
            [...expected.rejectedPositions].sort(),
            `${format}: the new import lists its own rejects`,
          );
        }),
      );
    });

    it('resumes a file import after its worker process is SIGKILLed mid-batch: exactly the expected counts', async () => {
      const expected = killFile;
      const userId = uniqueId('killed');
      let replacement: Worker | undefined;
      let replacementRun: Promise<void> | undefined;
      try {
        assert.ok(victim && killApi, 'the worker process was started');
        const { uploadId } = await upload(killApi, userId, expected.bytes, 'text/vcard');
        const { json: started } = await killApi.startImport(fileSource(userId, uploadId), 202);
        // The process bundles its workflows first (started in before(): mostly done by now).
        await completed(killApi, started, {
          timeoutMs: 45_000,
          until: async () => (await contacts.countContacts(userId)) >= KILL_AT,
        });
        await killNow(victim);
        const atKill = await contacts.countContacts(userId);
        assert.ok(atKill < expected.saved, `killed mid-import (${atKill} of ${expected.saved} saved)`);

        // Another worker takes the batch once its heartbeat times out (10 s), from its last checkpoint.
        replacement = await startWorker({ store, providerUrl: NO_PROVIDER, taskQueue: killQueue });
        replacementRun = replacement.run();
        const done = await completed(killApi, started);
        assertLargeImport(done, expected, KILL_TUNING.pageSize);
        assert.equal(await contacts.countContacts(userId), expected.saved, 'exactly the expected contacts, none twice');
        const listed = await allContacts(killApi, userId);
        assert.equal(new Set(listed.map((c) => c.externalId)).size, expected.saved, 'no id twice');
        const rejects = await allRejects(killApi, started.importId, 1000);
        assert.deepEqual(rejects.items.map((r) => r.position).sort(), [...expected.rejectedPositions].sort(), 'every reject, once');

        const { client } = await temporal();
        const history = await client.workflow.getHandle(started.workflowId).fetchHistory();
        const attempts = (history.events ?? []).flatMap((event) => event.activityTaskStartedEventAttributes?.attempt ?? []);
        assert.ok(attempts.some((attempt) => attempt >= 2), `the killed batch was retried on the new worker (attempts ${attempts.join(', ')})`);
      } finally {
        if (replacement?.getState() === 'RUNNING') replacement.shutdown();
        await replacementRun;
      }
    });
  });
}
