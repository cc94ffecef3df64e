/**
 * For the credentials and re-auth tests: a worker that refreshes Google access tokens at the demo
 * provider's token endpoint, an import's whole history (raw, and decoded through the codec), and a
 * capture of what this process writes to stdout and stderr (where the workers log).
 */
import assert from 'node:assert/strict';
import { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import type { Store } from '../../db/types';
import { DEMO_OAUTH_CLIENT, DEMO_TOKEN_PATH } from '../../demo-provider/oauth';
import type { DemoProvider } from '../../demo-provider/server';
import { readProviderSettings, type ProviderSettings } from '../../providers';
import { createImportWorker } from '../../worker/create-worker';
import { NAMESPACE, temporal, testDataConverter, testSealer, workflowBundle } from './harness';

type IHistoryEvent = proto.api.history.v1.IHistoryEvent;
type IPayload = proto.api.common.v1.IPayload;
const HistoryEvent = proto.api.history.v1.HistoryEvent;

/**
 * Provider settings whose Google source refreshes at the demo provider's token endpoint with the
 * demo client. `refreshMarginMs` 0: a token is refreshed ahead only once it has expired, so tests
 * can count.
 */
function oauthProviderSettings(providerUrl: string): ProviderSettings {
  const settings = readProviderSettings({
    GOOGLE_PEOPLE_BASE_URL: providerUrl,
    GOOGLE_TOKEN_URL: `${providerUrl}${DEMO_TOKEN_PATH}`,
    GOOGLE_CLIENT_ID: DEMO_OAUTH_CLIENT.clientId,
    GOOGLE_CLIENT_SECRET: DEMO_OAUTH_CLIENT.clientSecret,
  });
  const google = settings['google-people'];
  return { ...settings, 'google-people': { ...google, oauth: { ...google.oauth, refreshMarginMs: 0 } } };
}

/**
 * A fresh worker whose Google source reads from `provider` and refreshes at its token endpoint with
 * the demo client, or with the OAuth settings of `providers` when given (another server's).
 */
export async function startOAuthWorker(setup: { store: Store; provider: DemoProvider; taskQueue: string; providers?: ProviderSettings }): Promise<Worker> {
  const { nativeConnection, client } = await temporal();
  return createImportWorker({
    connection: nativeConnection,
    namespace: NAMESPACE,
    taskQueue: setup.taskQueue,
    workflowBundle: await workflowBundle(),
    heartbeatThrottleMs: 20,
    dataConverter: testDataConverter,
    deps: {
      store: setup.store,
      client,
      sealer: testSealer,
      sources: { providers: setup.providers ?? oauthProviderSettings(setup.provider.url), allowPrivateAddresses: true },
      keepAliveHeartbeatMs: 500,
    },
  });
}

/** Every event of the import's chain (each continue-as-new run too), raw: no codec. */
async function chainEvents(plain: Client, workflowId: string, firstRunId: string): Promise<IHistoryEvent[]> {
  const events: IHistoryEvent[] = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    let nextPageToken: Uint8Array | undefined;
    let next: string | undefined;
    do {
      const page = await plain.workflowService.getWorkflowExecutionHistory({ namespace: NAMESPACE, execution: { workflowId, runId }, nextPageToken });
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

/** Every Payload message in a history (protobufjs tags each message with its type). */
function payloadsIn(value: unknown, found: IPayload[] = []): IPayload[] {
  if (Array.isArray(value)) {
    for (const item of value) payloadsIn(item, found);
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    if ((value as { $type?: { fullName?: string } }).$type?.fullName === '.temporal.api.common.v1.Payload') found.push(value as IPayload);
    else for (const child of Object.values(value)) payloadsIn(child, found);
  }
  return found;
}

/**
 * An import's history as a database dump shows it (`raw`: the stored bytes) and as an operator reads
 * it through the codec server (`decoded`: every payload decrypted).
 */
export async function importHistory(workflowId: string, firstRunId: string): Promise<{ raw: Buffer; decoded: string; events: number }> {
  const { client } = await temporal();
  const plain = new Client({ connection: client.connection, namespace: NAMESPACE });
  const events = await chainEvents(plain, workflowId, firstRunId);
  const raw = Buffer.concat(events.map((event) => HistoryEvent.encode(HistoryEvent.fromObject(event)).finish()));
  const codec = testDataConverter.payloadCodecs?.[0];
  assert.ok(codec, 'the test data converter has the payload codec');
  const decoded = (await codec.decode(payloadsIn(events))).map((payload) => Buffer.from(payload.data ?? []).toString('utf8')).join('\n');
  return { raw, decoded, events: events.length };
}

/** Collects what this process writes to stdout and stderr (still writing it) until `stop()`. */
export function captureOutput(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const tap =
    (original: typeof process.stdout.write): typeof process.stdout.write =>
    (chunk: unknown, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    };
  process.stdout.write = tap(originals.out);
  process.stderr.write = tap(originals.err);
  return {
    text: () => chunks.join(''),
    stop() {
      process.stdout.write = originals.out;
      process.stderr.write = originals.err;
    },
  };
}
