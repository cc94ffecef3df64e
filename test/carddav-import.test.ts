/**
 * A CardDAV import the whole way: a real Radicale seeded with 2,000 cards over HTTP, the API on a
 * real port with a real key, real workers (in process, and `worker/main.ts` processes for the
 * SIGKILL), the run's Temporal dev server, and the store, on SQLite and on PostgreSQL (when
 * `TEST_DATABASE_URL` is set). Skipped, saying why, without Debian's `radicale`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import { RejectPage } from '../api/schemas';
import type { ContactStore, Store, StoredContact } from '../db/types';
import { FAILURE_TYPES } from '../workflows/contract';
import { expectImport, expectJson, startApi, type ImportView, type TestApi } from './support/api';
import { startDavGate, type DavGate } from './support/dav-gate';
import {
  NAMESPACE,
  startWorker,
  storeCases,
  temporal,
  temporalAddress,
  testDataConverter,
  uniqueId,
  waitFor,
} from './support/harness';
import { radicaleMissing, startRadicale, type RadicaleServer, type SeedCard } from './support/radicale';

const ROOT = path.resolve(__dirname, '..');
const CARDS = 2_000;
/** Pages of 200, two per batch: ten pages, five batches, in one run. */
const TUNING = { pageSize: 200, pagesPerBatch: 2, maxBatchesPerRun: 100 };
/** Not the default tenant, so the tenant travels every step of the way. */
const TENANT = 'carddav-e2e';
const HistoryEvent = proto.api.history.v1.HistoryEvent;
type IHistoryEvent = proto.api.history.v1.IHistoryEvent;
type IPayload = proto.api.common.v1.IPayload;

/**
 * Cards whose stored fields are compared (`seedCard`): non-ASCII names (Zoë Müller, Łukasz 山田,
 * 美咲 Kowalski, Łukasz Nguyễn), an organization with an escaped comma (card 10), the last card.
 */
const CHECKED_CARDS = [1, 5, 6, 10, 1_235, CARDS];

const startBody = (userId: string, { url, username, password }: { url: string; username: string; password: string }) => ({
  userId,
  source: { provider: 'carddav', url, username, password },
});

/** Every event of the import's chain (each continue-as-new run after the first), raw: no codec. */
async function rawHistory(plain: Client, workflowId: string, firstRunId: string): Promise<IHistoryEvent[]> {
  const events: IHistoryEvent[] = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    let nextPageToken: Uint8Array | undefined;
    let next: string | undefined;
    do {
      const page = await plain.workflowService.getWorkflowExecutionHistory({
        namespace: NAMESPACE,
        execution: { workflowId, runId },
        nextPageToken,
      });
      for (const event of page.history?.events ?? []) {
        events.push(event);
        next = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? next;
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    runId = next;
  }
  return events;
}

/** The bytes of `events` as Temporal stores them, search attributes included: what a database dump shows. */
function storedBytes(events: readonly IHistoryEvent[]): Buffer {
  return Buffer.concat(events.map((event) => HistoryEvent.encode(HistoryEvent.fromObject(event)).finish()));
}

/** Every Payload message in a history (protobufjs tags each message with its type). */
function payloadsIn(value: unknown, found: IPayload[] = []): IPayload[] {
  if (Array.isArray(value)) {
    for (const item of value) payloadsIn(item, found);
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    if ((value as { $type?: { fullName?: string } }).$type?.fullName === '.temporal.api.common.v1.Payload') {
      found.push(value as IPayload);
    } else {
      for (const child of Object.values(value)) payloadsIn(child, found);
    }
  }
  return found;
}

/** The history's payloads decrypted with the service's keys (what an operator sees through the codec server). */
async function decodedText(events: readonly IHistoryEvent[]): Promise<string> {
  const codec = testDataConverter.payloadCodecs?.[0];
  assert.ok(codec, 'the test data converter has the payload codec');
  // Search attributes are not encrypted: the codec hands them back as they are.
  const decoded = await codec.decode(payloadsIn(events));
  return decoded.map((payload) => Buffer.from(payload.data ?? []).toString('utf8')).join('\n');
}

/** Asserts neither the password nor the Basic header carrying it is in `text`. */
function assertNoPassword(text: string | Buffer, server: { username: string; password: string }, where: string): void {
  const basic = Buffer.from(`${server.username}:${server.password}`).toString('base64');
  assert.ok(!text.includes(server.password), `${where} shows the CardDAV password`);
  assert.ok(!text.includes(basic), `${where} shows the Basic authorization carrying the password`);
}

/** The ApplicationFailure an import's workflow failed with, through any activity failure around it. */
async function failureOf(result: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await result.then(
    () => assert.fail('expected the import to fail, but it completed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof WorkflowFailedError, `expected a WorkflowFailedError, got ${String(error)}`);
  for (let cause: unknown = error.cause; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof ApplicationFailure) return cause;
  }
  assert.fail(`expected an ApplicationFailure in ${String(error.cause)}`);
}

/** All of a user's stored contacts, by externalId (the card's href). */
async function storedContacts(contacts: ContactStore, userId: string): Promise<Map<string, StoredContact>> {
  const byId = new Map<string, StoredContact>();
  let cursor: string | null = null;
  do {
    const page = await contacts.listContacts(userId, { limit: 1000, cursor });
    for (const contact of page.items) byId.set(contact.externalId, contact);
    cursor = page.nextCursor;
  } while (cursor);
  return byId;
}

function assertStoredAsSeeded(stored: Map<string, StoredContact>, cards: readonly SeedCard[]): void {
  for (const index of CHECKED_CARDS) {
    const card = cards[index - 1];
    assert.ok(card, `card ${index} was seeded`);
    const contact = stored.get(card.href);
    assert.ok(contact, `card ${card.href} is stored under its href`);
    assert.deepEqual(
      {
        provider: contact.provider,
        displayName: contact.displayName,
        email: contact.email,
        phone: contact.phone,
        organization: contact.organization,
      },
      { provider: 'carddav', displayName: card.displayName, email: card.email, phone: card.phone, organization: card.organization },
      `card ${card.href} is stored as it was seeded`,
    );
    assert.ok(contact.etag, `card ${card.href} keeps the server's etag`);
  }
}

void describe('CardDAV import through the API, against Radicale', { skip: radicaleMissing() ?? false }, () => {
  let radicale: RadicaleServer;

  before(async () => {
    radicale = await startRadicale({ cards: CARDS });
    assert.equal(radicale.cards.length, CARDS);
  });
  after(async () => {
    await radicale?.stop();
  });

  for (const storeCase of storeCases()) {
    void describe(`on ${storeCase.name}`, { skip: storeCase.skip }, () => {
      let store: Store;
      /** The store as the API's tenant sees it. */
      let contacts: ContactStore;
      let api: TestApi;
      let worker: Worker | undefined;
      let workerRun: Promise<void> | undefined;
      /** Reads Temporal raw, as someone without our keys would. */
      let plain: Client;

      before(async () => {
        store = await storeCase.open();
        contacts = store.tenant(TENANT);
        const taskQueue = uniqueId(`carddav-${storeCase.name}`);
        api = await startApi({ store, taskQueue, tenant: TENANT, tuning: TUNING });
        // CardDAV imports never call the People API: its URL only has to be valid.
        worker = await startWorker({ store, providerUrl: 'http://127.0.0.1:9', taskQueue });
        workerRun = worker.run();
        const { client } = await temporal();
        plain = new Client({ connection: client.connection, namespace: NAMESPACE });
      });
      after(async () => {
        if (worker?.getState() === 'RUNNING') worker.shutdown();
        await workerRun;
        await api?.close();
        await store?.close();
      });

      /** Polls the status until `state`, keeping every answer's JSON (to search it for the password). */
      async function finished(testApi: TestApi, importId: string, answers: string[], state: ImportView['state'] = 'completed') {
        return waitFor(async () => {
          const res = await testApi.call('GET', `/v1/imports/${importId}`);
          answers.push(JSON.stringify(res.json));
          const status = expectImport(res, 200);
          return status.state === state && status;
        }, `import ${importId} ${state}`);
      }

      it('imports 2,000 cards from the server root: exact count, fields as seeded, no password in history or status', async () => {
        const userId = uniqueId('dana');
        const answers: string[] = [];
        const { json: started, headers } = await api.startImport(startBody(userId, radicale));
        answers.push(JSON.stringify(started));
        assert.equal(headers.get('location'), `/v1/imports/${started.importId}`);
        assert.equal(started.provider, 'carddav');
        assert.equal(started.workflowId, `import-contacts/${TENANT}/carddav/${userId}`);

        const done = await finished(api, started.importId, answers);
        assert.equal(done.saved, CARDS);
        assert.equal(done.fetched, CARDS);
        assert.equal(done.rejected, 0, 'no card was set aside');
        assert.equal(done.total, CARDS, "the server's listing is the total");
        assert.equal(done.pages, CARDS / TUNING.pageSize);
        assert.equal(await contacts.countContacts(userId), CARDS, 'exactly 2,000 contacts stored');
        assert.equal(await contacts.countContacts(userId, 'carddav'), CARDS);
        const rejects = expectJson(await api.call('GET', `/v1/imports/${started.importId}/rejects`), 200, RejectPage);
        assert.deepEqual(rejects.items, [], 'the rejects list is empty');

        const stored = await storedContacts(contacts, userId);
        assert.equal(stored.size, CARDS);
        assert.deepEqual([...stored.keys()].sort(), radicale.cards.map((card) => card.href).sort(), 'every card, once, under its href');
        assertStoredAsSeeded(stored, radicale.cards);

        for (const answer of answers) assertNoPassword(answer, radicale, 'a status answer');
        const events = await rawHistory(plain, started.workflowId, started.runId);
        assert.ok(events.some((event) => event.activityTaskCompletedEventAttributes), 'the history holds the batches');
        const raw = storedBytes(events);
        assertNoPassword(raw, radicale, 'the history read without the codec');
        assert.ok(!raw.includes(radicale.cards[0]?.displayName ?? '?'), 'no contact data in the history');
        // Through the codec the input is readable, and the password is still sealed inside it.
        const decoded = await decodedText(events);
        assert.match(decoded, /sealedCredentials/, 'the codec decrypts the input');
        assertNoPassword(decoded, radicale, 'the history decrypted with the payload keys');
      });

      it('fails fast as ProviderUnauthenticated on a wrong password, with a readable error and no retries', async () => {
        const userId = uniqueId('erik');
        const wrong = { url: radicale.url, username: radicale.username, password: `wrong-${uniqueId('pw')}` };
        const answers: string[] = [];
        const startedAt = Date.now();
        const { json: started } = await api.startImport(startBody(userId, wrong));
        const failed = await finished(api, started.importId, answers, 'failed');
        const elapsed = Date.now() - startedAt;
        assert.ok(elapsed < 15_000, `a wrong password fails the import at once (took ${elapsed} ms)`);
        assert.ok(failed.error, 'a failed import says why');
        assert.match(failed.error, /401/);
        assert.match(failed.error, /username or password/);
        assert.equal(failed.saved, 0);
        assert.equal(await contacts.countContacts(userId), 0);
        for (const answer of answers) assertNoPassword(answer, wrong, 'a status answer');

        const { client } = await temporal();
        const failure = await failureOf(client.workflow.getHandle(started.workflowId, started.runId).result());
        assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
        const events = await rawHistory(plain, started.workflowId, started.runId);
        const attempts = events.flatMap((event) => event.activityTaskStartedEventAttributes?.attempt ?? []);
        assert.deepEqual(attempts, [1], 'one batch, one attempt: a 401 is not retried');
        assertNoPassword(storedBytes(events), wrong, 'the failed history read without the codec');
      });

      it('survives SIGKILL of a worker process mid-import: completed, exactly 2,000 contacts', async () => {
        const killQueue = uniqueId(`carddav-kill-${storeCase.name}`);
        const killApi = await startApi({ store, taskQueue: killQueue, tenant: TENANT, tuning: TUNING });
        const gate: DavGate = await startDavGate(radicale.url);
        const userId = uniqueId('karl');
        const spawnWorker = async (): Promise<ChildProcess> =>
          spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
            cwd: ROOT,
            env: {
              ...process.env,
              ...storeCase.env,
              TEMPORAL_ADDRESS: await temporalAddress(),
              TEMPORAL_TASK_QUEUE: killQueue,
              WORKER_HEARTBEAT_THROTTLE_MS: '20',
            },
            stdio: ['ignore', 'inherit', 'inherit'],
          });
        const killNow = async (proc: ChildProcess) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = new Promise((resolve) => proc.once('exit', resolve));
          proc.kill('SIGKILL');
          await exited;
        };
        let child: ChildProcess | undefined;
        try {
          // Three pages through, the fourth held: the second batch is mid-page when the worker dies.
          gate.holdAfter(3);
          child = await spawnWorker();
          // The address book itself this time (the first test gives the server root), through the gate.
          const bookUrl = new URL(new URL(radicale.addressBookUrl).pathname, gate.url).href;
          const { json: started } = await killApi.startImport(startBody(userId, { ...radicale, url: bookUrl }));
          await waitFor(async () => (await contacts.countContacts(userId)) === 3 * TUNING.pageSize, '3 pages saved');
          await waitFor(() => gate.multigets === 4, 'the 4th page to be asked for');
          assert.equal((await killApi.getImport(started.importId)).state, 'running');
          await killNow(child);
          gate.release();

          child = await spawnWorker();
          const done = await finished(killApi, started.importId, []);
          assert.equal(done.saved, CARDS);
          assert.equal(done.rejected, 0);
          assert.equal(await contacts.countContacts(userId), CARDS, 'exactly 2,000 contacts');
          const stored = await storedContacts(contacts, userId);
          assert.equal(stored.size, CARDS, 'no duplicates');
          assertStoredAsSeeded(stored, radicale.cards);
          // Ten pages, plus the held one asked again, plus page 3 when its heartbeat had not reached
          // the server before the kill: a retry resumes from the checkpoint, not from the start.
          assert.ok(gate.multigets <= 12, `the import resumed where it was (${gate.multigets} multigets for 10 pages)`);
        } finally {
          if (child) await killNow(child);
          await gate.close();
          await killApi.close();
        }
      });
    });
  }
});
