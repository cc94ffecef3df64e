/**
 * The progress page at `/` and Swagger UI at `/docs`, in headless Debian chromium (playwright-core),
 * against the real app, a real worker and the demo provider. The API runs keyless on loopback (as
 * `npm start` does before any key exists), so the page follows the import through `EventSource`;
 * the last suite gives it a key, which it sends through its fetch-based reader. Imports are held at
 * exact pages by the demo provider (`holdFromOffset`), never timed. Screenshots: test/artifacts/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { startEventsApi, type EventsApi } from './support/events';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, 'artifacts');
/** Selector waits: generous for a cold browser on a busy machine; never a fixed sleep. */
const UI_TIMEOUT_MS = 30_000;
const CONTACTS = 1_000;

const skip = fs.existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM}: install it with \`apt-get install -y --no-install-recommends chromium\`, or set CHROMIUM_PATH`;

const launch = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

const screenshot = (page: Page, name: string) => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return page.screenshot({ path: path.join(ARTIFACTS, `progress-page-${name}.png`), fullPage: true });
};

/** The bar's value (0–100) once it is at least `atLeast` (above 0). */
function barAtLeast(page: Page, atLeast: number): Promise<number> {
  return waitFor(
    async () => {
      const value = Number(await page.locator('#bar').getAttribute('aria-valuenow', { timeout: 1_000 }));
      return value >= atLeast && value;
    },
    `the bar at ${atLeast}% or more`,
    UI_TIMEOUT_MS,
  );
}

const stateIs = (page: Page, state: string) =>
  page.locator(`#state[data-state="${state}"]`).waitFor({ timeout: UI_TIMEOUT_MS });

describe('the progress page', { skip }, () => {
  let provider: DemoProvider;
  let store: Store;
  let api: EventsApi;
  let worker: Worker;
  let workerRun: Promise<void>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** POST /v1/imports the page made, in this test. */
  let starts = 0;

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    // A fresh SQLite store holds no key: the API answers keyless, as tenant default, on loopback.
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('progress-page');
    api = await startEventsApi({ store, taskQueue, keyless: true });
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    browser = await launch();
  });
  beforeEach(async () => {
    provider.configure({ faults: {} });
    await context?.close();
    context = await browser.newContext({ viewport: { width: 900, height: 900 } });
    page = await context.newPage();
    starts = 0;
    page.on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/v1/imports') starts += 1;
    });
  });
  after(async () => {
    provider?.configure({ faults: {} });
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await api?.close();
    await provider?.close();
    await store?.close();
  });

  async function startFromPage(userId: string): Promise<string> {
    await page.goto(api.url);
    await page.fill('#userId', userId);
    await page.click('#startButton');
    await page.locator('#importId', { hasText: 'imp_' }).waitFor({ timeout: UI_TIMEOUT_MS });
    return page.locator('#importId').innerText();
  }

  it('starts an import, and the bar advances to the end; the contacts are listed', async () => {
    provider.configure({ faults: { holdFromOffset: 300 } });
    const importId = await startFromPage(uniqueId('page-ann'));
    assert.match(importId, /^imp_/);
    assert.equal(await barAtLeast(page, 30), 30, 'held at 300 of 1,000');
    await page.locator('#saved', { hasText: '300' }).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.locator('#rate', { hasText: 'contacts/s' }).waitFor({ timeout: UI_TIMEOUT_MS });
    await screenshot(page, 'advancing');
    provider.configure({ faults: {} });
    assert.equal(await barAtLeast(page, 100), 100);
    await stateIs(page, 'completed');
    await page.locator('#contactRows tr').first().waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.locator('#contactRows tr').count(), 100, 'the first page of contacts');
    await screenshot(page, 'completed');
    assert.equal(starts, 1);
  });

  it('shows the same import after a reload mid-import, still advancing, and never starts another', async () => {
    provider.configure({ faults: { holdFromOffset: 200 } });
    const importId = await startFromPage(uniqueId('page-ben'));
    await barAtLeast(page, 20);
    await page.reload();
    await page.locator('#importId', { hasText: 'imp_' }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.locator('#importId').innerText(), importId, 'the same import after the reload');
    assert.equal(new URL(page.url()).searchParams.get('import'), importId, 'the import is in the URL');
    assert.equal(await barAtLeast(page, 20), 20);
    await screenshot(page, 'reloaded');
    provider.configure({ faults: {} });
    await stateIs(page, 'completed');
    assert.equal(await barAtLeast(page, 100), 100);
    // The page alone, without the ?import= of the URL, finds it again through localStorage.
    await page.goto(api.url);
    await page.locator('#importId', { hasText: 'imp_' }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.locator('#importId').innerText(), importId);
    assert.equal(starts, 1, 'one POST /v1/imports: reloads rejoin, they never start');
  });

  it('shows paused when paused, and continues on resume', async () => {
    provider.configure({ faults: { holdFromOffset: 200 } });
    await startFromPage(uniqueId('page-cat'));
    await barAtLeast(page, 20);
    await page.click('#pause');
    provider.configure({ faults: {} });
    await stateIs(page, 'paused');
    await page.locator('#waiting[data-reason="paused"]', { hasText: 'Paused' }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.ok(await page.locator('#resume').isEnabled(), 'resume is offered');
    await screenshot(page, 'paused');
    await page.click('#resume');
    await stateIs(page, 'completed');
    assert.equal(await barAtLeast(page, 100), 100);
    assert.ok(await page.locator('#waiting').isHidden(), 'nothing to wait for once done');
  });

  it('says why it waits while the provider throttles, then cancels', async () => {
    provider.configure({ faults: { every: { every: 1, kind: '429' }, retryAfterSeconds: 60 } });
    await startFromPage(uniqueId('page-dan'));
    const waiting = page.locator('#waiting[data-reason="rate_limited"]', { hasText: 'attempt 2' });
    await waiting.waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match(await waiting.innerText(), /^Google asked for a pause, for every import on the same quota; retrying at .+ \(attempt 2\)$/);
    await screenshot(page, 'throttled');
    await page.click('#cancel');
    await stateIs(page, 'cancelled');
  });
});

describe('the progress page with an API key', { skip }, () => {
  it('follows the import through its fetch-based reader, sending the key', async () => {
    const provider = await startDemoProvider({ contacts: 300 });
    const store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('progress-page-key');
    const api = await startEventsApi({ store, taskQueue });
    const worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    const workerRun = worker.run();
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const eventRequests: Array<string | null> = [];
      page.on('request', (req) => {
        if (req.url().endsWith('/events')) eventRequests.push(req.headers()['authorization'] ?? null);
      });
      await page.goto(api.url);
      await page.click('#keyBox summary');
      await page.fill('#apiKey', api.key!);
      await page.locator('#apiKey').dispatchEvent('change');
      await page.fill('#userId', uniqueId('page-key'));
      await page.click('#startButton');
      await page.locator('#state[data-state="completed"]').waitFor({ timeout: UI_TIMEOUT_MS });
      await page.locator('#contactRows tr').first().waitFor({ timeout: UI_TIMEOUT_MS });
      assert.ok(eventRequests.length > 0 || (await page.locator('#saved').innerText()) === '300', 'the import was followed');
      assert.ok(eventRequests.every((h) => h === `Bearer ${api.key}`), 'every event request carries the key in a header');
      assert.ok(!page.url().includes(api.key!), 'the key is never in the URL');
    } finally {
      await browser.close();
      worker.shutdown();
      await workerRun;
      await api.close();
      await provider.close();
      await store.close();
    }
  });
});

describe('Swagger UI at /docs', { skip }, () => {
  it('lists every route of /openapi.json, from assets served by the API', async () => {
    const store = await storeCases()[0]!.open();
    const api = await startEventsApi({ store, taskQueue: uniqueId('docs'), keyless: true });
    const browser = await launch();
    try {
      const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
      const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
      const elsewhere: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(api.url) && !req.url().startsWith('data:')) elsewhere.push(req.url());
      });
      await page.goto(`${api.url}/docs`);
      await page.locator('.opblock').first().waitFor({ timeout: UI_TIMEOUT_MS });
      const listed = await waitFor(async () => {
        const found = await page.$$eval('.opblock', (blocks) =>
          blocks.map((b) => {
            const method = b.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '';
            const summaryPath = b.querySelector('.opblock-summary-path');
            return `${method.toUpperCase()} ${summaryPath?.getAttribute('data-path') ?? summaryPath?.textContent?.trim() ?? ''}`;
          }),
        );
        return found.length >= documented.length && found;
      }, 'every operation to render', UI_TIMEOUT_MS);
      assert.deepEqual([...listed].sort(), [...documented].sort(), 'every route of /openapi.json is listed');
      assert.ok(documented.includes('GET /v1/imports/{importId}/events'), 'the events route is documented');
      assert.deepEqual(elsewhere, [], 'nothing is loaded from anywhere but the API');
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'docs-swagger-ui.png'), fullPage: true });
    } finally {
      await browser.close();
      await api.close();
      await store.close();
    }
  });
});
