/**
 * What an operator (or anyone with a copy of Temporal's database) reads without our keys: an
 * import's history, pending activity and query answers fetched raw, with no codec. Every payload
 * outside the search attributes must be `binary/encrypted`, and no contact data, token, count or
 * failure message may be readable in the bytes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import { createTemporalImports, type Imports } from '../api/imports';
import { dataConverter } from '../encryption/data-converter';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../encryption/payload-codec';
import { parsePayloadKeys } from '../config/parse';
import { openStore, type Store } from '../db';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { createImportWorker } from '../worker/create-worker';
import { NAMESPACE, temporal, TEST_TUNING, testSealer, uniqueId, waitFor, workflowBundle } from './support/harness';
import { readProviderSettings } from '../providers';

const N = 1_000;
const TENANT = 'default';
const KEY_ID = 'history-test';
const keyring = parsePayloadKeys('test', `${KEY_ID}:${Buffer.alloc(32, 11).toString('base64')}`);
const HistoryEvent = proto.api.history.v1.HistoryEvent;

/** Strings of the demo provider's contacts (names, emails, phones, organisations). */
const CONTACT_DATA = ['Lovelace', 'Hopper', 'Turing', 'example.com', '+1 555-', 'Bell Labs'];
/** The status, memo and summaries in clear would show these. */
const PROGRESS_TEXT = ['"saved"', '"fetched"', '"total"', '1,000', 'contacts saved', 'Import google-people contacts'];

interface FoundPayload {
  at: string;
  payload: proto.api.common.v1.IPayload;
}

/** A decoded Payload message (protobufjs tags each message with its type). */
const isPayload = (value: object): value is proto.api.common.v1.IPayload =>
  (value as { $type?: { fullName?: string } }).$type?.fullName === '.temporal.api.common.v1.Payload';

const encodingOf = (payload: proto.api.common.v1.IPayload) => Buffer.from(payload.metadata?.encoding ?? []).toString();

/** Every payload in a message tree, with the path it was found at; search attributes left out. */
function payloadsIn(value: unknown, at: string, found: FoundPayload[] = []): FoundPayload[] {
  if (Array.isArray(value)) {
    value.forEach((item, index) => payloadsIn(item, `${at}[${index}]`, found));
  } else if (value !== null && typeof value === 'object' && isPayload(value)) {
    found.push({ at, payload: value });
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (key !== 'searchAttributes') payloadsIn(child, `${at}.${key}`, found);
    }
  }
  return found;
}

/** `value` as a plain object with every `searchAttributes` field removed. */
function withoutSearchAttributes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSearchAttributes);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'searchAttributes')
      .map(([key, child]) => [key, withoutSearchAttributes(child)]),
  );
}

/** The bytes of `events` as stored, search attributes left out: what a database dump would show. */
function rawBytes(events: proto.api.history.v1.IHistoryEvent[]): Buffer {
  return Buffer.concat(
    events.map((event) => {
      const stripped = withoutSearchAttributes(HistoryEvent.toObject(HistoryEvent.fromObject(event)));
      return HistoryEvent.encode(HistoryEvent.fromObject(stripped as Record<string, unknown>)).finish();
    }),
  );
}

function assertEncrypted(found: FoundPayload[], what: string): void {
  assert.ok(found.length > 0, `${what} holds payloads`);
  for (const { at, payload } of found) {
    assert.equal(encodingOf(payload), ENCRYPTED_ENCODING, `${what}: the payload at ${at} is encrypted`);
    assert.equal(Buffer.from(payload.metadata?.[KEY_ID_METADATA] ?? []).toString(), KEY_ID, `${what}: ${at} names its key`);
  }
}

function assertUnreadable(bytes: Buffer, needles: readonly string[], what: string): void {
  for (const needle of needles) assert.ok(!bytes.includes(needle), `${what} shows "${needle}" in clear`);
}

describe('history as stored, read without the codec', () => {
  let provider: DemoProvider;
  let dataDir: string;
  let store: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let imports: Imports;
  /** Reads raw, as an operator without our keys would. */
  let plain: Client;

  before(async () => {
    const { client, nativeConnection } = await temporal();
    plain = new Client({ connection: client.connection, namespace: NAMESPACE });
    provider = await startDemoProvider({ contacts: N });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-encrypted-'));
    store = await openStore({ kind: 'sqlite', file: path.join(dataDir, 'contacts.db') });
    const taskQueue = uniqueId('encrypted-history');
    const converter = dataConverter(keyring);
    worker = await createImportWorker({
      connection: nativeConnection,
      namespace: NAMESPACE,
      taskQueue,
      workflowBundle: await workflowBundle(),
      heartbeatThrottleMs: 20,
      dataConverter: converter,
      deps: { store, sealer: testSealer, sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }) }, keepAliveHeartbeatMs: 500 },
    });
    workerRun = worker.run();
    imports = createTemporalImports({
      client: new Client({ connection: client.connection, namespace: NAMESPACE, dataConverter: converter }),
      sealer: testSealer,
      taskQueue,
      tuning: TEST_TUNING,
    });
  });

  after(async () => {
    provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await provider?.close();
    await store?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const countContacts = (userId: string) => store.tenant(TENANT).countContacts(userId);

  async function history(workflowId: string, runId: string): Promise<proto.api.history.v1.IHistoryEvent[]> {
    const events: proto.api.history.v1.IHistoryEvent[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await plain.workflowService.getWorkflowExecutionHistory({
        namespace: NAMESPACE,
        execution: { workflowId, runId },
        nextPageToken,
      });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return events;
  }

  it('encrypts input, result, activity input and result, memo, summaries, heartbeats and query answers', async () => {
    const userId = uniqueId('encrypted');
    const accessToken = `secret-${uniqueId('token')}`;
    provider.configure({ faults: { holdFromOffset: 300 } });
    const { view } = await imports.start(TENANT, { userId, source: { provider: 'google-people', accessToken } });
    await waitFor(async () => (await countContacts(userId)) === 300, '3 pages saved');
    const execution = { workflowId: view.workflowId, runId: view.runId };

    // While a batch waits on the held page: its heartbeat checkpoint and a status query, raw.
    const pending = await waitFor(async () => {
      const described = await plain.workflowService.describeWorkflowExecution({ namespace: NAMESPACE, execution });
      const activity = described.pendingActivities?.[0];
      return activity?.heartbeatDetails?.payloads?.length ? described : undefined;
    }, 'a heartbeat checkpoint');
    assertEncrypted(payloadsIn(pending.pendingActivities, 'pendingActivities'), 'the pending batch');
    assertEncrypted(payloadsIn(pending.workflowExtendedInfo, 'workflowExtendedInfo').concat(
      payloadsIn(pending.workflowExecutionInfo, 'workflowExecutionInfo'),
    ), 'the description');
    const query = await plain.workflowService.queryWorkflow({ namespace: NAMESPACE, execution, query: { queryType: 'status' } });
    assertEncrypted(payloadsIn(query.queryResult, 'queryResult'), 'the status query answer');

    provider.configure({ faults: {} });
    await waitFor(async () => (await imports.get(TENANT, view.importId)).state === 'completed', 'the import to complete');
    const status = await imports.get(TENANT, view.importId);
    assert.equal(status.saved, N, 'the API, which has the keys, reads the counts');

    const events = await history(view.workflowId, view.runId);
    const found = payloadsIn(events, 'history');
    assertEncrypted(found, 'the history');
    const at = found.map((f) => f.at).join('\n');
    for (const [field, what] of [
      [/workflowExecutionStartedEventAttributes\.input/, 'the workflow input'],
      [/workflowExecutionStartedEventAttributes\.memo/, 'the start memo'],
      [/workflowPropertiesModifiedEventAttributes\.upsertedMemo/, 'the memo updates'],
      [/userMetadata\.summary/, 'the summaries'],
      [/userMetadata\.details/, 'the details'],
      [/activityTaskScheduledEventAttributes\.input/, 'the batch input'],
      [/activityTaskCompletedEventAttributes\.result/, 'the batch result'],
      [/workflowExecutionCompletedEventAttributes\.result/, 'the workflow result'],
    ] as const) {
      assert.match(at, field, `the history has ${what}, encrypted`);
    }
    const bytes = rawBytes(events);
    assertUnreadable(bytes, [accessToken, ...CONTACT_DATA, ...PROGRESS_TEXT, 'json/plain'], 'the history');
    // Search attributes are the documented exception: operators filter on them.
    const started = events[0]?.workflowExecutionStartedEventAttributes;
    const indexed = Object.keys(started?.searchAttributes?.indexedFields ?? {});
    assert.ok(indexed.includes('ImportUserId'), 'search attributes stay readable');
  });

  it('encrypts a failed import’s failure messages and stacks', async () => {
    const userId = uniqueId('encrypted-failure');
    const accessToken = `revoked-${uniqueId('token')}`;
    provider.configure({ faults: { revokedTokens: [accessToken] } });
    const { view } = await imports.start(TENANT, { userId, source: { provider: 'google-people', accessToken } });
    const status = await waitFor(async () => {
      const current = await imports.get(TENANT, view.importId);
      return current.state === 'failed' && current;
    }, 'the import to fail');
    assert.match(status.error ?? '', /401/, 'the API, which has the keys, reads the reason');

    const events = await history(view.workflowId, view.runId);
    const failures = events.flatMap((event) => {
      const failure =
        event.workflowExecutionFailedEventAttributes?.failure ?? event.activityTaskFailedEventAttributes?.failure;
      return failure ? [{ type: event.eventType, failure }] : [];
    });
    assert.ok(failures.length >= 2, 'the batch and the workflow failed');
    for (const { type, failure } of failures) {
      for (let f: proto.api.failure.v1.IFailure | null | undefined = failure; f; f = f.cause) {
        assert.equal(f.message, 'Encoded failure', `event ${String(type)}: the message is moved into the encrypted attributes`);
        assert.equal(f.stackTrace ?? '', '', `event ${String(type)}: no stack in clear`);
        assert.ok(f.encodedAttributes, `event ${String(type)}: the message and stack are kept, encrypted`);
        assert.equal(encodingOf(f.encodedAttributes), ENCRYPTED_ENCODING);
      }
    }
    assertEncrypted(payloadsIn(events, 'history'), 'the failed history');
    assertUnreadable(rawBytes(events), [accessToken, 'rejected the access token', 'reconnect', 'json/plain'], 'the failed history');
  });
});
