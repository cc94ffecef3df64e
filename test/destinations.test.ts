/**
 * Where outbound requests may connect (`providers/kit/destinations.ts` through `kit/http.ts`): a
 * user-supplied URL may not reach loopback or private addresses, however it spells them, and the
 * address judged is the address connected to (a resolver double answers a public address first and
 * 127.0.0.1 after, as DNS rebinding would), on every redirect hop.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OUTBOUND_DEFAULTS } from '../config/defaults';
import { openSource, readProviderSettings } from '../providers';
import { isPrivateAddress, type Resolver } from '../providers/kit/destinations';
import { httpRequest } from '../providers/kit/http';
import { FAILURE_TYPES } from '../workflows/contract';
import { failureOf } from './support/failures';

/** A resolver that answers `answers` in turn (the last one again when they run out), and counts its calls. */
function resolverDouble(...answers: string[]): Resolver & { calls: number } {
  const resolve = Object.assign(
    async (_hostname: string) => {
      const address = answers[Math.min(resolve.calls, answers.length - 1)] as string;
      resolve.calls += 1;
      return [{ address, family: address.includes(':') ? 6 : 4 }];
    },
    { calls: 0 },
  );
  return resolve;
}

/** A short connect timeout: a public documentation address (TEST-NET-3) never answers here. */
const LIMITS = { ...OUTBOUND_DEFAULTS, connectTimeoutMs: 500 };

describe('destinations of outbound requests', () => {
  /** A loopback server standing for an internal service: it must never be reached. */
  let internal: http.Server;
  let port: number;
  const reached: string[] = [];

  before(async () => {
    internal = http.createServer((req, res) => {
      reached.push(`${req.method} ${req.url}`);
      if (req.url === '/hop') res.writeHead(302, { location: `http://rebound.example:${port}/secret` }).end();
      else res.end('internal data');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    port = (internal.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => internal.close(resolve));
  });

  it('counts loopback, private, link-local, CGNAT and metadata addresses as private, and public ones not', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      assert.equal(isPrivateAddress(address), true, `${address} is private`);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isPrivateAddress(address), false, `${address} is public`);
    }
  });

  it('refuses IPv4-compatible and site-local IPv6, and judges the IPv4 inside NAT64, 6to4 and mapped forms', () => {
    const refused = ['::', '::7f00:1', '::127.0.0.1', '::8.8.8.8', 'fec0::1', 'feff::1', '64:ff9b::7f00:1', '64:ff9b::10.0.0.1', '64:ff9b:1::808:808', '2002:7f00:1::1', '2002:a9fe:a9fe::', '::ffff:10.0.0.1', '::ffff:7f00:1'];
    for (const address of refused) assert.equal(isPrivateAddress(address), true, `${address} is refused`);
    for (const address of ['64:ff9b::808:808', '64:ff9b::8.8.8.8', '2002:808:808::1', '2001:4860:4860::8888']) {
      assert.equal(isPrivateAddress(address), false, `${address} reaches a public host`);
    }
  });

  it('connects to the address it judged: a name that answers public, then 127.0.0.1, never reaches loopback', async () => {
    const resolve = resolverDouble('203.0.113.7', '127.0.0.1');
    reached.length = 0;
    const outcome = await httpRequest(
      { method: 'GET', url: `http://rebound.example:${port}/secret`, destinations: { allowPrivate: false }, limits: LIMITS, resolve },
      'text',
    );
    assert.notEqual(outcome.kind, 'answer', 'the request was answered: it reached a server');
    assert.ok(outcome.kind === 'timeout' || outcome.kind === 'network', `expected no connection, got ${outcome.kind}`);
    assert.equal(resolve.calls, 1, 'the name was resolved more than once for one connection');
    assert.deepEqual(reached, [], 'the loopback server was reached');
  });

  it('refuses a name that resolves to loopback, before sending anything', async () => {
    const resolve = resolverDouble('127.0.0.1');
    reached.length = 0;
    const outcome = await httpRequest({ method: 'GET', url: `http://rebound.example:${port}/secret`, destinations: { allowPrivate: false }, resolve }, 'text');
    assert.deepEqual(outcome, { kind: 'refused', origin: `http://rebound.example:${port}` });
    assert.deepEqual(reached, []);
  });

  it('judges every redirect hop: a trusted origin may be private, where it redirects may not', async () => {
    const resolve = resolverDouble('127.0.0.1');
    reached.length = 0;
    const origin = `http://127.0.0.1:${port}`;
    const outcome = await httpRequest(
      { method: 'GET', url: `${origin}/hop`, destinations: { allowPrivate: false, trustedOrigins: [origin] }, resolve },
      'text',
    );
    assert.deepEqual(outcome, { kind: 'refused', origin: `http://rebound.example:${port}` });
    assert.deepEqual(reached, ['GET /hop'], 'only the trusted origin was reached');
    const allowed = await httpRequest({ method: 'GET', url: `${origin}/hop`, destinations: { allowPrivate: true }, resolve }, 'text');
    assert.ok(allowed.kind === 'answer' && allowed.body === 'internal data', 'with private addresses allowed, the hop is followed');
  });

  it('refuses a loopback address, by IP or by name, without retries, unless private addresses are allowed', async () => {
    for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`, `http://[::1]:${port}/`, 'http://169.254.169.254/latest/', 'http://[::ffff:7f00:1]/']) {
      const source = await openSource('carddav', JSON.stringify({ url, username: 'alice', password: 'secret-pw' }), { providers: readProviderSettings({}) }, { tenant: 'default', userId: 'alice' });
      const failure = await failureOf(source.fetchPage({ cursor: null, pageSize: 10, signal: new AbortController().signal }));
      assert.equal(failure.type, FAILURE_TYPES.providerInvalidRequest, failure.message);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /loopback or private-network address/);
      assert.ok(!failure.message.includes('secret-pw'));
    }
    reached.length = 0;
    const allowed = await httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/`, destinations: { allowPrivate: true } }, 'text');
    assert.equal(allowed.kind, 'answer');
  });
});
