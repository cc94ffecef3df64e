/**
 * `SharedReads`, the status cache in front of the `status` query, and `readAfterCall`, the shared
 * store reads beside it, on their own: a clock the test moves, and reads the test answers when it
 * chooses. Pure: no Temporal, no timers.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { readAfterCall, SharedReads } from '../api/imports/shared-reads';

interface PendingRead {
  key: string;
  resolve(value: string): void;
  reject(err: Error): void;
}

/** Lets promise callbacks run, so a read's answer reaches the cache. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether `promise` has settled without waiting for anything else. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  promise.catch(() => undefined);
  return (await Promise.race([promise.then(() => true, () => true), settled().then(() => marker)])) === true;
}

const FRESH_MS = 250;
const STALE_MS = 2_000;

describe('SharedReads', () => {
  let now: number;
  let reads: PendingRead[];
  let cache: SharedReads<string>;

  beforeEach(() => {
    now = 1_000_000;
    reads = [];
    cache = new SharedReads<string>(
      (key) => new Promise<string>((resolve, reject) => reads.push({ key, resolve, reject })),
      { freshMs: FRESH_MS, staleMs: STALE_MS, now: () => now },
    );
  });

  /** The read the cache started last, answered with `value` (and its callers given a turn). */
  async function answer(value: string): Promise<void> {
    const read = reads.at(-1);
    assert.ok(read, 'a read was started');
    read.resolve(value);
    await settled();
  }

  it('shares one read between concurrent callers', async () => {
    const callers = [cache.get('a'), cache.get('a'), cache.get('a')];
    assert.equal(reads.length, 1, 'three callers, one read');
    await answer('v1');
    assert.deepEqual(await Promise.all(callers), ['v1', 'v1', 'v1']);
  });

  it('reads each key on its own', async () => {
    const a = cache.get('a');
    const b = cache.get('b');
    assert.deepEqual(
      reads.map((read) => read.key),
      ['a', 'b'],
    );
    reads[0]!.resolve('for a');
    reads[1]!.resolve('for b');
    assert.deepEqual(await Promise.all([a, b]), ['for a', 'for b']);
  });

  it('answers again without reading within the fresh window, counted from when the read answered', async () => {
    const first = cache.get('a');
    now += 1_000; // the read itself takes a second
    await answer('v1');
    assert.equal(await first, 'v1');

    now += FRESH_MS - 1;
    assert.equal(await cache.get('a'), 'v1');
    assert.equal(reads.length, 1, 'no read inside the fresh window');
  });

  it('answers the old value past the fresh window while one read refreshes it', async () => {
    const first = cache.get('a');
    await answer('v1');
    await first;

    now += FRESH_MS;
    const stale = cache.get('a');
    assert.ok(await isSettled(stale), 'a stale answer does not wait for the refresh');
    assert.equal(await stale, 'v1');
    assert.equal(reads.length, 2, 'one refresh started');
    assert.equal(await cache.get('a'), 'v1', 'still the old value while refreshing');
    assert.equal(reads.length, 2, 'callers during the refresh do not start another');

    await answer('v2');
    assert.equal(await cache.get('a'), 'v2', 'the refreshed value once it arrived');
    assert.equal(reads.length, 2, 'and it is fresh');
  });

  it('waits for a new read once the value is older than the stale window', async () => {
    const first = cache.get('a');
    await answer('v1');
    await first;

    now += STALE_MS;
    const next = cache.get('a');
    assert.equal(reads.length, 2, 'a new read');
    assert.equal(await isSettled(next), false, 'a value that old is not answered');
    await answer('v2');
    assert.equal(await next, 'v2');
  });

  it('does not keep a failed read: every caller gets the error and the next get reads again', async () => {
    const callers = [cache.get('a'), cache.get('a')];
    const failure = new Error('Temporal is down');
    reads[0]!.reject(failure);
    for (const caller of callers) await assert.rejects(caller, (err) => err === failure);

    const retry = cache.get('a');
    assert.equal(reads.length, 2, 'the failure was not cached');
    await answer('v1');
    assert.equal(await retry, 'v1');
  });

  it('drops the old value when the refresh fails, so the next get reads again', async () => {
    const first = cache.get('a');
    await answer('v1');
    await first;

    now += FRESH_MS;
    assert.equal(await cache.get('a'), 'v1');
    reads[1]!.reject(new Error('Temporal is down'));
    await settled();

    const next = cache.get('a');
    assert.equal(reads.length, 3, 'a new read after the failed refresh');
    assert.equal(await isSettled(next), false, 'the old value is no longer answered');
    await answer('v2');
    assert.equal(await next, 'v2');
  });

  it('reads again after forget, even within the fresh window', async () => {
    const first = cache.get('a');
    await answer('v1');
    await first;

    cache.forget('a');
    const next = cache.get('a');
    assert.equal(reads.length, 2, 'forget drops the cached value');
    await answer('v2');
    assert.equal(await next, 'v2');
  });

  it('does not cache a read that was in flight when the key was forgotten', async () => {
    const before = cache.get('a');
    cache.forget('a');
    await answer('from before the command');
    assert.equal(await before, 'from before the command', 'its caller still gets an answer');

    const after = cache.get('a');
    assert.equal(reads.length, 2, 'the answer from before forget is not served');
    await answer('from after the command');
    assert.equal(await after, 'from after the command');
  });
});

describe('readAfterCall', () => {
  let reads: PendingRead[];
  let read: (key: string) => Promise<string>;

  beforeEach(() => {
    reads = [];
    read = readAfterCall((key) => new Promise<string>((resolve, reject) => reads.push({ key, resolve, reject })));
  });

  /** Answers the `index`th read started and lets its callers run. */
  async function answer(index: number, value: string): Promise<void> {
    const pending = reads[index];
    assert.ok(pending, `read ${index} was started`);
    pending.resolve(value);
    await settled();
  }

  it('answers callers who come during a read from one read started after it', async () => {
    const first = read('a');
    const during = [read('a'), read('a'), read('a')];
    assert.equal(reads.length, 1, 'nothing more is read while the first read runs');
    await answer(0, 'state before they called');
    assert.equal(await first, 'state before they called');
    assert.equal(reads.length, 2, 'one more read, for all three');
    assert.equal(await isSettled(Promise.all(during)), false, 'they are not answered from the read that began before they called');
    await answer(1, 'state after they called');
    assert.deepEqual(await Promise.all(during), ['state after they called', 'state after they called', 'state after they called']);
  });

  it('starts afresh once no read runs, and reads each key on its own', async () => {
    const a = read('tenant-a\nimport');
    const b = read('tenant-b\nimport');
    assert.deepEqual(reads.map((r) => r.key), ['tenant-a\nimport', 'tenant-b\nimport'], 'two tenants never share a read');
    await answer(0, 'a1');
    await answer(1, 'b1');
    assert.deepEqual([await a, await b], ['a1', 'b1']);
    const later = read('tenant-a\nimport');
    assert.equal(reads.length, 3, 'a call after the read ended reads again at once');
    await answer(2, 'a2');
    assert.equal(await later, 'a2');
  });

  it('gives a failed read to those who share it, and reads again for the next caller', async () => {
    const first = read('a');
    const during = read('a');
    reads[0]!.reject(new Error('first failed'));
    await assert.rejects(first, /first failed/);
    await settled();
    assert.equal(reads.length, 2, 'the caller who came during the failed read gets a read of its own');
    reads[1]!.reject(new Error('store down'));
    await assert.rejects(during, /store down/);
    await settled();
    const after = read('a');
    assert.equal(reads.length, 3, 'a failure is not remembered');
    await answer(2, 'back');
    assert.equal(await after, 'back');
  });
});
