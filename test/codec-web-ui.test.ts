/**
 * The Temporal Web UI with encrypted payloads, as `npm start` runs it: a dev server started with
 * `--ui-codec-endpoint` pointing at our codec server, an import run with the encrypting data
 * converter, and headless Debian chromium (playwright-core) opening it. The UI must show the
 * decoded input and summary, not `binary/encrypted`.
 *
 * Like `web-ui.test.ts`, this file starts its own dev server with the UI (the run's shared one is
 * headless), with its own client and worker connected to it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createAuthenticator } from '../api/auth';
import { createCodecApp } from '../api/codec';
import { createTemporalImports, type Imports } from '../api/imports';
import { dataConverter } from '../encryption/data-converter';
import { createPayloadCodec } from '../encryption/payload-codec';
import { parsePayloadKeys } from '../config/parse';
import { openStore, type Store } from '../db';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { freePort, startDevServer, type DevServer } from '../scripts/temporal-cli';
import { createImportWorker } from '../worker/create-worker';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { TEST_TUNING, testSealer, uniqueId, waitFor, workflowBundle } from './support/harness';
import { readProviderSettings } from '../providers';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, 'artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'codec-web-ui-input.png');
const METADATA_SCREENSHOT = path.join(ARTIFACTS, 'codec-web-ui-user-metadata.png');
/** Selector waits: long enough for a cold UI on a busy CI machine, never a fixed sleep. */
const UI_TIMEOUT_MS = 20_000;
const TENANT = 'default';

const skip = fs.existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM}: install it with \`apt-get install -y --no-install-recommends chromium\`, or set CHROMIUM_PATH`;

/** The text of every frame of the page: the UI renders summaries and details in iframes of their own. */
async function pageText(page: Page): Promise<string> {
  const texts = await Promise.all(page.frames().map((frame) => frame.locator('body').innerText({ timeout: 1_000 }).catch(() => '')));
  return texts.join('\n');
}

/** Waits until `text` is on the page, in any frame. */
async function shown(page: Page, text: string, what: string): Promise<void> {
  await waitFor(async () => (await pageText(page)).includes(text), `${what} ("${text}") on ${page.url()}`, UI_TIMEOUT_MS);
}

describe('the Temporal Web UI with the codec server', { skip }, () => {
  let dataDir: string;
  let codecServer: ServerType;
  let server: DevServer;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let provider: DemoProvider;
  let store: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let imports: Imports;
  let browser: Browser;
  let page: Page;
  /** Payloads the UI asked the codec server to decode. */
  let decoded = 0;

  before(async () => {
    const keyring = parsePayloadKeys('test', `ui-test:${Buffer.alloc(32, 31).toString('base64')}`);
    const codec = createPayloadCodec(keyring);
    const counting: PayloadCodec = {
      encode: (payloads) => codec.encode(payloads),
      async decode(payloads) {
        decoded += payloads.length;
        return codec.decode(payloads);
      },
    };
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-codec-ui-'));
    store = await openStore({ kind: 'sqlite', file: path.join(dataDir, 'contacts.db') });
    // As under `npm start` (api/main.ts): no operator key yet, the API on loopback, CORS for the UI.
    const auth = createAuthenticator({ keys: store.apiKeys, loopbackOnly: true });
    const uiPort = await freePort();
    const app = createCodecApp({
      codec: counting,
      authorize: (authorization, origin) => auth.authenticate(authorization, 'operator', origin),
      corsOrigins: [`http://localhost:${uiPort}`, `http://127.0.0.1:${uiPort}`],
    });
    codecServer = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const codecUrl = `http://127.0.0.1:${(codecServer.address() as AddressInfo).port}/codec`;

    server = await startDevServer({ uiPort, uiCodecEndpoint: codecUrl, searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS });
    connection = await Connection.connect({ address: server.address });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    const converter = dataConverter(keyring);
    provider = await startDemoProvider({ contacts: 300 });
    const taskQueue = uniqueId('codec-web-ui');
    worker = await createImportWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      workflowBundle: await workflowBundle(),
      dataConverter: converter,
      deps: { store, sealer: testSealer, sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }) } },
    });
    workerRun = worker.run();
    imports = createTemporalImports({
      client: new Client({ connection, namespace: 'default', dataConverter: converter }),
      sealer: testSealer,
      taskQueue,
      tuning: TEST_TUNING,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });

  after(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await nativeConnection?.close();
    await connection?.close();
    await provider?.close();
    await store?.close();
    await server?.stop();
    await new Promise<void>((resolve) => (codecServer ? codecServer.close(() => resolve()) : resolve()));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows an import’s decoded input, result and summary, not binary/encrypted', async () => {
    assert.ok(server.uiUrl, 'the dev server runs its UI');
    const userId = uniqueId('ui-codec');
    const { view } = await imports.start(TENANT, { userId, source: { provider: 'google-people', accessToken: 'demo-token' } });
    await waitFor(async () => (await imports.get(TENANT, view.importId)).state === 'completed', 'the import to complete', 30_000);

    // The workflow page opens on its history: Input and Result first.
    await page.goto(`${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(view.workflowId)}/${view.runId}/history`);
    await page.getByRole('heading', { name: view.workflowId }).waitFor({ timeout: UI_TIMEOUT_MS });
    await shown(page, `"userId": "${userId}"`, 'the decoded input');
    await shown(page, '"pageSize": 100', 'the decoded tuning');
    await shown(page, '"saved": 300', 'the decoded result');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const text = await pageText(page);
    assert.doesNotMatch(text, /binary\/encrypted|encryption-key-id/, 'no payload is shown encrypted');
    assert.ok(decoded > 0, 'the UI decoded through the codec server');

    await page.getByRole('tab', { name: 'User Metadata' }).click();
    await shown(page, `Import google-people contacts for user ${userId}`, 'the decoded summary');
    await page.screenshot({ path: METADATA_SCREENSHOT, fullPage: true });
  });
});
