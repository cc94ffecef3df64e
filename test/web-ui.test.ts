/**
 * The Temporal Web UI as an operator uses it, in headless Debian chromium (playwright-core): find
 * the import in the workflow list, open it, read its summary and its `ImportState`.
 *
 * The run's shared dev server is headless, so this file starts its own dev server with the UI (the
 * one exception to "one server per run"), with its own client and worker connected to it. They do
 * not encrypt payloads (no codec server here): this is about what the UI shows of an import, and
 * test/codec-web-ui.test.ts shows the same UI decoding encrypted ones. They do use the service's
 * failure converter, which the shared workflow bundle is built with. A sync schedule made through the
 * API (`PUT /v1/users/{userId}/sync`, the real app over this server's client) shows on the UI's
 * Schedules page, as docs/operations.md says.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { SyncDeleted, SyncView } from '../api/hooks/schemas';
import { createTemporalImports, type Imports } from '../api/imports';
import { FAILURE_CONVERTER_PATH } from '../encryption/data-converter';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { freePort, startDevServer, type DevServer } from '../scripts/temporal-cli';
import { createImportWorker } from '../worker/create-worker';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { createTestApp, expectJson } from './support/api';
import { storeCases, TEST_TUNING, testSealer, uniqueId, waitFor, workflowBundle } from './support/harness';
import { readProviderSettings } from '../providers';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, 'artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'web-ui-workflow.png');
const SEARCH_ATTRIBUTES_SCREENSHOT = path.join(ARTIFACTS, 'web-ui-search-attributes.png');
const SCHEDULES_SCREENSHOT = path.join(ARTIFACTS, 'web-ui-schedules.png');
/** Selector waits: long enough for a cold UI on a busy CI machine, never a fixed sleep. */
const UI_TIMEOUT_MS = 20_000;
/** The tenant the imports are started for, as an API key of it would. */
const TENANT = 'acme';
/** Payloads in clear (see above), failures converted as everywhere else. */
const DATA_CONVERTER = { failureConverterPath: FAILURE_CONVERTER_PATH };

const skip = fs.existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM}: install it with \`apt-get install -y --no-install-recommends chromium\`, or set CHROMIUM_PATH`;

/**
 * Waits until `text` is on the page. The UI renders summaries and details (Markdown) each in its
 * own iframe, which page-level selectors do not see into, so this looks in every frame.
 */
async function shown(page: Page, text: string, what: string): Promise<void> {
  await waitFor(
    async () => {
      for (const frame of page.frames()) {
        if ((await frame.locator('body').innerText({ timeout: 1_000 }).catch(() => '')).includes(text)) return true;
      }
      return false;
    },
    `${what} ("${text}") on ${page.url()}`,
    UI_TIMEOUT_MS,
  );
}

describe('the Temporal Web UI', { skip }, () => {
  let server: DevServer;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let provider: DemoProvider;
  let store: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let imports: Imports;
  let client: Client;
  let taskQueue: string;
  let browser: Browser;
  let page: Page;

  before(async () => {
    server = await startDevServer({ uiPort: await freePort(), searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS });
    connection = await Connection.connect({ address: server.address });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    client = new Client({
      connection,
      namespace: 'default',
      dataConverter: DATA_CONVERTER,
      workflow: { queryRejectCondition: 'NOT_OPEN' },
    });
    provider = await startDemoProvider({ contacts: 1_000 });
    store = await storeCases().find((c) => c.name === 'sqlite')!.open();
    taskQueue = uniqueId('web-ui');
    worker = await createImportWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      workflowBundle: await workflowBundle(),
      dataConverter: DATA_CONVERTER,
      deps: { store, client, sealer: testSealer, sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }) }, keepAliveHeartbeatMs: 500 },
    });
    workerRun = worker.run();
    // The API's own service, so the workflow starts with exactly the summary and attributes it gives.
    imports = createTemporalImports({
      client,
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
    provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await nativeConnection?.close();
    await connection?.close();
    await provider?.close();
    await store?.close();
    await server?.stop();
  });

  it('finds a paused import in the list and shows its summary and ImportState', async () => {
    assert.ok(server.uiUrl, 'the dev server runs its UI');
    const userId = uniqueId('ui-alice');
    // Held at page 3 and paused there, at 200; the page is let go once the import is paused.
    provider.configure({ faults: { holdFromOffset: 200 } });
    let started: Awaited<ReturnType<Imports['start']>>;
    try {
      started = await imports.start(TENANT, { userId, source: { provider: 'google-people', accessToken: 'demo-token' } });
      const { importId } = started.view;
      await waitFor(async () => (await imports.get(TENANT, importId)).saved === 200, 'the first batch', 30_000);
      await imports.pause(TENANT, importId);
      await waitFor(async () => (await imports.get(TENANT, importId)).state === 'paused', 'the import to pause', 30_000);
    } finally {
      provider.configure({ faults: {} });
    }
    const { view } = started;
    // Another user's import, so the filtered list below has something to leave out.
    const other = (
      await imports.start(TENANT, { userId: uniqueId('ui-bob'), source: { provider: 'google-people', accessToken: 'demo-token' } })
    ).view;
    await waitFor(async () => (await imports.get(TENANT, other.importId)).state === 'completed', 'the other import', 30_000);

    // The list: every workflow of the namespace, ours among them (the UI polls visibility itself).
    await page.goto(`${server.uiUrl}/namespaces/default/workflows`);
    await page.getByRole('link', { name: view.workflowId }).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByRole('link', { name: other.workflowId }).waitFor({ timeout: UI_TIMEOUT_MS });

    // The list filtered by search attribute, as docs/operations.md tells operators to open it.
    const query = `ImportTenant = '${TENANT}' AND ImportUserId = '${userId}'`;
    await page.goto(`${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
    await page.getByRole('link', { name: view.workflowId }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.getByRole('link', { name: other.workflowId }).count(), 0, 'the filter leaves other users out');

    // The workflow page: summary, details and current details under "User Metadata".
    await page.getByRole('link', { name: view.workflowId }).click();
    await page.getByRole('heading', { name: view.workflowId }).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    await shown(page, `Import google-people contacts for user ${userId}`, 'the summary');
    await shown(page, `User ${userId} · Provider google-people`, 'the details');
    await shown(page, 'paused · 200 of 1,000 contacts saved · 2 pages', 'the current details');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The search attributes, ImportState among them, under "Search Attributes".
    await page.getByRole('tab', { name: 'Search Attributes' }).click();
    await page.getByText('"ImportState": "paused"').waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByText(`"ImportUserId": "${userId}"`).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByText(`"ImportTenant": "${TENANT}"`).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByText('"ContactsSaved": 200').waitFor({ timeout: UI_TIMEOUT_MS });
    await page.screenshot({ path: SEARCH_ATTRIBUTES_SCREENSHOT, fullPage: true });

    await imports.cancel(TENANT, view.importId);
    await waitFor(async () => (await imports.get(TENANT, view.importId)).state === 'cancelled', 'the import to cancel', 30_000);
  });

  it('lists a sync schedule made through the API on the Schedules page', async () => {
    assert.ok(server.uiUrl, 'the dev server runs its UI');
    // The real API over this server's client, with a key of the tenant, as a web app calls it.
    const { app } = await createTestApp({ store, taskQueue, client });
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant: TENANT, name: 'web ui schedules test' });
    const call = async (method: string, url: string, body?: unknown) => {
      const res = await app.request(url, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
    };
    const userId = uniqueId('ui-carol');
    const source = { provider: 'google-people', accessToken: 'demo-token' };
    const created = expectJson(await call('PUT', `/v1/users/${userId}/sync`, { every: '6h', source }), 201, SyncView);
    let deleted: Awaited<ReturnType<typeof call>>;
    try {
      assert.equal(created.scheduleId, `sync/${TENANT}/google-people/${userId}`);
      // The page lists what ListSchedules returns, which follows a new schedule by a moment: once it
      // is there, the page shows it (loaded after, so it never needs a reload).
      await waitFor(async () => {
        for await (const schedule of client.schedule.list()) if (schedule.scheduleId === created.scheduleId) return true;
        return false;
      }, 'the schedule in ListSchedules', 30_000);

      await page.goto(`${server.uiUrl}/namespaces/default/schedules`);
      const link = page.getByRole('link', { name: created.scheduleId, exact: true });
      await link.waitFor({ timeout: UI_TIMEOUT_MS });
      // Its row: the ScheduledSync workflow each run starts, and the interval.
      const row = page.getByRole('row').filter({ has: link });
      await row.getByRole('link', { name: 'ScheduledSync', exact: true }).waitFor({ timeout: UI_TIMEOUT_MS });
      await row.getByText('Every 6 hour(s)').waitFor({ timeout: UI_TIMEOUT_MS });
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCHEDULES_SCREENSHOT, fullPage: true });
    } finally {
      // Deleted whatever happened above, so no schedule outlives the test.
      deleted = await call('DELETE', `/v1/users/${userId}/sync`);
    }
    assert.deepEqual(expectJson(deleted, 200, SyncDeleted).deleted, ['google-people']);
  });
});
