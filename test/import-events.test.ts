/**
 * Live events and a status that explains itself, through a real listening API, a real worker and
 * the demo provider: `GET /v1/imports/{importId}/events` streams each change and ends with the final
 * status; `Last-Event-ID` resumes; a hundred streams on one import share one watcher (Temporal's
 * reads counted at the client); and `waiting` says why an import is not moving.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { ImportView } from '../api/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { openEventStream, startEventsApi, type EventsApi, type EventStream } from './support/events';
import { startWorker, storeCases, uniqueId, waitFor } from './support/harness';

const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;

for (const storeCase of storeCases()) {
  describe(`live import events on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let api: EventsApi;
    let worker: Worker;
    let workerRun: Promise<void>;

    before(async () => {
      provider = await startDemoProvider({ contacts: 800 });
      store = await storeCase.open();
      const taskQueue = uniqueId(`events-${storeCase.name}`);
      api = await startEventsApi({ store, taskQueue, keepaliveMs: 300 });
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
      workerRun = worker.run();
    });
    beforeEach(() => provider.configure({ faults: {} }));
    after(async () => {
      provider?.configure({ faults: {} });
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await api?.close();
      await provider?.close();
      await store?.close();
    });

    const auth = () => ({ authorization: `Bearer ${api.key}` });
    async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
      const res = await fetch(api.url + path, {
        method,
        headers: { ...auth(), ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    }
    async function start(userId: string): Promise<ImportView> {
      const res = await call('POST', '/v1/imports', { userId, source: SOURCE });
      assert.equal(res.status, 202, JSON.stringify(res.json));
      return ImportView.parse(res.json);
    }
    const status = async (importId: string) => ImportView.parse((await call('GET', `/v1/imports/${importId}`)).json);
    const events = (importId: string, headers: Record<string, string> = {}) =>
      openEventStream(`${api.url}/v1/imports/${importId}/events`, { ...auth(), ...headers });
    const viewOf = (data: unknown) => ImportView.parse(data);

    it('streams one event per change, with rate and ETA, then the final status as `end`, and closes', async () => {
      // Slow pages of 100, one page a batch: eight batches, each its own change.
      provider.configure({ faults: { slowMs: 150 } });
      const view = await start(uniqueId('events-alice'));
      const stream = await events(view.importId);
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
      const end = await stream.next((e) => e.event === 'end', 'the end event');
      await stream.ended;
      const final = viewOf(end.data);
      assert.equal(final.state, 'completed');
      assert.equal(final.saved, 800);
      const statuses = stream.events.filter((e) => e.event === 'status').map((e) => viewOf(e.data));
      assert.ok(statuses.length >= 2, `several changes were streamed: ${statuses.map((s) => s.saved).join(', ')}`);
      const saved = statuses.map((s) => s.saved);
      assert.deepEqual(saved, [...saved].sort((a, b) => a - b), 'saved only grows');
      const ids = stream.events.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'every event is a change: no id twice');
      assert.equal(stream.events.at(-1)?.event, 'end', 'nothing after the end event');
      const moving = statuses.filter((s) => s.saved > 0 && s.state === 'running');
      assert.ok(moving.some((s) => s.rate !== undefined && s.rate > 0), `a running status has a rate: ${JSON.stringify(moving)}`);
      assert.ok(moving.some((s) => s.etaSeconds !== undefined), 'a running status with a known total has an ETA');
      assert.ok(stream.raw.includes(': keepalive\n\n'), 'quiet moments carry keepalive comments');
    });

    it('resumes after Last-Event-ID without repeating it, and answers 204 once the final status was seen', async () => {
      provider.configure({ faults: { holdFromOffset: 200 } });
      const view = await start(uniqueId('events-bob'));
      await waitFor(async () => (await status(view.importId)).saved === 200, 'the first two pages');
      const first = await events(view.importId);
      const held = await first.next((e) => viewOf(e.data).saved === 200, 'the held status');
      first.close();
      // Reconnecting with that id: the status it names is not sent again; the next change is.
      const resumed = await events(view.importId, { 'last-event-id': held.id! });
      provider.configure({ faults: {} });
      const end = await resumed.next((e) => e.event === 'end', 'the end after resuming');
      await resumed.ended;
      assert.ok(
        resumed.events.every((e) => e.id !== held.id && viewOf(e.data).saved > 200),
        `nothing already seen: ${JSON.stringify(resumed.events.map((e) => [e.id, viewOf(e.data).saved]))}`,
      );
      const done = await fetch(`${api.url}/v1/imports/${view.importId}/events`, { headers: { ...auth(), 'last-event-id': end.id! } });
      assert.equal(done.status, 204, 'the final status was seen: EventSource must not reconnect');
      // Any other id on a finished import: the final status, at once, then the stream closes.
      const late = await events(view.importId, { 'last-event-id': 'stale' });
      await late.ended;
      assert.deepEqual(late.events.map((e) => e.event), ['end']);
    });

    it('reads the status once per second for a hundred streams on one import (one watcher)', async (t) => {
      provider.configure({ faults: { holdFromOffset: 200 } });
      const view = await start(uniqueId('events-many'));
      await waitFor(async () => (await status(view.importId)).saved === 200, 'the first two pages');
      const streams: EventStream[] = await Promise.all(Array.from({ length: 100 }, () => events(view.importId)));
      try {
        await Promise.all(streams.map((s) => s.next(() => true, 'the first event')));
        assert.equal(api.watchers.size, 1, 'one watcher for the import');
        const before = { ...api.counts };
        const t0 = Date.now();
        // A window of time is what is measured here: reads per second, whatever the machine.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        const seconds = (Date.now() - t0) / 1000;
        const queries = api.counts.query - before.query;
        const describes = api.counts.describe - before.describe;
        t.diagnostic(`100 streams on one import, ${seconds.toFixed(1)} s: ${api.watchers.size} watcher, ${(queries / seconds).toFixed(2)} status queries/s, ${(describes / seconds).toFixed(2)} describes/s`);
        assert.ok(queries <= Math.ceil(seconds) + 1, `${queries} status queries in ${seconds} s for 100 streams (one a second expected)`);
        assert.ok(describes <= Math.ceil(seconds) + 1, `${describes} describes in ${seconds} s`);
      } finally {
        streams.forEach((s) => s.close());
      }
      await waitFor(() => api.watchers.size === 0, 'the watcher to stop once the last stream left', 10_000);
      provider.configure({ faults: {} });
      await waitFor(async () => (await status(view.importId)).state === 'completed', 'the import to finish');
    });

    it('answers 404 for an unknown import, as JSON, before streaming anything', async () => {
      const res = await fetch(`${api.url}/v1/imports/imp_nope/events`, { headers: auth() });
      assert.equal(res.status, 404);
      assert.deepEqual(((await res.json()) as { error: { code: string } }).error.code, 'import_not_found');
    });

    describe('waiting', () => {
      /** The waiting reason once Temporal has the batch's retry: a provider's pause (the store) shows before it. */
      const retryWaiting = (importId: string) =>
        waitFor(async () => {
          const { waiting } = await status(importId);
          return waiting?.attempt === 2 ? waiting : undefined;
        }, 'a waiting reason with the next attempt');

      it('says rate_limited until the Retry-After ends, with the next attempt and its number, while the provider answers 429', async () => {
        provider.configure({ faults: { every: { every: 1, kind: '429' }, retryAfterSeconds: 60 } });
        const view = await start(uniqueId('wait-429'));
        const waiting = await retryWaiting(view.importId);
        assert.equal(waiting.reason, 'rate_limited');
        assert.ok(waiting.until && Date.parse(waiting.until) > Date.now() + 30_000, `it waits out the Retry-After: ${waiting.until}`);
        assert.match(waiting.message, /asked for a pause: every import on the same quota waits; retrying at .* \(attempt 2\)/);
        const stream = await events(view.importId);
        const event = await stream.next((e) => viewOf(e.data).waiting?.reason === 'rate_limited', 'the reason in an event');
        assert.ok(event.id);
        stream.close();
        await call('POST', `/v1/imports/${view.importId}/cancel`);
        await waitFor(async () => (await status(view.importId)).state === 'cancelled', 'the import to cancel');
        assert.equal((await status(view.importId)).waiting, undefined, 'a finished import waits for nothing');
      });

      it('pauses a batch that keeps failing at once, without waiting for its retries to end', async () => {
        provider.configure({ faults: { every: { every: 1, kind: '500' } } });
        const view = await start(uniqueId('wait-pause-failing'));
        await retryWaiting(view.importId);
        assert.equal((await call('POST', `/v1/imports/${view.importId}/pause`)).status, 202);
        const paused = await waitFor(async () => {
          const s = await status(view.importId);
          return s.state === 'paused' && s;
        }, 'the failing import to pause');
        assert.deepEqual({ saved: paused.saved, reason: paused.waiting?.reason }, { saved: 0, reason: 'paused' });
        provider.configure({ faults: {} });
        assert.equal((await call('POST', `/v1/imports/${view.importId}/resume`)).status, 202);
        await waitFor(async () => (await status(view.importId)).state === 'completed', 'the import to complete once resumed');
      });

      it('says paused while paused, and nothing once resumed', async () => {
        provider.configure({ faults: { holdFromOffset: 200 } });
        const view = await start(uniqueId('wait-paused'));
        await waitFor(async () => (await status(view.importId)).saved === 200, 'the first two pages');
        assert.equal((await call('POST', `/v1/imports/${view.importId}/pause`)).status, 202);
        provider.configure({ faults: {} });
        const paused = await waitFor(async () => {
          const s = await status(view.importId);
          return s.state === 'paused' && s;
        }, 'the import to pause');
        assert.equal(paused.waiting?.reason, 'paused');
        assert.equal(paused.etaSeconds, undefined, 'no ETA while paused');
        assert.equal((await call('POST', `/v1/imports/${view.importId}/resume`)).status, 202);
        const done = await waitFor(async () => {
          const s = await status(view.importId);
          return s.state === 'completed' && s;
        }, 'the import to complete');
        assert.equal(done.waiting, undefined);
      });

      // Last: a 503 with Retry-After closes the provider's app key for every import on it for 60 s.
      it('says provider_unavailable while the provider answers 503', async () => {
        provider.configure({ faults: { every: { every: 1, kind: '503' }, retryAfterSeconds: 60 } });
        const view = await start(uniqueId('wait-503'));
        const waiting = await retryWaiting(view.importId);
        assert.equal(waiting.reason, 'provider_unavailable');
        assert.ok(waiting.until && Date.parse(waiting.until) > Date.now() + 30_000, `it waits out the Retry-After: ${waiting.until}`);
        await call('POST', `/v1/imports/${view.importId}/cancel`);
        await waitFor(async () => (await status(view.importId)).state === 'cancelled', 'the import to cancel');
      });
    });
  });
}

describe('waiting for a worker', () => {
  it('says worker_unavailable when no worker answers for the import', async () => {
    const store = await storeCases()[0]!.open();
    // A task queue nobody polls, and a short query timeout: the status comes from the memo.
    const api = await startEventsApi({ store, taskQueue: uniqueId('no-worker'), imports: { queryTimeoutMs: 300 } });
    try {
      const res = await fetch(`${api.url}/v1/imports`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: uniqueId('wait-worker'), source: SOURCE }),
      });
      const view = ImportView.parse(await res.json());
      const got = ImportView.parse(await (await fetch(`${api.url}/v1/imports/${view.importId}`, { headers: { authorization: `Bearer ${api.key}` } })).json());
      assert.equal(got.state, 'running');
      assert.equal(got.waiting?.reason, 'worker_unavailable');
      assert.match(got.waiting?.message ?? '', /No worker/);
      await fetch(`${api.url}/v1/imports/${view.importId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${api.key}` } });
    } finally {
      await api.close();
      await store.close();
    }
  });
});
