/**
 * The keyring that encrypts every payload Temporal stores for us (see `encryption/payload-codec.ts`).
 *
 * Keys are named, newest first: new payloads are encrypted with the first key, and a payload names
 * the key it was encrypted with, so histories written before a rotation still decode as long as
 * their key stays in the ring. Removing a key makes every payload encrypted with it unreadable for
 * good (crypto-shredding).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/parse';

/** One named AES-256 key. */
export interface PayloadKey {
  /** Written next to every payload it encrypts (`encryption-key-id`); never reused for another key. */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

/** Keys newest first: never empty; the first one encrypts. */
export type PayloadKeyring = readonly [PayloadKey, ...PayloadKey[]];

/** The file the embedded default keeps its keyring in, under `DATA_DIR`. */
export const PAYLOAD_KEY_FILE = 'payload.keys';

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HOW_TO_MAKE_ONE = 'make a key with `openssl rand -base64 32`';

/**
 * Parses `id:base64key` entries, newest first, separated by commas or new lines (blank lines and
 * `#` comments are skipped, for the key file). `source` names where they came from in errors.
 * Throws {@link ConfigError} saying what to fix; the message never shows a key.
 */
export function parsePayloadKeys(source: string, raw: string): PayloadKeyring {
  const entries = raw
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'));
  const keys: PayloadKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const where = `${source}, entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ConfigError(`${where} is not "id:base64key" (${HOW_TO_MAKE_ONE}, and name it, e.g. k20250101:…)`);
    const id = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      throw new ConfigError(`${where}: the key id "${id.slice(0, 40)}" must be 1 to 32 letters, digits, "_" or "-"`);
    }
    const key = Buffer.from(encoded, 'base64');
    if (!BASE64.test(encoded) || key.length !== 32) {
      throw new ConfigError(`${where}: key "${id}" must be 32 random bytes in base64 (${HOW_TO_MAKE_ONE})`);
    }
    if (keys.some((other) => other.id === id)) {
      throw new ConfigError(`${where}: the key id "${id}" appears twice; every key needs its own id`);
    }
    keys.push({ id, key });
  }
  const [newest, ...older] = keys;
  if (!newest) throw new ConfigError(`${source} holds no key: give at least one "id:base64key" (${HOW_TO_MAKE_ONE})`);
  return [newest, ...older];
}

/** `k<yyyymmdd>` (UTC): a key id that says when the key was made. */
export function datedKeyId(now: Date = new Date()): string {
  return `k${now.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/**
 * Creates `file` holding one new key, unless it exists. The key is written to a private temporary
 * file first and then hard-linked into place: the link either succeeds whole or fails because the
 * file exists, so processes starting together agree on one key and none reads a half-written file.
 */
function createKeyFileOnce(file: string): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temporary, `${datedKeyId()}:${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  try {
    fs.linkSync(temporary, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/**
 * The keyring from `PAYLOAD_ENCRYPTION_KEYS` (already parsed into `config.payloadKeys`), or else
 * from `<dataDir>/payload.keys`, created with one key on first use (mode 0600). The file suits one
 * machine; processes on several machines must share `PAYLOAD_ENCRYPTION_KEYS`.
 */
export function loadPayloadKeyring(config: { payloadKeys: PayloadKeyring | undefined; dataDir: string }): PayloadKeyring {
  if (config.payloadKeys) return config.payloadKeys;
  const file = path.join(config.dataDir, PAYLOAD_KEY_FILE);
  fs.mkdirSync(config.dataDir, { recursive: true });
  if (!fs.existsSync(file)) createKeyFileOnce(file);
  return parsePayloadKeys(file, fs.readFileSync(file, 'utf8'));
}
