/**
 * What a connect session hands out and reads back, and how each is bound to it:
 *
 * - the connect URL's token, `<sessionId>.<signature>`: signed (HMAC, `encryption/signing.ts`), so a
 *   made-up URL is refused before the store is asked, and followed once (the store's `open`);
 * - `state` (and the account form's token, which is the same thing), `<sessionId>.<nonce>`: 256
 *   random bits, kept as its SHA-256, so the callback finds its session and proves it was handed
 *   out by it; a tampered one matches nothing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SESSION_ID_PATTERN } from '../../db/connect-sessions';
import type { Signer } from '../../encryption/signing';

const TOKEN = /^(cs_[A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** The token of a session's connect URL. */
export function connectToken(signer: Signer, sessionId: string): string {
  return `${sessionId}.${signer.sign(sessionId)}`;
}

/** The session a connect URL's token names, when its signature is ours; else `null`. */
export function sessionOfToken(signer: Signer, token: string): string | null {
  const match = TOKEN.exec(token);
  if (!match?.[1] || !match[2]) return null;
  return signer.verify(match[1], match[2]) ? match[1] : null;
}

/** A new `state` for `sessionId`, and the hash the session keeps of it. */
export function newState(sessionId: string): { state: string; hash: string } {
  const state = `${sessionId}.${randomBytes(32).toString('base64url')}`;
  return { state, hash: stateHash(state) };
}

export function stateHash(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}

/** The session a `state` claims to be of (not yet checked against it), or `null` for one of another shape. */
export function sessionOfState(state: string | undefined): string | null {
  const sessionId = state?.split('.')[0];
  return sessionId !== undefined && SESSION_ID_PATTERN.test(sessionId) && /^cs_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/.test(state ?? '') ? sessionId : null;
}

/** Whether `state` is the one whose hash the session kept; in constant time. */
export function stateMatches(state: string, kept: string | null): boolean {
  if (kept === null) return false;
  const given = Buffer.from(stateHash(state), 'hex');
  const expected = Buffer.from(kept, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
