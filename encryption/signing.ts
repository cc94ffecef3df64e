/**
 * Signatures on values the service hands out and reads back unchanged (a connect session's URL):
 * HMAC-SHA256 with a key derived from the token key (`token-seal.ts`) for one purpose, so it is kept
 * like that key, shared by every API process, and a signature made for one purpose means nothing for
 * another.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export interface Signer {
  /** The signature of `value`: 43 base64url characters. */
  sign(value: string): string;
  /** Whether `signature` is `value`'s; in constant time. */
  verify(value: string, signature: string): boolean;
}

/** A signer for `purpose` (`connect-session`) with a key derived from `tokenKey` (HKDF-SHA256). */
export function createSigner(tokenKey: Buffer, purpose: string): Signer {
  const key = Buffer.from(hkdfSync('sha256', tokenKey, Buffer.alloc(0), `contacts-import/${purpose}`, 32));
  const sign = (value: string) => createHmac('sha256', key).update(value, 'utf8').digest('base64url');
  return {
    sign,
    verify(value, signature) {
      const expected = Buffer.from(sign(value));
      const given = Buffer.from(signature);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
