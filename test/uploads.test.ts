/**
 * Uploads: `POST /v1/uploads` and `GET /v1/uploads/{uploadId}` through `app.request()` on a real
 * SQLite store (files under its folder), and the upload store itself on SQLite and, when
 * TEST_DATABASE_URL is set, PostgreSQL (chunks in the database).
 *
 *   npx tsx scripts/run-tests.ts test/uploads.test.ts
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { createErasureActivities } from '../activities/erasure';
import { createApp } from '../api/app';
import { createAuthenticator } from '../api/auth';
import { ErrorBody, Upload, UploadRefusedBody } from '../api/schemas';
import { UPLOAD_DEFAULTS } from '../config/defaults';
import { UploadNotFoundError } from '../db/uploads';
import { UploadTooLargeError, type Store, type UploadBytes } from '../db/types';
import { FakeErasure, FakeImports, fakeTemporalPing } from './support/fakes';
import { storeCases, uniqueId, type StoreCase } from './support/harness';

const FIXTURES = path.join(__dirname, 'fixtures', 'contacts');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A vCard file of about 700 KB: several 256 KiB database chunks, and over the general 16 KiB body limit. */
const LARGE_VCARD = Buffer.concat(Array.from({ length: 600 }, () => fixture('vcard-3.0.vcf')));

/** Rows of `table` for `tenant`, read straight from the store's database. */
async function countRows(storeCase: StoreCase, table: 'uploads' | 'upload_chunks', tenant: string): Promise<number> {
  if (storeCase.name === 'sqlite') {
    const db = new Sqlite(path.join(storeCase.env.DATA_DIR ?? '', 'contacts.db'), { readonly: true });
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).get(tenant) as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: storeCase.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant]);
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

/** Files (finished or `.part`) kept for `tenant` under the SQLite store's uploads folder. */
function tenantFiles(storeCase: StoreCase, tenant: string): string[] {
  const dir = path.join(storeCase.env.DATA_DIR ?? '', 'uploads', tenant);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/** Asserts that `tenant` has nothing stored: no row, no chunk, no file. */
async function assertNothingStored(storeCase: StoreCase, tenant: string): Promise<void> {
  assert.equal(await countRows(storeCase, 'uploads', tenant), 0, 'no uploads row is kept');
  assert.equal(await countRows(storeCase, 'upload_chunks', tenant), 0, 'no chunk is kept');
  assert.deepEqual(tenantFiles(storeCase, tenant), [], 'no file is kept');
}

/** Reads `bytes` back in ranges of awkward sizes, across chunk boundaries and past the end. */
async function assertReadsBack(source: UploadBytes, bytes: Buffer): Promise<void> {
  assert.equal(source.size, bytes.length, 'size is the stored length');
  // A byte at a time only for small files: 700,000 reads would only test patience.
  const steps = [...(bytes.length < 10_000 ? [1] : []), 4093, 65_536, 262_143, 262_145, 300_000];
  for (const step of steps) {
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length; offset += step) parts.push(await source.read(offset, step));
    assert.ok(Buffer.concat(parts).equals(bytes), `reading ${step} bytes at a time gives back the same bytes`);
  }
  const middle = Math.floor(bytes.length / 2);
  assert.ok(Buffer.from(await source.read(middle, 5000)).equals(bytes.subarray(middle, middle + 5000)), 'a range from the middle');
  assert.equal((await source.read(bytes.length, 100)).length, 0, 'nothing past the end');
  assert.ok(Buffer.from(await source.read(bytes.length - 3, 100)).equals(bytes.subarray(-3)), 'a short read at the end');
}

/** `bytes` as a body arriving in pieces of `size` bytes. */
async function* pieces(bytes: Uint8Array, size = 10_007): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

const vcardOnly = async () => 'vcard' as const;

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
      async function* broken() {
        yield csv.subarray(0, 100);
        throw new Error('the client went away');
      }
      await assert.rejects(store.uploads.save(tenant, 'alice', broken(), { maxBytes: 1 << 20, quotaBytes: UPLOAD_DEFAULTS.quotaBytes, detect: vcardOnly }), /went away/);
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

describe('POST /v1/uploads and GET /v1/uploads/{uploadId}', () => {
  const storeCase = storeCases()[0]!;
  let store: Store;
  before(async () => {
    store = await storeCase.open();
  });
  after(() => store?.close());

  /** The app over the store, with a fresh key for a fresh tenant (so what it stores is its own). */
  async function setup(options: { uploadMaxBytes?: number } = {}) {
    const tenant = uniqueId('t');
    const { key } = await store.apiKeys.create({ scope: 'tenant', tenant, name: uniqueId('uploads') });
    const app = createApp({
      imports: new FakeImports(),
      erasure: new FakeErasure(),
      store,
      auth: createAuthenticator({ keys: store.apiKeys, loopbackOnly: false }),
      temporal: fakeTemporalPing('ok'),
      rateLimit: { perSecond: 10_000, burst: 10_000 },
      uploadMaxBytes: options.uploadMaxBytes,
    });
    const request = async (method: string, url: string, init: { body?: RequestInit['body']; contentType?: string; key?: string } = {}) => {
      const headers: Record<string, string> = { authorization: `Bearer ${init.key ?? key}` };
      if (init.contentType) headers['content-type'] = init.contentType;
      const res = await app.request(url, { method, headers, body: init.body });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
    };
    return { tenant, key, app, request };
  }

  type Answer = Awaited<ReturnType<Awaited<ReturnType<typeof setup>>['request']>>;

  function uploaded(res: Answer, bytes: Buffer, format: 'vcard' | 'csv') {
    assert.equal(res.status, 201, `expected 201, got ${res.status}: ${JSON.stringify(res.body)}`);
    const upload = Upload.parse(res.body);
    assert.deepEqual(
      { bytes: upload.bytes, sha256: upload.sha256, format: upload.format },
      { bytes: bytes.length, sha256: sha256(bytes), format },
    );
    assert.equal(res.headers.get('location'), `/v1/uploads/${upload.uploadId}`);
    return upload;
  }

  function refused(res: Answer, status: number, code: string, message?: RegExp) {
    assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${JSON.stringify(res.body)}`);
    const { error } = ErrorBody.parse(res.body);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return res.body;
  }

  it('stores raw vCard and CSV bodies exactly, and reads them back', async () => {
    const { tenant, request } = await setup();
    const cases = [
      ['vcard-3.0.vcf', 'text/vcard', 'vcard'],
      ['vcard-2.1.vcf', 'text/x-vcard; charset=utf-8', 'vcard'],
      ['google.csv', 'text/csv', 'csv'],
      ['google-bom.csv', 'text/csv; charset=utf-8', 'csv'],
      ['outlook-windows-1252.csv', 'text/csv', 'csv'],
    ] as const;
    for (const [name, contentType, format] of cases) {
      const bytes = fixture(name);
      const upload = uploaded(await request('POST', '/v1/uploads?userId=alice', { body: bytes, contentType }), bytes, format);
      assert.equal(upload.userId, 'alice');
      const got = await request('GET', `/v1/uploads/${upload.uploadId}`);
      assert.equal(got.status, 200);
      assert.deepEqual(Upload.parse(got.body), upload, 'GET answers what POST did');
      const source = await store.uploads.open(tenant, upload.uploadId);
      try {
        await assertReadsBack(source, bytes);
      } finally {
        await source.close();
      }
    }
  });

  it('takes a file far over the general 16 KiB body limit', async () => {
    const { request } = await setup();
    uploaded(await request('POST', '/v1/uploads?userId=alice', { body: LARGE_VCARD, contentType: 'text/vcard' }), LARGE_VCARD, 'vcard');
  });

  it('stores the one file of a multipart/form-data body exactly', async () => {
    const { tenant, request } = await setup();
    const bytes = fixture('outlook.csv');
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'application/vnd.ms-excel' }), 'contacts.csv');
    const upload = uploaded(await request('POST', '/v1/uploads?userId=bob', { body: form }), bytes, 'csv');
    const source = await store.uploads.open(tenant, upload.uploadId);
    try {
      await assertReadsBack(source, bytes);
    } finally {
      await source.close();
    }
  });

  it('goes by the content when the declared type contradicts it', async () => {
    const { request } = await setup();
    const vcard = fixture('vcard-4.0.vcf');
    uploaded(await request('POST', '/v1/uploads?userId=alice', { body: vcard, contentType: 'text/csv' }), vcard, 'vcard');
    const csv = fixture('google-legacy.csv');
    uploaded(await request('POST', '/v1/uploads?userId=alice', { body: csv, contentType: 'text/vcard' }), csv, 'csv');
  });

  it('answers 413 past UPLOAD_MAX_BYTES, raw or multipart, and keeps nothing', async () => {
    const { tenant, request } = await setup({ uploadMaxBytes: 1100 });
    const bytes = fixture('vcard-2.1.vcf');
    assert.ok(bytes.length > 1100);
    const res = await request('POST', '/v1/uploads?userId=alice', { body: bytes, contentType: 'text/vcard' });
    refused(res, 413, 'payload_too_large', /1\.07 KiB/);
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'contacts.vcf');
    refused(await request('POST', '/v1/uploads?userId=alice', { body: form }), 413, 'payload_too_large');
    await assertNothingStored(storeCase, tenant);
    const small = fixture('vcard-4.0.vcf');
    assert.ok(small.length <= 1100);
    uploaded(await request('POST', '/v1/uploads?userId=alice', { body: small, contentType: 'text/vcard' }), small, 'vcard');
  });

  it('answers 413 over a real socket without reading the rest of a chunked body', async () => {
    const { tenant, key, app } = await setup({ uploadMaxBytes: 64 * 1024 });
    const server = await new Promise<ServerType>((resolve) => {
      const started: ServerType = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
    });
    try {
      const { port } = server.address() as AddressInfo;
      let sent = 0;
      // 64 MiB on offer, 64 KiB at a time: the answer must come long before it is all sent.
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 64 * 1024 * 1024) controller.close();
          else controller.enqueue(LARGE_VCARD.subarray(0, 64 * 1024));
          sent += 64 * 1024;
        },
      });
      const res = await fetch(`http://127.0.0.1:${port}/v1/uploads?userId=alice`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'text/vcard' },
        body,
        duplex: 'half',
      } as RequestInit);
      refused({ status: res.status, headers: res.headers, body: await res.json() }, 413, 'payload_too_large');
      assert.ok(sent < 16 * 1024 * 1024, `stopped reading early (${sent} bytes sent)`);
    } finally {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await assertNothingStored(storeCase, tenant);
  });

  it('answers 422 unknown_csv_layout naming the columns it expected, and keeps nothing', async () => {
    const { tenant, request } = await setup();
    const body = 'Full Name,Mail,Cell\nAda Lovelace,ada@example.com,+44 20 7946 0000\n';
    const res = await request('POST', '/v1/uploads?userId=alice', { body, contentType: 'text/csv' });
    refused(res, 422, 'unknown_csv_layout', /First Name.*Last Name/);
    const { error } = UploadRefusedBody.parse(res.body);
    assert.ok(error.expected?.some((layout) => layout.required.includes('Given Name')), 'expected lists every layout');
    assert.deepEqual(error.found, ['Full Name', 'Mail', 'Cell']);
    await assertNothingStored(storeCase, tenant);
  });

  it('refuses an empty file and a text/vcard body that is no contacts file, keeping nothing', async () => {
    const { tenant, request } = await setup();
    refused(await request('POST', '/v1/uploads?userId=alice', { body: '', contentType: 'text/vcard' }), 422, 'empty_upload');
    refused(await request('POST', '/v1/uploads?userId=alice', { body: 'hello', contentType: 'text/vcard' }), 422, 'invalid_vcard');
    await assertNothingStored(storeCase, tenant);
  });

  it('answers 415 to a content type it does not take', async () => {
    const { tenant, request } = await setup();
    const pdf = '%PDF-1.7\n';
    refused(await request('POST', '/v1/uploads?userId=alice', { body: pdf, contentType: 'application/pdf' }), 415, 'unsupported_media_type', /text\/vcard/);
    refused(await request('POST', '/v1/uploads?userId=alice', { body: pdf }), 415, 'unsupported_media_type');
    refused(await request('POST', '/v1/uploads?userId=alice', { body: '{}', contentType: 'application/json' }), 415, 'unsupported_media_type');
    await assertNothingStored(storeCase, tenant);
  });

  it('refuses a form with a field, two files or no file (422) and one that does not parse (400), keeping nothing', async () => {
    const { tenant, request } = await setup();
    const vcard = new Blob([fixture('vcard-4.0.vcf')]);
    const withField = new FormData();
    withField.append('file', vcard, 'a.vcf');
    withField.append('note', 'hi');
    const twoFiles = new FormData();
    twoFiles.append('file', vcard, 'a.vcf');
    twoFiles.append('other', vcard, 'b.vcf');
    const onlyField = new FormData();
    onlyField.append('note', 'hi');
    for (const form of [withField, twoFiles, onlyField]) {
      refused(await request('POST', '/v1/uploads?userId=alice', { body: form }), 422, 'one_file_expected');
    }
    const truncated = '--xyz\r\ncontent-disposition: form-data; name="file"; filename="a.vcf"\r\n\r\nBEGIN:VCARD\r\n';
    const contentType = 'multipart/form-data; boundary=xyz';
    refused(await request('POST', '/v1/uploads?userId=alice', { body: truncated, contentType }), 400, 'invalid_multipart');
    refused(await request('POST', '/v1/uploads?userId=alice', { body: 'x', contentType: 'multipart/form-data' }), 400, 'invalid_multipart');
    // A part header busboy cannot read (a control character): the pipeline throws its error into the body.
    const badHeader = Buffer.from(`--xyz\r\ncontent-disposition: form-data; name="a\x19b"\r\n\r\nx\r\n${truncated}END:VCARD\r\n\r\n--xyz--\r\n`, 'latin1');
    refused(await request('POST', '/v1/uploads?userId=alice', { body: badHeader, contentType }), 400, 'invalid_multipart');
    await assertNothingStored(storeCase, tenant);
  });

  it('answers 422 without a valid userId', async () => {
    const { request } = await setup();
    const body = fixture('vcard-4.0.vcf');
    refused(await request('POST', '/v1/uploads', { body, contentType: 'text/vcard' }), 422, 'validation_failed', /userId/);
    refused(await request('POST', '/v1/uploads?userId=%20bad', { body, contentType: 'text/vcard' }), 422, 'validation_failed', /userId/);
  });

  it("answers 404 for another tenant's upload id, as for one never issued", async () => {
    const mine = await setup();
    const theirs = await setup();
    const body = fixture('vcard-4.0.vcf');
    const upload = uploaded(await theirs.request('POST', '/v1/uploads?userId=alice', { body, contentType: 'text/vcard' }), body, 'vcard');
    refused(await mine.request('GET', `/v1/uploads/${upload.uploadId}`), 404, 'upload_not_found');
    refused(await mine.request('GET', '/v1/uploads/upl_neverIssued00000000000'), 404, 'upload_not_found');
    assert.equal((await theirs.request('GET', `/v1/uploads/${upload.uploadId}`)).status, 200);
  });

  it("is erased with the user's contacts", async () => {
    const { tenant, request } = await setup();
    const body = fixture('vcard-3.0.vcf');
    const alice = uploaded(await request('POST', '/v1/uploads?userId=alice', { body, contentType: 'text/vcard' }), body, 'vcard');
    const bob = uploaded(await request('POST', '/v1/uploads?userId=bob', { body, contentType: 'text/vcard' }), body, 'vcard');
    await createErasureActivities({ store }).deleteUserData({ tenant, userId: 'alice' });
    refused(await request('GET', `/v1/uploads/${alice.uploadId}`), 404, 'upload_not_found');
    assert.equal((await request('GET', `/v1/uploads/${bob.uploadId}`)).status, 200, "bob's upload stays");
    assert.deepEqual(tenantFiles(storeCase, tenant), [bob.uploadId], "alice's file is gone");
  });
});
