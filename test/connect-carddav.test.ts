/**
 * A CardDAV account connected through a connect session's form, against a real Radicale: the form
 * is bound to its session (a post without the session's token stores nothing), a wrong password is
 * refused with the form shown again (never the password), the right one is checked with discovery
 * and kept sealed as a connection, and an import by that connection reads every card once. Skipped,
 * saying why, without Debian's `radicale`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { CONNECT_DEFAULTS } from '../config/defaults';
import type { Store } from '../db/types';
import { readProviderSettings } from '../providers';
import { startApi, type TestApi } from './support/api';
import { assertEndedWith, hop, newSession } from './support/connect';
import { startWorker, storeCases, testSealer, uniqueId, waitFor } from './support/harness';
import { radicaleMissing, startRadicale, type RadicaleServer } from './support/radicale';

const CARDS = 150;
const TENANT = 'connect-carddav';

/** The form a connect URL opens: its action and the session's token in it. */
async function openForm(connectUrl: string): Promise<{ action: string; state: string; body: string }> {
  const opened = await hop(connectUrl);
  assert.equal(opened.status, 200, opened.body);
  const action = /<form method="post" action="([^"]+)"/.exec(opened.body)?.[1] ?? '';
  const state = /name="state" value="([^"]+)"/.exec(opened.body)?.[1] ?? '';
  assert.ok(action && state, 'the form posts to the API with the session token');
  return { action, state, body: opened.body };
}

/** Posts the form as a browser would; no redirect followed. */
async function submit(action: string, fields: Record<string, string>) {
  const res = await fetch(action, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

describe('connecting a CardDAV account', { skip: radicaleMissing() ?? false }, () => {
  let radicale: RadicaleServer;
  let store: Store;
  let api: TestApi;
  let worker: Worker;
  let workerRun: Promise<void>;
  const redirectUrl = 'https://app.example.com/connected';

  before(async () => {
    radicale = await startRadicale({ cards: CARDS });
    store = await storeCases()[0]!.open();
    const taskQueue = uniqueId('connect-carddav');
    api = await startApi({ store, taskQueue, tenant: TENANT, connect: { providers: readProviderSettings({}) } });
    worker = await startWorker({ store, providerUrl: 'http://127.0.0.1:9', taskQueue });
    workerRun = worker.run();
    assert.equal((await api.call('PUT', '/v1/connect-settings', { redirectOrigins: ['https://app.example.com'] })).status, 200);
  });
  after(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await api?.close();
    await store?.close();
    await radicale?.stop();
  });

  it('refuses a wrong password without echoing it, keeps the account it checked, and imports by the connection: every card once', async () => {
    const userId = uniqueId('dora');
    const { action, state, body } = await openForm(await newSession(api, { userId, redirectUrl, provider: 'carddav' }));
    assert.match(body, /iCloud[\s\S]*Fastmail[\s\S]*Nextcloud/, 'the known servers are offered');

    const wrong = await submit(action, { state, server: 'other', url: radicale.url, username: radicale.username, password: 'not-the-password' });
    assert.equal(wrong.status, 422);
    assert.match(wrong.body, /refused this user name and password/);
    assert.ok(!wrong.body.includes('not-the-password'), 'the password is never sent back');
    assert.ok(wrong.body.includes(`value="${radicale.username}"`), 'the user name is');
    assert.equal(await store.connections.get({ tenant: TENANT, userId, provider: 'carddav' }), null, 'nothing is kept');

    const right = await submit(action, { state, server: 'other', url: radicale.url, username: radicale.username, password: radicale.password });
    assert.equal(right.status, 303, right.body);
    const back = new URL(right.location ?? '');
    assert.equal(back.searchParams.get('status'), 'connected');
    const connectionId = back.searchParams.get('connection') ?? '';
    const kept = await store.connections.get({ tenant: TENANT, userId, provider: 'carddav' });
    assert.equal(kept?.connectionId, connectionId);
    const account = JSON.parse(testSealer.open(kept.sealedSecret ?? '')) as { url: string; password: string };
    assert.equal(account.url, radicale.addressBookUrl, 'discovery found the address book, kept for later imports');
    assert.equal(account.password, radicale.password);
    assert.ok(!(kept.sealedSecret ?? '').includes(radicale.password), 'sealed');

    const again = await submit(action, { state, server: 'other', url: radicale.url, username: radicale.username, password: radicale.password });
    assertEndedWith(again, 'session_used', redirectUrl);

    const { json: started } = await api.startImport({ userId, source: { connection: connectionId } }, 202);
    assert.equal(started.provider, 'carddav');
    const done = await waitFor(async () => {
      const status = await api.getImport(started.importId);
      return (status.state === 'completed' || status.state === 'failed') && status;
    }, 'the import by connection to end');
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.saved, CARDS);
    assert.equal(await store.tenant(TENANT).countContacts(userId), CARDS, 'every card once');
  });

  it('stores nothing for a form posted without its session token, or past its attempts', async () => {
    const userId = uniqueId('eve');
    const { action, state } = await openForm(await newSession(api, { userId, redirectUrl, provider: 'carddav' }));
    const forged = await submit(action, { state: `${state.slice(0, -4)}AAAA`, server: 'other', url: radicale.url, username: radicale.username, password: radicale.password });
    assertEndedWith(forged, 'invalid_state', redirectUrl);
    const missing = await submit(action, { server: 'other', url: radicale.url, username: radicale.username, password: radicale.password });
    assert.equal(missing.status, 404);

    for (let attempt = 1; attempt <= CONNECT_DEFAULTS.formAttempts; attempt++) {
      const refused = await submit(action, { state, server: 'other', url: radicale.url, username: radicale.username, password: `wrong-${attempt}` });
      assert.equal(refused.status, 422);
    }
    const over = await submit(action, { state, server: 'other', url: radicale.url, username: radicale.username, password: radicale.password });
    assertEndedWith(over, 'too_many_attempts', redirectUrl);
    assert.equal(await store.connections.get({ tenant: TENANT, userId, provider: 'carddav' }), null);
  });
});
