/**
 * Every byte from outside is bounded (`providers/kit/http.ts`): a server that never answers, one
 * that dribbles, one that never ends, one that announces too much and one that sends a compressed
 * bomb each end their request with the limit they passed, and the sources turn that into the
 * failure type the import waits on (`ProviderTooSlow`, `ResponseTooLarge`), without a word of the
 * body or a credential. Short limits, a local server: nothing here waits long.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OUTBOUND_DEFAULTS, type OutboundLimits } from '../config/defaults';
import { openSource, readProviderSettings } from '../providers';
import { fetchConnectionsPage } from '../providers/google-people/client';
import { httpRequest } from '../providers/kit/http';
import { FAILURE_TYPES } from '../workflows/contract';
import { failureOf } from './support/failures';
import { startHostileServer, type HostileServer } from '../demo-provider/hostile-server';

const LIMITS: OutboundLimits = {
  ...OUTBOUND_DEFAULTS,
  firstByteTimeoutMs: 300,
  idleTimeoutMs: 300,
  requestTimeoutMs: 1_500,
  maxResponseBytes: 256 * 1024,
};
const PRIVATE_OK = { allowPrivate: true };

describe('the outbound HTTP client', () => {
  let server: HostileServer;
  before(async () => {
    server = await startHostileServer();
  });
  after(async () => {
    await server.close();
  });
  const get = (path: string, limits: OutboundLimits = LIMITS, extra: { timeoutMs?: number; signal?: AbortSignal } = {}) =>
    httpRequest({ method: 'GET', url: `${server.url}${path}`, destinations: PRIVATE_OK, limits, ...extra }, 'text');

  it('ends a request whose answer never starts at the time to first byte', async () => {
    assert.deepEqual(await get('/silent'), { kind: 'timeout', limit: 'first_byte', timeoutMs: 300 });
  });

  it('ends a request whose body goes silent at the idle timeout', async () => {
    assert.deepEqual(await get('/stall-after?bytes=100'), { kind: 'timeout', limit: 'idle', timeoutMs: 300 });
  });

  it('ends a body that dribbles under the idle timeout at the whole request deadline', async () => {
    const started = Date.now();
    assert.deepEqual(await get('/dribble?every=50'), { kind: 'timeout', limit: 'deadline', timeoutMs: 1_500 });
    assert.ok(Date.now() - started < 5_000, 'the deadline held');
  });

  it('stops reading an endless body at the byte cap, counted as it streams', async () => {
    const before = server.bytesSent;
    assert.deepEqual(await get('/endless'), { kind: 'too_large', maxBytes: LIMITS.maxResponseBytes });
    // The server wrote what the sockets' buffers took, not an unbounded stream.
    assert.ok(server.bytesSent - before < 16 * LIMITS.maxResponseBytes, `the server sent ${server.bytesSent - before} bytes`);
  });

  it('refuses an answer that announces more than the cap, without reading it', async () => {
    assert.deepEqual(await get('/huge?bytes=1073741824'), { kind: 'too_large', maxBytes: LIMITS.maxResponseBytes });
  });

  it('counts the cap on what a compressed body decodes to', async () => {
    assert.deepEqual(await get('/gzip-bomb?bytes=67108864'), { kind: 'too_large', maxBytes: LIMITS.maxResponseBytes });
  });

  it('ends as aborted when the caller cancels, and answers as usual within the limits', async () => {
    const controller = new AbortController();
    const pending = get('/silent', { ...LIMITS, firstByteTimeoutMs: 10_000 }, { signal: controller.signal });
    controller.abort(new Error('cancelled'));
    assert.deepEqual(await pending, { kind: 'aborted' });
    const ok = await get('/');
    assert.ok(ok.kind === 'answer' && ok.status === 200 && ok.body === 'ok');
  });
});

describe('sources over a hostile server', () => {
  let server: HostileServer;
  before(async () => {
    server = await startHostileServer();
  });
  after(async () => {
    await server.close();
  });
  const SIGNAL = new AbortController().signal;
  const carddav = async (path: string) =>
    (
      await openSource(
        'carddav',
        JSON.stringify({ url: `${server.url}${path}`, username: 'alice', password: 'secret-password' }),
        { providers: readProviderSettings({}), allowPrivateAddresses: true, outboundLimits: LIMITS },
        { tenant: 'hostile', userId: 'alice' },
      )
    ).fetchPage({ cursor: null, pageSize: 10, signal: SIGNAL });

  it('fails a CardDAV import whose server dribbles with a retryable ProviderTooSlow', async () => {
    const failure = await failureOf(carddav('/dribble/?every=50'));
    assert.equal(failure.type, FAILURE_TYPES.providerTooSlow, failure.message);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /did not answer within 1500 ms/);
    assert.ok(!failure.message.includes('secret-password'));
  });

  it('fails a CardDAV import whose server never ends its multistatus with a retryable ResponseTooLarge', async () => {
    const failure = await failureOf(carddav('/endless/'));
    assert.equal(failure.type, FAILURE_TYPES.responseTooLarge, failure.message);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /larger than 262144 bytes .*PROVIDER_MAX_RESPONSE_BYTES/);
    assert.ok(!failure.message.includes('<d:response>'), 'the message quotes the body');
  });

  it('fails a Google page that passes a limit with the same types', async () => {
    const page = (path: string) =>
      fetchConnectionsPage({ baseUrl: `${server.url}${path}`, accessToken: 'ya29.secret-token', pageSize: 10, pageToken: null, limits: LIMITS });
    const slow = await failureOf(page('/silent'));
    assert.equal(slow.type, FAILURE_TYPES.providerTooSlow);
    assert.match(slow.message, /did not start answering within 300 ms \(PROVIDER_FIRST_BYTE_TIMEOUT\)/);
    const large = await failureOf(page('/gzip-bomb'));
    assert.equal(large.type, FAILURE_TYPES.responseTooLarge);
    for (const failure of [slow, large]) assert.ok(!failure.message.includes('secret-token'));
  });
});
