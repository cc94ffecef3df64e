/**
 * The keyring that encrypts every payload Temporal stores for us (see `encryption/payload-codec.ts`),
 * from `PAYLOAD_ENCRYPTION_KEYS` or the key file under `DATA_DIR` (both in the format
 * `parsePayloadKeys` of `config/parse.ts` reads).
 *
 * Keys are named, newest first: new payloads are encrypted with the first key, and a payload names
 * the key it was encrypted with, so histories written before a rotation still decode as long as
 * their key stays in the ring. Removing a key makes every payload encrypted with it unreadable for
 * good (crypto-shredding).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parsePayloadKeys, type PayloadKeyring } from '../config/parse';

/** The file the embedded default keeps its keyring in, under `DATA_DIR`. */
export const PAYLOAD_KEY_FILE = 'payload.keys';

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
