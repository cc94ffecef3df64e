/**
 * HTTP hygiene of the API: 405 with Allow to methods a path does not serve (TRACE over a real
 * socket too), secure headers on every answer and `Cache-Control: no-store` on `/v1`. Through
 * `app.request()` on fakes (test/support/fake-app.ts), and over the Node adapter where it differs.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { assertError, contractApp, importView, neverIssued, startBody, type Answer } from './support/fake-app';
import { uniqueId } from './support/harness';

/** One request over a real socket with node:http (for methods fetch refuses to send, like TRACE). */
function rawRequest(
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Serves `fetch` with the Node adapter on a free loopback port while `use` runs. */
async function overSocket(fetch: (request: Request) => Response | Promise<Response>, use: (port: number) => Promise<void>): Promise<void> {
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  try {
    await use((server.address() as net.AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
  }
}

describe('HTTP contract', () => {
  const api = contractApp();
  const { request, startImport } = api;

  describe('HTTP hygiene', () => {
    it('answers 405 with Allow to a method a known path does not serve', async () => {
      const { importId } = await startImport(uniqueId('mia'));
      const cases: Array<[string, string, string]> = [
        ['PUT', '/v1/imports', 'GET, HEAD, POST'],
        ['DELETE', '/v1/imports', 'GET, HEAD, POST'],
        ['DELETE', `/v1/imports/${importId}`, 'GET, HEAD'],
        ['PUT', `/v1/imports/${importId}`, 'GET, HEAD'],
        ['GET', `/v1/imports/${importId}/pause`, 'POST'],
        ['DELETE', `/v1/imports/${importId}/cancel`, 'POST'],
        ['PUT', '/v1/users/u1/contacts', 'GET, HEAD'],
        ['DELETE', '/v1/users/u1/contacts', 'GET, HEAD'],
        ['PUT', '/v1/users/u1', 'DELETE'],
        ['GET', '/v1/users/u1', 'DELETE'],
        ['DELETE', '/healthz', 'GET, HEAD'],
        ['PUT', '/livez', 'GET, HEAD'],
        ['DELETE', '/openapi.json', 'GET, HEAD'],
      ];
      for (const [method, urlPath, allow] of cases) {
        const res = await request(method, urlPath);
        assertError(res, 405, 'method_not_allowed');
        assert.equal(res.headers.get('allow'), allow, `${method} ${urlPath}`);
      }
      assert.equal(importView(await request('GET', `/v1/imports/${importId}`), 200).state, 'running', 'nothing happened to it');
      assert.deepEqual(api.erasure.calls, [], 'no erasure either');
    });

    it('answers 405 with Allow to TRACE over a real socket', async () => {
      await overSocket(api.app.fetch, async (port) => {
        const cases: Array<[string, string]> = [
          ['/v1/imports', 'GET, HEAD, POST'],
          [`/v1/imports/${neverIssued()}`, 'GET, HEAD'],
          [`/v1/imports/${neverIssued()}/pause`, 'POST'],
          ['/v1/users/u1/contacts', 'GET, HEAD'],
          ['/v1/users/u1', 'DELETE'],
          ['/healthz', 'GET, HEAD'],
          ['/livez', 'GET, HEAD'],
          ['/openapi.json', 'GET, HEAD'],
        ];
        for (const [urlPath, allow] of cases) {
          const res = await rawRequest(port, 'TRACE', urlPath, { authorization: `Bearer ${api.key}` });
          assert.equal(res.status, 405, `TRACE ${urlPath}: ${res.body}`);
          assert.equal(res.headers.allow, allow, `TRACE ${urlPath}`);
          assertError({ status: res.status, headers: new Headers(), body: JSON.parse(res.body) }, 405, 'method_not_allowed');
          assert.ok(!res.body.includes(api.key), 'TRACE does not echo the request');
        }
        const unknown = await rawRequest(port, 'TRACE', '/v1/nothing-here', { authorization: `Bearer ${api.key}` });
        assert.equal(unknown.status, 404, 'an unknown path is still unknown');
      });
    });

    it('sends every header and still limits bodies over the Node adapter', async () => {
      const { importId } = await startImport(uniqueId('nod'));
      await overSocket(api.app.fetch, async (port) => {
        const auth = { authorization: `Bearer ${api.key}` };
        for (const method of ['GET', 'HEAD']) {
          const res = await rawRequest(port, method, `/v1/imports/${importId}`, auth);
          const what = `${method} status`;
          assert.equal(res.status, 200, `${what}: ${res.body}`);
          if (method === 'GET') assert.equal(JSON.parse(res.body).importId, importId, what);
          assert.equal(res.headers['cache-control'], 'no-store', what);
          assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, what);
          assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
        }
        const big = JSON.stringify({ pad: 'x'.repeat(2_000) });
        const res = await rawRequest(port, 'POST', `/v1/imports/${importId}/pause`, { ...auth, 'content-type': 'application/json' }, big);
        assert.equal(res.status, 413, res.body);
        assert.equal(JSON.parse(res.body).error.code, 'payload_too_large');
        assert.equal(res.headers['cache-control'], 'no-store', 'a refusal by the body limit');
      });
      assert.ok(!api.imports.calls.some((call) => call.method === 'pause'), 'the oversized pause did not reach imports');
    });

    it('sends secure headers on every answer', async () => {
      const answers: Array<[string, Answer]> = [
        ['livez', await request('GET', '/livez', undefined, null)],
        ['healthz', await request('GET', '/healthz', undefined, null)],
        ['openapi', await request('GET', '/openapi.json', undefined, null)],
        ['contacts', await request('GET', '/v1/users/u1/contacts')],
        ['start', await request('POST', '/v1/imports', startBody(uniqueId('nia')))],
        ['404', await request('GET', `/v1/imports/${neverIssued()}`)],
        ['401', await request('GET', '/v1/users/u1/contacts', undefined, null)],
        ['405', await request('PUT', '/v1/imports')],
        ['unknown route', await request('GET', '/nothing-here', undefined, null)],
      ];
      for (const [what, res] of answers) {
        const header = (name: string) => res.headers.get(name);
        assert.equal(header('x-content-type-options'), 'nosniff', what);
        assert.match(header('x-frame-options') ?? '', /^(DENY|SAMEORIGIN)$/, what);
        assert.equal(header('referrer-policy'), 'no-referrer', what);
        assert.match(header('strict-transport-security') ?? '', /max-age=\d+/, what);
        assert.equal(header('cross-origin-resource-policy'), 'same-origin', what);
        assert.equal(header('x-powered-by'), null, what);
      }
    });

    it('answers /v1 with Cache-Control: no-store', async () => {
      const { importId } = await startImport(uniqueId('oto'));
      const answers: Array<[string, Answer]> = [
        ['start', await request('POST', '/v1/imports', startBody(uniqueId('oto')))],
        ['status', await request('GET', `/v1/imports/${importId}`)],
        ['pause', await request('POST', `/v1/imports/${importId}/pause`)],
        ['contacts', await request('GET', '/v1/users/u1/contacts')],
        ['erase', await request('DELETE', '/v1/users/u1')],
        ['404', await request('GET', `/v1/imports/${neverIssued()}`)],
        ['422', await request('GET', '/v1/users/u1/contacts?limit=0')],
        ['405', await request('PUT', '/v1/imports')],
      ];
      for (const [what, res] of answers) {
        assert.ok(res.status < 500, `${what}: ${res.status}`);
        assert.equal(res.headers.get('cache-control'), 'no-store', what);
      }
    });
  });
});
