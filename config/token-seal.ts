/**
 * Access tokens are secrets. The API seals them (AES-256-GCM) before they enter workflow input, so
 * workflow history, which operators read in the Web UI and CLI, only ever holds ciphertext; the
 * worker opens them inside the activity that calls the provider.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, type AppConfig } from './index';

const VERSION = 'v1';

export interface TokenSealer {
  seal(token: string): string;
  /** Throws {@link SealedTokenError} when the value was not sealed with this key. */
  open(sealed: string): string;
}

export class SealedTokenError extends Error {
  override name = 'SealedTokenError';
}

export function createTokenSealer(key: Buffer): TokenSealer {
  if (key.length !== 32) throw new ConfigError('The token key must be 32 bytes');
  return {
    seal(token) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
      return [VERSION, iv, ciphertext, cipher.getAuthTag()]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.');
    },
    open(sealed) {
      const [version, iv, ciphertext, tag] = sealed.split('.');
      if (version !== VERSION || !iv || !ciphertext || !tag) {
        throw new SealedTokenError('The sealed access token is malformed');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SealedTokenError(
          'The access token was sealed with another key: every API and worker process must share TOKEN_ENCRYPTION_KEY',
        );
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
