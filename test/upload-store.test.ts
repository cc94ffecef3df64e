/**
 * The upload store on SQLite (files under its folder) and, when TEST_DATABASE_URL is set, PostgreSQL
 * (chunks in the database): exact bytes read back by ranges, tenants, limits, refusals and erasure.
 * The HTTP routes over it are in test/uploads-api.test.ts.
 *
 *   npx tsx scripts/run-tests.ts test/upload-store.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UPLOAD_DEFAULTS } from '../config/defaults';
import { UploadNotFoundError } from '../db/uploads';
import { UploadTooLargeError, type Store, type UploadBytes } from '../db/types';
import { storeCases, uniqueId } from './support/harness';
import {
  assertNothingStored,
  assertReadsBack,
  countRows,
  fixture,
  LARGE_VCARD,
  pieces,
  sha256,
  tenantFiles,
  vcardOnly,
} from './support/uploads';

for (const storeCase of storeCases()) {
  describe(`upload store on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let store: Store;
    before(async () => {
      store = await storeCase.open();
    });
    after(() => store?.close());

    it('keeps the exact bytes and their SHA-256, and reads them back by ranges', async () => {
      const tenant = uniqueId('t');
      const meta = await store.uploads.save(tenant, 'alice', pieces(LARGE_VCARD), { maxBytes: 1 << 20, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: vcardOnly });
      assert.match(meta.uploadId, /^upl_[A-Za-z0-9_-]{22}$/);
      assert.deepEqual(
        { tenant: meta.tenant, userId: meta.userId, format: meta.format, bytes: meta.bytes, sha256: meta.sha256 },
        { tenant, userId: 'alice', format: 'vcard', bytes: LARGE_VCARD.length, sha256: sha256(LARGE_VCARD) },
      );
      assert.deepEqual(await store.uploads.get(tenant, meta.uploadId), meta, 'get answers what save did');
      const source = await store.uploads.open(tenant, meta.uploadId);
      try {
        await assertReadsBack(source, LARGE_VCARD);
      } finally {
        await source.close();
      }
      if (storeCase.name === 'postgres') assert.equal(await countRows(storeCase, 'upload_chunks', tenant), 3, '256 KiB chunks');
      else assert.deepEqual(tenantFiles(storeCase, tenant), [meta.uploadId], 'one file, named for the upload');
    });

    it('keeps an upload to its tenant', async () => {
      const tenant = uniqueId('t');
      const meta = await store.uploads.save(tenant, 'alice', pieces(fixture('vcard-4.0.vcf')), { maxBytes: 1 << 20, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: vcardOnly });
      assert.equal(await store.uploads.get(uniqueId('other'), meta.uploadId), null, "another tenant's id is unknown");
      await assert.rejects(store.uploads.open(uniqueId('other'), meta.uploadId), UploadNotFoundError);
    });

    it('stops reading past maxBytes and keeps nothing', async () => {
      const tenant = uniqueId('t');
      let read = 0;
      async function* counted() {
        for await (const piece of pieces(LARGE_VCARD)) {
          read += piece.length;
          yield piece;
        }
      }
      await assert.rejects(store.uploads.save(tenant, 'alice', counted(), { maxBytes: 50_000, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: vcardOnly }), UploadTooLargeError);
      assert.ok(read < 70_000, `stopped reading soon after the limit (read ${read} bytes)`);
      await assertNothingStored(storeCase, tenant);
    });

    it('keeps nothing when detect refuses the file or the body fails', async () => {
      const tenant = uniqueId('t');
      const refusal = new Error('not a contacts file');
      let seen = -1;
      const detect = async (bytes: UploadBytes) => {
        seen = bytes.size;
        throw refusal;
      };
      const csv = fixture('google.csv');
      await assert.rejects(store.uploads.save(tenant, 'alice', pieces(csv), { maxBytes: 1 << 20, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect }), (error) => error === refusal);
      assert.equal(seen, csv.length, 'detect saw the whole stored file');
      const wentAway = new Error('the client went away');
      async function* broken() {
        yield csv.subarray(0, 100);
        throw wentAway;
      }
      await assert.rejects(store.uploads.save(tenant, 'alice', broken(), { maxBytes: 1 << 20, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: vcardOnly }), (error) => error === wentAway);
      await assertNothingStored(storeCase, tenant);
    });

    it("deletes a user's uploads, bytes included, and no one else's", async () => {
      const tenant = uniqueId('t');
      const save = (userId: string) =>
        store.uploads.save(tenant, userId, pieces(fixture('vcard-2.1.vcf')), { maxBytes: 1 << 20, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: vcardOnly });
      const [a1, a2, b] = [await save('alice'), await save('alice'), await save('bob')];
      assert.equal(await store.uploads.deleteUser(tenant, 'alice'), 2);
      assert.equal(await store.uploads.get(tenant, a1.uploadId), null);
      assert.equal(await store.uploads.get(tenant, a2.uploadId), null);
      await assert.rejects(store.uploads.open(tenant, a1.uploadId), UploadNotFoundError);
      assert.deepEqual(await store.uploads.get(tenant, b.uploadId), b, "bob's upload stays");
      assert.equal(await countRows(storeCase, 'uploads', tenant), 1);
      if (storeCase.name === 'sqlite') assert.deepEqual(tenantFiles(storeCase, tenant), [b.uploadId], "only bob's file is left");
      else assert.equal(await countRows(storeCase, 'upload_chunks', tenant), 1, "only bob's chunk is left");
      assert.equal(await store.uploads.deleteUser(tenant, 'alice'), 0, 'repeating it is harmless');
    });
  });
}
