import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { fetchConnectionsPage, type FetchPageOptions } from '../providers/google-people/client';
import { createPageDecoder, type PageDecoder } from '../providers/google-people/page-decoder';
import { type DemoProvider, startDemoProvider } from '../demo-provider/server';

const TOKEN = 'ya29.decode-thread-token';

/** A server answering every request with `status` and `body`, or never answering when `body` is null. */
async function canned(status: number, body: string | null): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    if (body === null) return;
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The failure a page request ends in, both ways; they must agree. */
async function failuresBothWays(decoder: PageDecoder, options: FetchPageOptions): Promise<ApplicationFailure> {
  const [threaded, inline] = await Promise.allSettled([fetchConnectionsPage({ ...options, decoder }), fetchConnectionsPage(options)]);
  assert.equal(threaded.status, 'rejected');
  assert.equal(inline.status, 'rejected');
  const [a, b] = [(threaded as PromiseRejectedResult).reason as unknown, (inline as PromiseRejectedResult).reason as unknown];
  assert.ok(a instanceof ApplicationFailure && b instanceof ApplicationFailure, `expected failures, got ${String(a)} and ${String(b)}`);
  assert.deepEqual([a.type, a.message, a.nonRetryable], [b.type, b.message, b.nonRetryable], 'the thread fails a page as the worker thread does');
  return a;
}

void describe('page decode threads (WORKER_DECODE_THREADS)', () => {
  let decoder: PageDecoder;
  let provider: DemoProvider;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    decoder = createPageDecoder(2);
    provider = await startDemoProvider({ contacts: 2500 });
  });

  after(async () => {
    await decoder.close();
    await provider.close();
    for (const close of closers) await close();
  });

  const options = (baseUrl: string): FetchPageOptions => ({ baseUrl, accessToken: TOKEN, pageSize: 1000, pageToken: null });

  void it('reads a page as the worker thread does, with raw serialised on the thread', async () => {
    const [threaded, inline] = await Promise.all([fetchConnectionsPage({ ...options(provider.url), decoder }), fetchConnectionsPage(options(provider.url))]);
    assert.equal(threaded.contacts.length, 1000);
    assert.deepEqual(
      threaded.contacts.map(({ raw: _raw, rawJson: _rawJson, ...fields }) => fields),
      inline.contacts.map(({ raw: _raw, rawJson: _rawJson, ...fields }) => fields),
    );
    assert.deepEqual(
      threaded.contacts.map((contact) => contact.rawJson),
      inline.contacts.map((contact) => JSON.stringify(contact.raw)),
      'rawJson is the person as the store would have serialised it',
    );
    assert.ok(threaded.contacts.every((contact) => contact.raw === undefined), 'no object copy of raw comes back');
    assert.deepEqual({ ...threaded, contacts: [] }, { ...inline, contacts: [] }, 'tokens, totals and rejects agree');
  });

  void it('reads many pages at once across its threads, each answer to its own request', async () => {
    let token: string | null = null;
    const tokens: Array<string | null> = [];
    for (let i = 0; i < 3; i++) {
      tokens.push(token);
      token = (await fetchConnectionsPage({ ...options(provider.url), pageToken: token })).nextPageToken;
    }
    const pages = await Promise.all(tokens.map((pageToken) => fetchConnectionsPage({ ...options(provider.url), pageToken, decoder })));
    assert.deepEqual(
      pages.map((page) => page.contacts[0]?.externalId),
      ['people/c0', 'people/c1000', 'people/c2000'],
    );
  });

  void it('fails pages as the worker thread does: a body that is not JSON, a wrong shape, an HTTP error, no server', async () => {
    const notJson = await canned(200, '<html>gateway</html>');
    const wrongShape = await canned(200, JSON.stringify({ connections: { oops: true } }));
    const refused = await canned(401, JSON.stringify({ error: { code: 401, status: 'UNAUTHENTICATED', message: `Token ${TOKEN} expired` } }));
    closers.push(notJson.close, wrongShape.close, refused.close);
    assert.match((await failuresBothWays(decoder, options(notJson.url))).message, /not JSON \(200\): <html>gateway<\/html>/);
    assert.match((await failuresBothWays(decoder, options(wrongShape.url))).message, /not the documented shape \(connections: /);
    const unauthenticated = await failuresBothWays(decoder, options(refused.url));
    assert.match(unauthenticated.message, /401 UNAUTHENTICATED/);
    assert.ok(!unauthenticated.message.includes(TOKEN), 'the access token leaked into the failure message');
    assert.match((await failuresBothWays(decoder, options('http://127.0.0.1:1'))).message, /Could not reach Google People API/);
  });

  void it('answers a cancelled request at once, with the signal reason, while the provider still holds it', async () => {
    const silent = await canned(200, null);
    closers.push(silent.close);
    const controller = new AbortController();
    const request = fetchConnectionsPage({ ...options(silent.url), decoder, signal: controller.signal });
    const reason = new Error('cancelled by the test');
    controller.abort(reason);
    await assert.rejects(request, (error) => error === reason);
  });

  void it('refuses work once closed', async () => {
    const closing = createPageDecoder(1);
    await closing.close();
    await assert.rejects(fetchConnectionsPage({ ...options(provider.url), decoder: closing }), /closed/);
  });
});
