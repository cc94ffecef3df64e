/**
 * Uploads over HTTP: `POST /v1/uploads` and `GET /v1/uploads/{uploadId}` through `app.request()`
 * (and one real socket) on a real SQLite store. The store itself is in test/upload-store.test.ts.
 *
 *   npx tsx scripts/run-tests.ts test/uploads-api.test.ts
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { createErasureActivities } from '../activities/erasure';
import { createApp } from '../api/app';
import { createAuthenticator } from '../api/auth';
import { ErrorBody, Upload, UploadRefusedBody } from '../api/schemas';
import type { Store } from '../db/types';
import { FakeErasure, FakeImports, fakeTemporalPing } from './support/fakes';
import { storeCases, uniqueId } from './support/harness';
import { assertNothingStored, assertReadsBack, fixture, LARGE_VCARD, sha256, tenantFiles } from './support/uploads';

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
