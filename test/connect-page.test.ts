/**
 * The progress page's Connect buttons in headless Chromium, against the demo provider as `npm
 * start` runs it: keyless on loopback (so the page may send the user back to itself), the demo
 * provider's consent page for Google and Microsoft, its token endpoints for the worker's refreshes,
 * its People API and Microsoft Graph for the contacts. Allow ends on
 * the progress page showing the import the session started; Deny ends on the page saying so. The
 * CardDAV button shows the account form, which never sends a password back. Screenshots:
 * test/artifacts/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Store } from '../db/types';
import { DEMO_MICROSOFT_TOKEN_PATH } from '../demo-provider/graph';
import { DEMO_AUTHORIZE_PATH, DEMO_OAUTH_CLIENT, DEMO_REVOKE_PATH, DEMO_TOKEN_PATH } from '../demo-provider/oauth';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { readProviderSettings } from '../providers';
import { DEFAULT_TENANT } from '../workflows/contract';
import { startEventsApi, type EventsApi } from './support/events';
import { storeCases, uniqueId } from './support/harness';
import { startOAuthWorker } from './support/oauth';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, 'artifacts');
const UI_TIMEOUT_MS = 30_000;
const CONTACTS = 400;

const skip = fs.existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM}: install it, or set CHROMIUM_PATH`;

const screenshot = (page: Page, name: string) => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return page.screenshot({ path: path.join(ARTIFACTS, `connect-page-${name}.png`), fullPage: true });
};

describe("the progress page's Connect buttons", { skip }, () => {
  let provider: DemoProvider;
  let store: Store;
  let api: EventsApi;
  let worker: Worker;
  let workerRun: Promise<void>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    provider = await startDemoProvider({ contacts: CONTACTS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('connect-page');
    // What `npm start` sets: the demo provider for consent, tokens and revocation, with its own client.
    const providers = readProviderSettings({
      GOOGLE_PEOPLE_BASE_URL: provider.url,
      GOOGLE_AUTH_URL: `${provider.url}${DEMO_AUTHORIZE_PATH}`,
      GOOGLE_TOKEN_URL: `${provider.url}${DEMO_TOKEN_PATH}`,
      GOOGLE_REVOKE_URL: `${provider.url}${DEMO_REVOKE_PATH}`,
      GOOGLE_CLIENT_ID: DEMO_OAUTH_CLIENT.clientId,
      GOOGLE_CLIENT_SECRET: DEMO_OAUTH_CLIENT.clientSecret,
      MICROSOFT_GRAPH_BASE_URL: provider.url,
      MICROSOFT_AUTH_URL: `${provider.url}${DEMO_AUTHORIZE_PATH}`,
      MICROSOFT_TOKEN_URL: `${provider.url}${DEMO_MICROSOFT_TOKEN_PATH}`,
      MICROSOFT_CLIENT_ID: DEMO_OAUTH_CLIENT.clientId,
      MICROSOFT_CLIENT_SECRET: DEMO_OAUTH_CLIENT.clientSecret,
    });
    api = await startEventsApi({ store, taskQueue, keyless: true, connect: providers });
    worker = await startOAuthWorker({ store, provider, taskQueue, providers });
    workerRun = worker.run();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'] });
  });
  beforeEach(async () => {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 900, height: 900 } });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await api?.close();
    await provider?.close();
    await store?.close();
  });

  it('offers one button per connectable provider', async () => {
    await page.goto(api.url);
    const buttons = await page.locator('[data-connect]').evaluateAll((all) => all.map((b) => [b.getAttribute('data-connect'), b.textContent]));
    assert.deepEqual(buttons, [
      ['google-people', 'Connect Google'],
      ['microsoft-graph', 'Connect Microsoft'],
      ['carddav', 'Connect CardDAV'],
    ]);
  });

  it('Connect Google, Allow: back on the page, following the import the session started to its end', async () => {
    const userId = uniqueId('page-con');
    await page.goto(api.url);
    await page.fill('#userId', userId);
    await page.click('[data-connect="google-people"]');
    await page.locator('#allow').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.ok(page.url().startsWith(`${provider.url}${DEMO_AUTHORIZE_PATH}?`), 'the demo provider asks for consent');
    assert.match(await page.locator('#scope').innerText(), /contacts\.readonly/);
    await screenshot(page, 'consent');
    await page.click('#allow');

    await page.locator('#state[data-state="completed"]').waitFor({ timeout: UI_TIMEOUT_MS });
    const back = new URL(page.url());
    assert.equal(`${back.origin}/`, `${api.url}/`, 'back on the progress page');
    assert.match(back.searchParams.get('import') ?? '', /^imp_/, 'following the import the session started');
    assert.equal(back.searchParams.get('status'), null, 'the outcome is taken out of the address');
    assert.equal(await page.locator('#saved').innerText(), CONTACTS.toLocaleString('en-US'));
    await page.locator('#contactRows tr').first().waitFor({ timeout: UI_TIMEOUT_MS });
    await screenshot(page, 'imported');

    const connection = await store.connections.get({ tenant: DEFAULT_TENANT, userId, provider: 'google-people' });
    assert.equal(connection?.status, 'connected');
    assert.equal(provider.oauth.stats.codesRedeemed, 1);
    assert.equal(await store.tenant(DEFAULT_TENANT).countContacts(userId), CONTACTS);
  });

  it('Connect Microsoft, Allow: the same flow with Microsoft scopes, reading every folder of the mailbox once', async () => {
    const userId = uniqueId('page-ms');
    await page.goto(api.url);
    await page.fill('#userId', userId);
    const redeemed = provider.oauth.stats.codesRedeemed;
    await page.click('[data-connect="microsoft-graph"]');
    await page.locator('#allow').waitFor({ timeout: UI_TIMEOUT_MS });
    const consent = new URL(page.url());
    assert.equal(consent.searchParams.get('scope'), 'https://graph.microsoft.com/Contacts.Read offline_access');
    assert.equal(consent.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(consent.searchParams.get('access_type'), null, "Google's extra parameters are Google's only");
    await page.click('#allow');

    await page.locator('#state[data-state="completed"]').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match(new URL(page.url()).searchParams.get('import') ?? '', /^imp_/, 'following the import the session started');
    assert.equal(await page.locator('#saved').innerText(), CONTACTS.toLocaleString('en-US'));
    await screenshot(page, 'imported-microsoft');

    const connection = await store.connections.get({ tenant: DEFAULT_TENANT, userId, provider: 'microsoft-graph' });
    assert.equal(connection?.status, 'connected');
    assert.equal(provider.oauth.stats.codesRedeemed, redeemed + 1, 'the code was redeemed at the Microsoft token path, once');
    assert.equal(await store.tenant(DEFAULT_TENANT).countContacts(userId), CONTACTS, 'every folder once, none doubled');
  });

  it('Connect Google, Deny: back on the page, which says so; nothing is connected', async () => {
    const userId = uniqueId('page-deny');
    await page.goto(api.url);
    await page.fill('#userId', userId);
    await page.click('[data-connect="google-people"]');
    await page.locator('#deny').waitFor({ timeout: UI_TIMEOUT_MS });
    await page.click('#deny');
    // A refusal ends on a page of the flow that leads back to the progress page.
    await page.locator('#back').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.locator('#title').innerText(), 'Access was not allowed');
    await screenshot(page, 'denied-flow');
    await page.click('#back');
    await page.locator('#formError', { hasText: 'access was not allowed' }).waitFor({ timeout: UI_TIMEOUT_MS });
    await screenshot(page, 'denied');
    assert.equal(await store.connections.get({ tenant: DEFAULT_TENANT, userId, provider: 'google-people' }), null);
  });

  it('Connect CardDAV shows the account form; a refused account is said, and the password never comes back', async () => {
    await page.goto(api.url);
    await page.fill('#userId', uniqueId('page-dav'));
    await page.click('[data-connect="carddav"]');
    await page.locator('form select[name="server"]').waitFor({ timeout: UI_TIMEOUT_MS });
    const servers = await page.locator('select[name="server"] option').allInnerTexts();
    assert.deepEqual(servers, ['iCloud', 'Fastmail', 'Nextcloud', 'Another CardDAV server']);
    await screenshot(page, 'carddav-form');
    await page.selectOption('select[name="server"]', 'other');
    // Nothing listens on port 9: the check fails, and the form says why.
    await page.fill('input[name="url"]', 'http://127.0.0.1:9/');
    await page.fill('input[name="username"]', 'alice');
    await page.fill('input[name="password"]', 'hunter2-app-password');
    await page.click('#connect');
    await page.locator('#formError').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match(await page.locator('#formError').innerText(), /CardDAV server/);
    assert.equal(await page.locator('input[name="username"]').inputValue(), 'alice', 'what was typed stays');
    assert.equal(await page.locator('input[name="password"]').inputValue(), '', 'but not the password');
    assert.ok(!(await page.content()).includes('hunter2-app-password'), 'the password is never sent back');
    await screenshot(page, 'carddav-refused');
  });
});
