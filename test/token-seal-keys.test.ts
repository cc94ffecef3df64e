/**
 * Sealed tokens name their key, so a worker that lacks it can say which key it lacks and which it
 * has, and tell "not my key" (a fault of its configuration) from "altered" (a fault of the value).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenSealer, SealedTokenError, tokenKeyId } from '../encryption/token-seal';

const KEY = Buffer.alloc(32, 1);
const OTHER_KEY = Buffer.alloc(32, 2);

function refusal(open: () => unknown): SealedTokenError {
  try {
    open();
  } catch (err) {
    assert.ok(err instanceof SealedTokenError, `expected a SealedTokenError, got ${String(err)}`);
    return err;
  }
  assert.fail('the value opened');
}

describe('token key ids', () => {
  const sealer = createTokenSealer(KEY);
  const other = createTokenSealer(OTHER_KEY);

  it('names a key by 8 hex digits of its SHA-256, in the sealer and in what it seals', () => {
    assert.match(sealer.keyId, /^[0-9a-f]{8}$/);
    assert.equal(sealer.keyId, tokenKeyId(KEY));
    assert.notEqual(sealer.keyId, other.keyId);
    assert.equal(sealer.seal('token').split('.')[1], sealer.keyId);
  });

  it('refuses a value sealed with another key as "other-key", naming both keys', () => {
    const err = refusal(() => sealer.open(other.seal('token')));
    assert.equal(err.reason, 'other-key');
    assert.match(err.message, new RegExp(`sealed with another key \\(key ${other.keyId}\\); this process has key ${sealer.keyId}`));
    assert.match(err.message, /TOKEN_ENCRYPTION_KEY/);
  });

  it('calls a value with its key id that does not open altered, not another key', () => {
    const parts = sealer.seal('token').split('.');
    const ciphertext = Buffer.from(parts[3]!, 'base64url');
    ciphertext[0] = ciphertext[0]! ^ 1;
    parts[3] = ciphertext.toString('base64url');
    const err = refusal(() => sealer.open(parts.join('.')));
    assert.equal(err.reason, 'malformed');
    for (const value of ['v2..a.b.c', 'v2.1a2b3c4d.a.b', 'v3.x.y.z.w', 'token']) {
      assert.equal(refusal(() => sealer.open(value)).reason, 'malformed', `refuses ${value} as malformed`);
    }
  });
});
