/**
 * Status while Temporal is down: the Temporal-backed imports never wait longer than
 * their budget, even on a server that accepts connections and then says nothing, and fail at once
 * while the connection monitor says Temporal is down. The HTTP answer is `503
 * temporal_unavailable` with `Retry-After`, and what the store could say in `partial`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Hono } from 'hono';
import { isTemporalUnavailable, onError, TemporalUnavailableError } from '../api/errors';
import { createTemporalImports } from '../api/imports';
import { withPartialStatus } from '../api/partial-status';
import { TemporalUnavailableBody } from '../api/schemas';
import { TEMPORAL_OUTAGE_DEFAULTS } from '../config/defaults';
import { DEFAULT_TENANT } from '../workflows/contract';
import { encodeImportId } from '../workflows/import-id';
import { TEST_TUNING, testSealer, uniqueId } from './support/harness';

/** The budget is 2.5 s; this leaves room for a loaded machine without hiding a hang. */
const ANSWER_WITHIN_MS = 4_500;

const someImportId = () =>
  encodeImportId({ tenant: DEFAULT_TENANT, provider: 'google-people', userId: uniqueId('outage'), firstRunId: randomUUID() });

async function failureOf(call: () => Promise<unknown>): Promise<{ err: unknown; tookMs: number }> {
  const began = performance.now();
  try {
    await call();
  } catch (err) {
    return { err, tookMs: performance.now() - began };
  }
  assert.fail('the call succeeded against a server that does not answer');
}

describe('imports while Temporal does not answer', () => {
  // Accepts connections and never answers: calls hang unless something bounds them.
  const silent = net.createServer(() => undefined);
  const connected: net.Socket[] = [];
  silent.on('connection', (socket) => connected.push(socket));
  let address: string;

  before(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    for (const socket of connected) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('fails every call as Temporal unavailable within the budget, never hanging', async () => {
    const connection = Connection.lazy({ address });
    try {
      const client = new Client({ connection, workflow: { queryRejectCondition: 'NOT_OPEN' } });
      const imports = createTemporalImports({ client, sealer: testSealer, tuning: TEST_TUNING });
      const importId = someImportId();
      const calls = {
        status: () => imports.get(DEFAULT_TENANT, importId),
        start: () => imports.start(DEFAULT_TENANT, { userId: uniqueId('outage'), source: { provider: 'google-people', accessToken: 't' } }),
        pause: () => imports.pause(DEFAULT_TENANT, importId),
      };
      for (const [name, call] of Object.entries(calls)) {
        const { err, tookMs } = await failureOf(call);
        assert.ok(isTemporalUnavailable(err), `${name}: expected Temporal unavailable, got ${String(err)}`);
        assert.ok(tookMs < ANSWER_WITHIN_MS, `${name} took ${Math.round(tookMs)} ms`);
      }
    } finally {
      await connection.close();
    }
  });

  it('fails at once, without calling Temporal, while the monitor says it is down', async () => {
    const before = connected.length;
    const connection = Connection.lazy({ address });
    try {
      const client = new Client({ connection });
      const imports = createTemporalImports({ client, sealer: testSealer, tuning: TEST_TUNING, isTemporalUp: () => false });
      const { err } = await failureOf(() => imports.get(DEFAULT_TENANT, someImportId()));
      assert.ok(err instanceof TemporalUnavailableError, String(err));
      assert.equal(connected.length, before, 'no connection was even opened');
    } finally {
      await connection.close();
    }
  });
});

describe('the 503 a status request gets while Temporal does not answer', () => {
  const app = (countSaved: () => Promise<number | undefined>) => {
    const hono = new Hono();
    hono.onError(onError);
    hono.get('/v1/imports/:importId', async (c) => {
      throw await withPartialStatus(new TemporalUnavailableError(), c.req.param('importId'), countSaved);
    });
    return hono;
  };

  it('says temporal_unavailable, when to retry, and how many contacts the store has', async () => {
    const res = await app(async () => 1_234).request(`/v1/imports/${someImportId()}`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), String(TEMPORAL_OUTAGE_DEFAULTS.retryAfterSeconds));
    const body = TemporalUnavailableBody.parse(await res.json());
    assert.equal(body.error.code, 'temporal_unavailable');
    assert.deepEqual(body.partial, { saved: 1_234 });
  });

  it('leaves partial out when the store does not answer in time, or may not say', async () => {
    for (const countSaved of [() => new Promise<number>(() => undefined), async () => undefined]) {
      const res = await app(countSaved).request(`/v1/imports/${someImportId()}`);
      assert.equal(res.status, 503);
      const body = TemporalUnavailableBody.parse(await res.json());
      assert.equal(body.partial, undefined);
    }
  });
});
