/**
 * Payload encryption without Temporal: the AES-256-GCM codec (round trip, key rotation, what an
 * operator reads when a key is missing), the keyring's parsing and its key file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { ConfigError, loadConfig } from '../config';
import { parsePayloadKeys, type PayloadKeyring } from '../config/parse';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA, PayloadDecryptionError, createPayloadCodec } from '../encryption/payload-codec';
import { PAYLOAD_KEY_FILE, datedKeyId, loadPayloadKeyring } from '../encryption/payload-keys';

const ROOT = path.resolve(__dirname, '..');
const base64Key = (fill: number) => Buffer.alloc(32, fill).toString('base64');
const OLD = `k20240101:${base64Key(1)}`;
const NEW = `k20250101:${base64Key(2)}`;

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);

/** Asserts that `fn` throws a {@link ConfigError} whose message matches every pattern. */
function assertConfigError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    for (const pattern of patterns) assert.match(err.message, pattern);
    return true;
  });
}

const tmpDirs: string[] = [];
function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-payload-keys-'));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the payload codec', () => {
  const keyring = parsePayloadKeys('test', NEW);
  const codec = createPayloadCodec(keyring);

  it('round-trips payloads, metadata included, and shows nothing of them encrypted', async () => {
    const input = { userId: 'user-42', source: { accessToken: 'sealed-token' }, saved: 1234 };
    const original = [json(input), json('Grace Hopper'), json(null)];
    const encoded = await codec.encode(original);
    assert.equal(encoded.length, 3);
    for (const payload of encoded) {
      assert.deepEqual(Object.keys(payload.metadata ?? {}).sort(), ['encoding', KEY_ID_METADATA].sort());
      assert.equal(text(payload.metadata?.encoding), ENCRYPTED_ENCODING);
      assert.equal(text(payload.metadata?.[KEY_ID_METADATA]), 'k20250101');
      for (const secret of ['user-42', 'sealed-token', '1234', 'Grace', 'json/plain']) {
        assert.ok(!text(payload.data).includes(secret), `"${secret}" is not readable in the encrypted payload`);
      }
    }
    const decoded = await codec.decode(encoded);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded[0]!), input);
    assert.equal(defaultPayloadConverter.fromPayload(decoded[1]!), 'Grace Hopper');
    assert.equal(defaultPayloadConverter.fromPayload(decoded[2]!), null);
    assert.equal(text(decoded[0]!.metadata?.encoding), 'json/plain', 'the original encoding comes back');
  });

  it('uses a fresh IV for every payload', async () => {
    const [a, b] = await codec.encode([json('same'), json('same')]);
    assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
  });

  it('passes through payloads it did not encrypt', async () => {
    const plain = json({ legacy: true });
    const [decoded] = await codec.decode([plain]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), { legacy: true });
  });

  it('decodes what an older key encrypted once a new key is prepended, and encrypts with the new key', async () => {
    const before = createPayloadCodec(parsePayloadKeys('before', OLD));
    const [old] = await before.encode([json('written before the rotation')]);
    assert.equal(text(old!.metadata?.[KEY_ID_METADATA]), 'k20240101');

    const rotated = createPayloadCodec(parsePayloadKeys('after', `${NEW},${OLD}`));
    const [decoded] = await rotated.decode([old!]);
    assert.equal(defaultPayloadConverter.fromPayload(decoded!), 'written before the rotation');
    const [fresh] = await rotated.encode([json('written after the rotation')]);
    assert.equal(text(fresh!.metadata?.[KEY_ID_METADATA]), 'k20250101', 'new payloads carry the newest key id');
  });

  it('names the missing key id when a payload was encrypted with a key no longer in the keyring', async () => {
    const [old] = await createPayloadCodec(parsePayloadKeys('before', OLD)).encode([json('shredded')]);
    await assert.rejects(codec.decode([old!]), (err: unknown) => {
      assert.ok(err instanceof PayloadDecryptionError, `expected a PayloadDecryptionError, got ${String(err)}`);
      assert.match(err.message, /key "k20240101", which is not in the keyring \(it has k20250101\)/);
      assert.match(err.message, /add "k20240101" back to PAYLOAD_ENCRYPTION_KEYS/);
      return true;
    });
  });

  it('refuses a payload that was altered, or a key replaced under the same id', async () => {
    const [encoded] = await codec.encode([json('intact')]);
    const tampered = Buffer.from(encoded!.data!);
    tampered[20] = tampered[20]! ^ 1;
    await assert.rejects(codec.decode([{ ...encoded!, data: tampered }]), /does not decrypt with the key of that id/);
    const impostor = createPayloadCodec(parsePayloadKeys('impostor', `k20250101:${base64Key(3)}`));
    await assert.rejects(impostor.decode([encoded!]), /key "k20250101" does not decrypt/);
  });
});

describe('the payload keyring', () => {
  it('parses id:base64 pairs newest first, from commas or lines, skipping blanks and comments', () => {
    const keyring = parsePayloadKeys('PAYLOAD_ENCRYPTION_KEYS', ` ${NEW} , ${OLD} `);
    assert.deepEqual(
      keyring.map((k) => k.id),
      ['k20250101', 'k20240101'],
    );
    assert.deepEqual(keyring[0].key, Buffer.alloc(32, 2));
    const fromFile = parsePayloadKeys('payload.keys', `# newest first\n${NEW}\n\n${OLD}\n`);
    assert.deepEqual(fromFile, keyring);
  });

  it('refuses bad entries with a message that says what to fix, never showing a key', () => {
    const name = 'PAYLOAD_ENCRYPTION_KEYS';
    assertConfigError(() => parsePayloadKeys(name, ''), /^PAYLOAD_ENCRYPTION_KEYS holds no key/, /openssl rand -base64 32/);
    assertConfigError(() => parsePayloadKeys(name, base64Key(1)), /entry 1 is not "id:base64key"/);
    assertConfigError(() => parsePayloadKeys(name, `${NEW},bad id:${base64Key(1)}`), /entry 2: the key id "bad id" must be 1 to 32 letters/);
    assertConfigError(() => parsePayloadKeys(name, `${'x'.repeat(33)}:${base64Key(1)}`), /must be 1 to 32/);
    assertConfigError(() => parsePayloadKeys(name, `short:${Buffer.alloc(16).toString('base64')}`), /key "short" must be 32 random bytes in base64/);
    assertConfigError(() => parsePayloadKeys(name, 'k1:not base64!'), /key "k1" must be 32 random bytes/);
    assertConfigError(() => parsePayloadKeys(name, `k1:${base64Key(1)},k1:${base64Key(2)}`), /key id "k1" appears twice/);
    const secret = `short:${Buffer.alloc(16, 5).toString('base64')}`;
    assert.throws(() => parsePayloadKeys(name, secret), (err: Error) => !err.message.includes(secret.slice(6)));
  });

  it('is read from PAYLOAD_ENCRYPTION_KEYS by loadConfig, which refuses a bad one at start', () => {
    assert.deepEqual(loadConfig({ PAYLOAD_ENCRYPTION_KEYS: `${NEW},${OLD}` }).payloadKeys?.map((k) => k.id), ['k20250101', 'k20240101']);
    assert.equal(loadConfig({ PAYLOAD_ENCRYPTION_KEYS: '' }).payloadKeys, undefined);
    assertConfigError(() => loadConfig({ PAYLOAD_ENCRYPTION_KEYS: 'nope' }), /^PAYLOAD_ENCRYPTION_KEYS, entry 1/);
  });

  it('uses PAYLOAD_ENCRYPTION_KEYS as given, writing no key file', () => {
    const dataDir = freshDir();
    const payloadKeys: PayloadKeyring = parsePayloadKeys('env', NEW);
    assert.equal(loadPayloadKeyring({ dataDir, payloadKeys }), payloadKeys);
    assert.ok(!fs.existsSync(path.join(dataDir, PAYLOAD_KEY_FILE)));
  });

  it('creates the key file once, owner-only, with one dated key, and reuses it', () => {
    const dataDir = path.join(freshDir(), 'nested', 'data');
    const first = loadPayloadKeyring({ dataDir, payloadKeys: undefined });
    const file = path.join(dataDir, PAYLOAD_KEY_FILE);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'only its owner may read the keys');
    assert.equal(first.length, 1);
    assert.equal(first[0].id, datedKeyId());
    assert.match(first[0].id, /^k\d{8}$/);
    assert.equal(first[0].key.length, 32);
    assert.deepEqual(loadPayloadKeyring({ dataDir, payloadKeys: undefined }), first, 'a second process gets the same keys');
    assert.deepEqual(fs.readdirSync(dataDir), [PAYLOAD_KEY_FILE], 'no temporary file is left behind');
  });

  it('gives processes that start together the same key', async () => {
    const dataDir = freshDir();
    const script = `const { loadPayloadKeyring } = require(${JSON.stringify(path.join(ROOT, 'encryption', 'payload-keys.ts'))});
      const [key] = loadPayloadKeyring({ dataDir: process.argv[1], payloadKeys: undefined });
      process.stdout.write(key.id + ':' + key.key.toString('base64'));`;
    const outputs = await Promise.all(
      Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        return new Promise<string>((resolve, reject) =>
          child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`a key loader exited with ${code}`)))),
        );
      }),
    );
    assert.equal(new Set(outputs).size, 1, 'every process read the same key');
    assert.equal(fs.readFileSync(path.join(dataDir, PAYLOAD_KEY_FILE), 'utf8').trim(), outputs[0]);
  });

  it('refuses a corrupt key file, naming it', () => {
    const dataDir = freshDir();
    fs.writeFileSync(path.join(dataDir, PAYLOAD_KEY_FILE), 'garbage\n');
    assertConfigError(() => loadPayloadKeyring({ dataDir, payloadKeys: undefined }), /payload\.keys, entry 1 is not "id:base64key"/);
  });
});
