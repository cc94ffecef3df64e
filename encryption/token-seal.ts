/**
 * Access tokens are secrets. The API seals them (AES-256-GCM) before they enter workflow input, so
 * workflow history, which operators read in the Web UI and CLI, only ever holds ciphertext; the
 * worker opens them inside the activity that calls the provider.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AppConfig } from '../config';
import { ConfigError } from '../config/parse';

/** `v2.<keyId>.<iv>.<ciphertext>.<tag>`: what {@link TokenSealer.seal} writes and {@link TokenSealer.open} reads. */
const VERSION = 'v2';

export interface TokenSealer {
  /** Names this sealer's key without revealing it (see {@link tokenKeyId}). */
  readonly keyId: string;
  seal(token: string): string;
  /** Throws {@link SealedTokenError} when the value was not sealed with this key. */
  open(sealed: string): string;
}

/**
 * Why a sealed value does not open. `other-key`: it was sealed with a key this process lacks, a
 * fault of this process's configuration that another process may not have; `malformed`: no key
 * would open it.
 */
export class SealedTokenError extends Error {
  override name = 'SealedTokenError';
  constructor(
    message: string,
    readonly reason: 'other-key' | 'malformed' = 'malformed',
  ) {
    super(message);
  }
}

/** The first 8 hex digits of the key's SHA-256: names a key in messages and sealed values, reveals nothing usable. */
export function tokenKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** The parts of a sealed value, or `undefined` when it is not one. */
function fieldsOf(sealed: string): { sealedWith: string; iv: string; ciphertext: string; tag: string } | undefined {
  const [version, sealedWith, iv, ciphertext, tag, ...rest] = sealed.split('.');
  if (version !== VERSION || rest.length > 0 || !sealedWith || !iv || !ciphertext || !tag) return undefined;
  return { sealedWith, iv, ciphertext, tag };
}

export function createTokenSealer(key: Buffer): TokenSealer {
  if (key.length !== 32) throw new ConfigError('The token key must be 32 bytes');
  const keyId = tokenKeyId(key);
  const otherKey = (sealedWith: string) =>
    new SealedTokenError(
      `The access token was sealed with another key (key ${sealedWith}); this process has key ${keyId}: ` +
        'every API and worker process must share TOKEN_ENCRYPTION_KEY (or, on one machine, DATA_DIR/token.key)',
      'other-key',
    );
  return {
    keyId,
    seal(token) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
      return [VERSION, keyId, iv, ciphertext, cipher.getAuthTag()]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.');
    },
    open(sealed) {
      const fields = fieldsOf(sealed);
      if (!fields) throw new SealedTokenError('The sealed access token is malformed');
      const { sealedWith, iv, ciphertext, tag } = fields;
      if (sealedWith !== keyId) throw otherKey(sealedWith);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        // Sealed with our key id yet it does not open: altered, not a key we lack.
        throw new SealedTokenError('The sealed access token does not open: it was altered');
      }
    },
  };
}

/**
 * The key from `TOKEN_ENCRYPTION_KEY`, or else from `<dataDir>/token.key`, created on first use.
 * The file suits one machine; processes on several machines must share `TOKEN_ENCRYPTION_KEY`.
 */
export function loadTokenKey(config: Pick<AppConfig, 'tokenKey' | 'dataDir'>): Buffer {
  if (config.tokenKey) return Buffer.from(config.tokenKey, 'base64');
  const file = path.join(config.dataDir, 'token.key');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    // 'wx' fails if the file exists, so two processes starting together agree on one key.
    fs.writeFileSync(file, randomBytes(32).toString('base64'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new ConfigError(`${file} does not hold a 32-byte base64 key; delete it to make a new one`);
  return key;
}
