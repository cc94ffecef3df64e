/**
 * Encrypts every payload before it leaves our processes, so Temporal's history, memo and
 * visibility store hold ciphertext: workflow input and result, activity input and result,
 * heartbeat details, signal, query and memo payloads, user metadata (summaries and details) and,
 * with the failure converter of `workflows/failure-converter.ts`, failure messages and stacks.
 * Search attributes are never encoded (the SDK skips them), so operators can still filter on them.
 *
 * Each payload is serialised whole (its metadata too: the original `encoding` is secret as well)
 * and encrypted with AES-256-GCM under the newest key of the keyring, with a fresh 12-byte IV. The
 * result is a payload with `encoding: binary/encrypted`, `encryption-key-id: <id>` and
 * `data = iv ‖ ciphertext ‖ tag`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PayloadKeyring } from '../config/parse';

/** The `encoding` of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PayloadMessage = temporal.api.common.v1.Payload;

/**
 * A payload this codec cannot decrypt. The message is what an operator sees (in a failed workflow
 * task, from the CLI or from the codec server), so it names the key and says what to do.
 */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
}

const utf8 = (bytes: Uint8Array | null | undefined): string | undefined =>
  bytes ? Buffer.from(bytes).toString('utf8') : undefined;

/** An AES-256-GCM {@link PayloadCodec} over `keyring` (newest key first). */
export function createPayloadCodec(keyring: PayloadKeyring): PayloadCodec {
  const [current] = keyring;
  const keys = new Map(keyring.map(({ id, key }) => [id, key]));
  const known = keyring.map(({ id }) => id).join(', ');
  const currentId = Buffer.from(current.id);
  const encryptedEncoding = Buffer.from(ENCRYPTED_ENCODING);

  function encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, current.key, iv);
    const plaintext = PayloadMessage.encode(payload).finish();
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: { [METADATA_ENCODING_KEY]: encryptedEncoding, [KEY_ID_METADATA]: currentId },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  function decrypt(payload: Payload): Payload {
    if (utf8(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = utf8(payload.metadata?.[KEY_ID_METADATA]);
    if (keyId === undefined) {
      throw new PayloadDecryptionError(`An encrypted payload has no ${KEY_ID_METADATA}: it was not written by this service`);
    }
    const key = keys.get(keyId);
    if (!key) {
      throw new PayloadDecryptionError(
        `A payload is encrypted with key "${keyId}", which is not in the keyring (it has ${known}): ` +
          `add "${keyId}" back to PAYLOAD_ENCRYPTION_KEYS, after the newest key. If it was removed on purpose, ` +
          'the payloads it encrypted are gone for good.',
      );
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(`A payload encrypted with key "${keyId}" is truncated (${data.length} bytes)`);
    }
    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv(ALGORITHM, key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      plaintext = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(
        `A payload encrypted with key "${keyId}" does not decrypt with the key of that id: the payload was altered, ` +
          'or the key under that id was replaced (never reuse an id for a new key)',
      );
    }
    return PayloadMessage.decode(plaintext);
  }

  return {
    // Synchronous work in async signatures: AES-GCM on payloads of a few KB costs microseconds.
    async encode(payloads) {
      return payloads.map(encrypt);
    },
    async decode(payloads) {
      return payloads.map(decrypt);
    },
  };
}
