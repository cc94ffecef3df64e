/**
 * `UPLOAD_QUOTA_BYTES`: what one tenant's uploads may take, all its users together. Past it an
 * upload is refused (`429 upload_quota_exceeded`) and nothing of it is kept; two uploads at once
 * that each fit alone but not together cannot both pass, on SQLite and on PostgreSQL; erasing a
 * user gives their bytes back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorBody, Upload } from '../api/schemas';
import { UploadQuotaExceededError, type Store } from '../db/types';
import { assembledApp, freshStore, send, type App } from './support/assembled-app';
import { storeCases, uniqueId } from './support/harness';
import { storeSql } from './support/store-sql';

/** A small vCard of exactly `bytes` bytes (padded in a NOTE). */
function vcard(bytes: number): Buffer {
  const head = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nNOTE:';
  const tail = '\r\nEND:VCARD\r\n';
  return Buffer.from(head + 'x'.repeat(bytes - head.length - tail.length) + tail);
}

async function* body(bytes: Buffer, gate?: Promise<void>): AsyncGenerator<Uint8Array> {
  await gate;
  yield bytes;
}

const vcardOnly = async () => 'vcard' as const;
const QUOTA = 3_000;

for (const storeCase of storeCases()) {
  describe(`upload quota on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    before(async () => {
      store = await storeCase.open();
    });
    after(() => store?.close());
    const rows = async (tenant: string) =>
      Number((await storeSql<{ n: number | string }>(storeCase, 'SELECT count(*) AS n FROM uploads WHERE tenant_id = ?', [tenant]))[0]?.n);

    it('refuses an upload past the quota, keeps nothing of it, and counts what is kept', async () => {
      const tenant = uniqueId('quota');
      await store.uploads.save(tenant, 'alice', body(vcard(2_000)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly });
      assert.equal(await store.uploads.usedBytes(tenant), 2_000);
      await assert.rejects(
        store.uploads.save(tenant, 'bob', body(vcard(1_500)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly }),
        (error) => error instanceof UploadQuotaExceededError && error.usedBytes === 2_000 && error.quotaBytes === QUOTA && error.neededBytes === 1_500,
      );
      assert.equal(await rows(tenant), 1, 'the refused upload left no row');
      assert.equal(await store.uploads.usedBytes(tenant), 2_000);
      await store.uploads.save(tenant, 'bob', body(vcard(1_000)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly });
      assert.equal(await store.uploads.usedBytes(tenant), 3_000, 'exactly at the quota is allowed');
      assert.equal(await store.uploads.usedBytes(uniqueId('other')), 0, 'another tenant has used nothing');
    });

    it('lets only one of two uploads at once pass when both fit alone but not together', async () => {
      const tenant = uniqueId('race');
      let started = 0;
      let release = () => {};
      const bothStarted = new Promise<void>((resolve) => (release = resolve));
      // Each body waits until both uploads are past the early check and reading: only the
      // transactions that record them are left to decide.
      async function* gated(bytes: Buffer): AsyncGenerator<Uint8Array> {
        started += 1;
        if (started === 2) release();
        yield* body(bytes, bothStarted);
      }
      const results = await Promise.allSettled(
        ['alice', 'bob'].map((userId) => store.uploads.save(tenant, userId, gated(vcard(2_000)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly })),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.ok(refused?.reason instanceof UploadQuotaExceededError, `refused for the quota: ${String(refused?.reason)}`);
      assert.equal(await rows(tenant), 1);
      assert.equal(await store.uploads.usedBytes(tenant), 2_000);
    });

    it('refuses before reading the body when the declared length cannot fit', async () => {
      const tenant = uniqueId('early');
      await store.uploads.save(tenant, 'alice', body(vcard(2_000)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly });
      let read = false;
      async function* watched(): AsyncGenerator<Uint8Array> {
        read = true;
        yield vcard(1_500);
      }
      await assert.rejects(
        store.uploads.save(tenant, 'bob', watched(), { maxBytes: 1 << 20, quotaBytes: QUOTA, expectedBytes: 1_500, detect: vcardOnly }),
        UploadQuotaExceededError,
      );
      assert.equal(read, false, 'not a byte of the body was read');
    });

    it("gives a user's bytes back when the user is erased", async () => {
      const tenant = uniqueId('erase');
      await store.uploads.save(tenant, 'alice', body(vcard(2_000)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly });
      await store.uploads.save(tenant, 'bob', body(vcard(500)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly });
      assert.equal(await store.uploads.deleteUser(tenant, 'alice'), 1);
      assert.equal(await store.uploads.usedBytes(tenant), 500);
      await store.uploads.save(tenant, 'carol', body(vcard(2_500)), { maxBytes: 1 << 20, quotaBytes: QUOTA, detect: vcardOnly });
      assert.equal(await store.uploads.usedBytes(tenant), 3_000);
    });
  });
}

describe('POST /v1/uploads past the quota', () => {
  let store: Store;
  let app: App;
  before(async () => {
    store = await freshStore();
    ({ app } = assembledApp(store, { loopbackOnly: false, deps: { uploadQuotaBytes: QUOTA } }));
  });
  after(() => store?.close());

  const upload = (key: string, userId: string, bytes: Buffer) =>
    app.request(`/v1/uploads?userId=${userId}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/vcard' },
      body: bytes,
    });

  it('answers 429 upload_quota_exceeded, keeps what the tenant had, and leaves other tenants alone', async () => {
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant: uniqueId('api'), name: 'quota' });
    const first = await upload(key, 'alice', vcard(2_000));
    assert.equal(first.status, 201, await first.clone().text());
    const kept = Upload.parse(await first.json());

    const refused = await upload(key, 'bob', vcard(1_500));
    assert.equal(refused.status, 429);
    const { error } = ErrorBody.parse(await refused.json());
    assert.equal(error.code, 'upload_quota_exceeded');
    assert.match(error.message, /UPLOAD_QUOTA_BYTES/, 'the message names the setting');
    assert.match(error.message, /UPLOAD_RETENTION/, 'and says how space comes back');

    assert.equal((await send(app, 'GET', `/v1/uploads/${kept.uploadId}`, { key })).status, 200, 'the kept upload is still there');
    const { key: otherKey } = await store.apiKeys.create({ scope: 'tenant', tenant: uniqueId('api'), name: 'quota' });
    assert.equal((await upload(otherKey, 'bob', vcard(1_500))).status, 201, 'another tenant has its own quota');
  });
});
