/**
 * The codec server: Temporal's codec protocol through `app.request()` (encode, decode, CORS for the
 * Web UI, operator keys, refusals), who may use it, and the `temporal` CLI decoding a real import's
 * history through it exactly as `docs/operations.md` shows.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { createAuthenticator } from '../api/auth';
import { createCodecApp } from '../api/codec';
import { createTemporalImports, type Imports } from '../api/imports';
import { isLoopbackHost } from '../api/loopback';
import { dataConverter } from '../encryption/data-converter';
import { ENCRYPTED_ENCODING, createPayloadCodec } from '../encryption/payload-codec';
import { parsePayloadKeys } from '../config/parse';
import { openStore, type Store } from '../db';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import { createImportWorker } from '../worker/create-worker';
import { NAMESPACE, temporal, temporalAddress, TEST_TUNING, testSealer, uniqueId, waitFor, workflowBundle } from './support/harness';
import { readProviderSettings } from '../providers';

const ROOT = path.resolve(__dirname, '..');
const OPERATIONS_DOC = path.join(ROOT, 'docs', 'operations.md');
const run = promisify(execFile);

const UI_ORIGIN = 'http://localhost:8233';
const keyring = parsePayloadKeys('test', `codec-test:${Buffer.alloc(32, 21).toString('base64')}`);
const codec = createPayloadCodec(keyring);

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
const fromB64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64').toString('utf8');
/** A payload as the CLI and the Web UI send it: proto3 JSON, bytes in base64. */
const jsonPayload = (value: unknown): JsonPayload => {
  const payload: Payload = defaultPayloadConverter.toPayload(value);
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
};

const tmpDirs: string[] = [];
/** A fresh SQLite store in a directory of its own, removed after the file's tests. */
async function freshStore(): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-codec-'));
  tmpDirs.push(dir);
  return openStore({ kind: 'sqlite', file: path.join(dir, 'contacts.db') });
}

/**
 * The codec server as `api/main.ts` builds it: the store's operator keys decide, and with none it
 * is open only when the API is loopback-only.
 */
function codecApp(store: Store, loopbackOnly = true) {
  const auth = createAuthenticator({ keys: store.apiKeys, loopbackOnly, keyCountCacheMs: 0 });
  return createCodecApp({
    codec,
    authorize: (authorization, origin) => auth.authenticate(authorization, 'operator', origin),
    corsOrigins: [UI_ORIGIN, 'http://127.0.0.1:8233'],
  });
}

/** The store most tests share, with one operator key and one tenant key. */
let store: Store;
let OPERATOR_KEY: string;
let TENANT_KEY: string;
before(async () => {
  store = await freshStore();
  OPERATOR_KEY = (await store.apiKeys.create({ scope: 'operator', name: 'codec-test' })).key;
  TENANT_KEY = (await store.apiKeys.create({ scope: 'tenant', tenant: 'acme', name: 'codec-test' })).key;
});
after(async () => {
  await store?.close();
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const post = (app: ReturnType<typeof codecApp>, action: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request(`/codec/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR_KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function errorOf(res: Response, status: number, code: string): Promise<string> {
  const body = (await res.json()) as { error?: { code?: string; message?: string } };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error?.code, code, JSON.stringify(body));
  assert.equal(typeof body.error?.message, 'string');
  return body.error!.message!;
}

describe('the codec server protocol', () => {
  let app: ReturnType<typeof codecApp>;
  before(() => {
    app = codecApp(store);
  });

  it('encodes and decodes payloads in the codec server JSON shape', async () => {
    const input = { userId: 'user-42', tuning: { pageSize: 100 } };
    const encodeRes = await post(app, 'encode', { payloads: [jsonPayload(input), jsonPayload('second')] });
    assert.equal(encodeRes.status, 200);
    const encoded = (await encodeRes.json()) as { payloads: JsonPayload[] };
    assert.equal(encoded.payloads.length, 2);
    assert.equal(fromB64(encoded.payloads[0]!.metadata.encoding), ENCRYPTED_ENCODING);
    assert.equal(fromB64(encoded.payloads[0]!.metadata['encryption-key-id']), 'codec-test');
    assert.ok(!fromB64(encoded.payloads[0]!.data).includes('user-42'), 'the encoded payload is not readable');

    const decodeRes = await post(app, 'decode', encoded, { 'x-namespace': NAMESPACE });
    assert.equal(decodeRes.status, 200);
    const decoded = (await decodeRes.json()) as { payloads: JsonPayload[] };
    assert.deepEqual(decoded.payloads, [jsonPayload(input), jsonPayload('second')]);
  });

  it('decodes what the service encrypted, and passes through payloads that are not encrypted', async () => {
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload({ saved: 7 })]);
    const body = {
      payloads: [
        { metadata: { encoding: b64(ENCRYPTED_ENCODING), 'encryption-key-id': b64('codec-test') }, data: Buffer.from(encrypted!.data!).toString('base64') },
        jsonPayload('plain'),
      ],
    };
    const res = await post(app, 'decode', body);
    assert.equal(res.status, 200);
    const { payloads } = (await res.json()) as { payloads: JsonPayload[] };
    assert.deepEqual(JSON.parse(fromB64(payloads[0]!.data)), { saved: 7 });
    assert.deepEqual(payloads[1], jsonPayload('plain'));
  });

  it('takes "payloads": null as no payloads, as the CLI sends it for a query without arguments', async () => {
    for (const action of ['encode', 'decode']) {
      const res = await post(app, action, { payloads: null });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { payloads: [] });
    }
  });

  it('answers the Web UI’s CORS preflight without a key, allowing X-Namespace', async () => {
    for (const origin of [UI_ORIGIN, 'http://127.0.0.1:8233']) {
      const res = await app.request('/codec/decode', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',');
      for (const header of ['content-type', 'x-namespace', 'authorization']) assert.ok(allowed.includes(header), `allows ${header}`);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    }
    const decoded = await post(app, 'decode', { payloads: [] }, { origin: UI_ORIGIN });
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('access-control-allow-origin'), UI_ORIGIN, 'the UI may read the answer');
  });

  it('gives other origins no CORS permission', async () => {
    const res = await app.request('/codec/decode', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    const post_ = await post(app, 'decode', { payloads: [] }, { origin: 'https://evil.example' });
    assert.equal(post_.headers.get('access-control-allow-origin'), null);
  });

  it('answers 401 with a Bearer challenge without an operator key or with a wrong one', async () => {
    const missing = await app.request('/codec/decode', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [] }),
    });
    assert.match(await errorOf(missing, 401, 'unauthenticated'), /Authorization: Bearer <operator key>/);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+"$/);

    const wrong = await post(app, 'decode', { payloads: [] }, { authorization: `Bearer ${OPERATOR_KEY.slice(0, -2)}xx` });
    await errorOf(wrong, 401, 'unauthenticated');
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
    const notBearer = await post(app, 'encode', { payloads: [] }, { authorization: `Basic ${b64(`x:${OPERATOR_KEY}`)}` });
    await errorOf(notBearer, 401, 'unauthenticated');
  });

  it('leaves a payload encrypted with a key it does not have as it is, decodes the rest, and counts it', async (t) => {
    const warnings = t.mock.method(console, 'warn', () => undefined);
    const other = createPayloadCodec(parsePayloadKeys('old', `k20200101:${Buffer.alloc(32, 99).toString('base64')}`));
    const [old] = await other.encode([defaultPayloadConverter.toPayload('shredded')]);
    const shredded = { metadata: { encoding: b64(ENCRYPTED_ENCODING), 'encryption-key-id': b64('k20200101') }, data: Buffer.from(old!.data!).toString('base64') };
    const [ours] = await codec.encode([defaultPayloadConverter.toPayload('still readable')]);
    const res = await post(app, 'decode', { payloads: [shredded, { metadata: { encoding: b64(ENCRYPTED_ENCODING), 'encryption-key-id': b64(String.fromCharCode(...ours!.metadata!['encryption-key-id']!)) }, data: Buffer.from(ours!.data!).toString('base64') }] });
    assert.equal(res.status, 200, 'one undecodable payload does not fail the page');
    assert.equal(res.headers.get('x-undecodable-payloads'), '1');
    const body = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    assert.deepEqual(body.payloads[0], shredded, 'the shredded payload comes back unchanged, still encrypted');
    assert.equal(Buffer.from(body.payloads[1]!.data, 'base64').toString('utf8'), '"still readable"');
    assert.match(String(warnings.mock.calls[0]?.arguments[0]), /key "k20200101", which is not in the keyring/);
  });

  it('refuses bodies of another shape, bodies over the limit and other methods', async () => {
    await errorOf(await post(app, 'decode', '{not json'), 400, 'invalid_json');
    await errorOf(await post(app, 'decode', { payloads: 'none' }), 400, 'invalid_request');
    await errorOf(await post(app, 'decode', [jsonPayload('bare')]), 400, 'invalid_request');
    await errorOf(await post(app, 'decode', { payloads: [{ data: 'not base64!' }] }), 400, 'invalid_request');
    const big = JSON.stringify({ payloads: [{ metadata: {}, data: 'A'.repeat(5 * 1024 * 1024) }] });
    await errorOf(await post(app, 'decode', big), 413, 'payload_too_large');
    const get = await app.request('/codec/decode', { headers: { authorization: `Bearer ${OPERATOR_KEY}` } });
    await errorOf(get, 405, 'method_not_allowed');
    assert.equal(get.headers.get('allow'), 'OPTIONS, POST');
  });
});

describe('who may use the codec server', () => {
  const decodeNothing = (app: ReturnType<typeof codecApp>, authorization?: string) =>
    app.request('/codec/decode', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ payloads: [] }),
    });

  it('is open without a key while no key at all exists, only when the API listens on loopback', async () => {
    const keyless = await freshStore();
    try {
      assert.equal((await decodeNothing(codecApp(keyless, true))).status, 200, 'npm start: the Web UI sends no key');
      assert.equal((await decodeNothing(codecApp(keyless, false))).status, 401, 'on a public address it is closed');
    } finally {
      await keyless.close();
    }
  });

  it('takes operator keys only once one exists, even on loopback: not tenant keys, not revoked ones', async () => {
    const app = codecApp(store, true);
    assert.equal((await decodeNothing(app)).status, 401, 'no key');
    assert.equal((await decodeNothing(app, `Bearer ${OPERATOR_KEY}`)).status, 200, 'the operator key');
    assert.equal((await decodeNothing(app, `Bearer ${TENANT_KEY}`)).status, 401, 'a tenant key opens no other tenant’s history');
    const { key, record } = await store.apiKeys.create({ scope: 'operator', name: 'to-revoke' });
    assert.equal((await decodeNothing(app, `Bearer ${key}`)).status, 200);
    await store.apiKeys.revoke(record.id);
    assert.equal((await decodeNothing(app, `Bearer ${key}`)).status, 401, 'a revoked operator key');
  });

  it('knows the loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '']) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});

/** Fenced shell lines of docs/operations.md that pass `--codec-endpoint`. */
function documentedCodecCommands(): string[] {
  const doc = fs.readFileSync(OPERATIONS_DOC, 'utf8');
  return [...doc.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)]
    .flatMap((m) => (m[1] ?? '').split('\n'))
    .map((line) => line.trim())
    .filter((line) => line.startsWith('temporal ') && line.includes('--codec-endpoint'));
}

/** Shell-style words: whitespace splits, single or double quotes group. */
function words(command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

describe('the temporal CLI through the codec server, as docs/operations.md shows it', () => {
  const TENANT = 'default';
  let provider: DemoProvider;
  let contacts: Store;
  let worker: Worker;
  let workerRun: Promise<void>;
  let imports: Imports;
  let server: ServerType;
  let codecUrl: string;

  before(async () => {
    const { client, nativeConnection } = await temporal();
    const converter = dataConverter(keyring);
    provider = await startDemoProvider({ contacts: 300 });
    contacts = await freshStore();
    const taskQueue = uniqueId('codec-cli');
    worker = await createImportWorker({
      connection: nativeConnection,
      namespace: NAMESPACE,
      taskQueue,
      workflowBundle: await workflowBundle(),
      dataConverter: converter,
      deps: { store: contacts, sealer: testSealer, sources: { providers: readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: provider.url }) } },
    });
    workerRun = worker.run();
    imports = createTemporalImports({
      client: new Client({ connection: client.connection, namespace: NAMESPACE, dataConverter: converter }),
      sealer: testSealer,
      taskQueue,
      tuning: TEST_TUNING,
    });
    const app = codecApp(store);
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    codecUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/codec`;
  });

  after(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await provider?.close();
    await contacts?.close();
  });

  /** Runs the CLI asynchronously: the codec server it calls lives in this process. */
  async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string }> {
    const argv = [...args, '--address', await temporalAddress(), '--namespace', NAMESPACE, '--command-timeout', '10s'];
    try {
      const { stdout } = await run(resolveTemporalCli(), argv, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, out: stdout };
    } catch (err) {
      const { code, stdout, stderr } = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof code === 'number' ? code : 1, out: `${stdout ?? ''}${stderr ?? ''}` };
    }
  }

  async function completedImport(userId: string) {
    const { view } = await imports.start(TENANT, { userId, source: { provider: 'google-people', accessToken: 'demo-token' } });
    await waitFor(async () => (await imports.get(TENANT, view.importId)).state === 'completed', 'the import to complete', 30_000);
    return view;
  }

  it('shows the decoded input with the documented `temporal workflow show --codec-endpoint` command', async () => {
    const [documented, ...more] = documentedCodecCommands();
    assert.ok(documented, 'docs/operations.md shows a temporal command with --codec-endpoint');
    assert.equal(more.length, 0, 'one codec command is documented (this test runs exactly it)');
    const userId = uniqueId('codec-cli');
    const view = await completedImport(userId);

    // The doc's placeholders, and its endpoint pointed at this test's server instead of port 3000.
    const filled = documented
      .replaceAll('<tenant>', TENANT)
      .replaceAll('<user-id>', userId)
      .replaceAll('<operator-key>', OPERATOR_KEY)
      .replaceAll('http://127.0.0.1:3000/codec', codecUrl);
    assert.doesNotMatch(filled, /<[a-z-]+>/, `every placeholder of \`${documented}\` is filled`);
    const [program, ...args] = words(filled);
    assert.equal(program, 'temporal');
    assert.equal(args[args.indexOf('--workflow-id') + 1], view.workflowId, 'the documented workflow ID is the import’s');

    const decoded = await cli(args);
    assert.equal(decoded.code, 0, decoded.out);
    assert.match(decoded.out, new RegExp(`input\\[0\\]\\.userId: +${userId}`), 'the input is shown decoded');
    assert.match(decoded.out, /input\[0\]\.tuning\.pageSize: +100/);
    assert.match(decoded.out, /upsertedMemo\.fields\.progress\.saved: +300/, 'the memo is shown decoded');
    assert.match(decoded.out, new RegExp(`userMetadata\\.summary: .*${userId}`), 'the summary is shown decoded');
    assert.doesNotMatch(decoded.out, /binary\/encrypted|YmluYXJ5L2VuY3J5cHRlZA/);

    // The same command without the codec server: only ciphertext.
    const withoutCodec = args.slice(0, args.indexOf('--codec-endpoint'));
    const encrypted = await cli(withoutCodec);
    assert.equal(encrypted.code, 0, encrypted.out);
    assert.doesNotMatch(encrypted.out, new RegExp(`userId: +${userId}`));
    assert.match(encrypted.out, /YmluYXJ5L2VuY3J5cHRlZA|binary\/encrypted/, 'payloads show as binary/encrypted');

    // A wrong key gets nothing decoded.
    const wrongKey = args.map((arg) => (arg === `Bearer ${OPERATOR_KEY}` ? 'Bearer wrong' : arg));
    const refused = await cli(wrongKey);
    assert.notEqual(refused.code, 0, 'the CLI fails with a wrong operator key');
    assert.doesNotMatch(refused.out, new RegExp(`userId: +${userId}`));
  });

  it('decodes every command once TEMPORAL_CODEC_ENDPOINT and TEMPORAL_CODEC_AUTH are exported', async () => {
    const userId = uniqueId('codec-env');
    const view = await completedImport(userId);
    const env = { ...process.env, TEMPORAL_CODEC_ENDPOINT: codecUrl, TEMPORAL_CODEC_AUTH: `Bearer ${OPERATOR_KEY}` };
    const described = await cli(['workflow', 'describe', '--workflow-id', view.workflowId], env);
    assert.equal(described.code, 0, described.out);
    assert.match(described.out, /"saved":300/, 'the result and memo are shown decoded');
    assert.match(described.out, new RegExp(`StaticSummary +"Import google-people contacts for user ${userId}`));
    assert.doesNotMatch(described.out, /binary\/encrypted/);
  });
});
