/**
 * The data converter every Temporal client and worker of the service uses: the default payload
 * converter (JSON), then the AES-256-GCM payload codec, and a failure converter that moves failure
 * messages and stacks into payloads so the codec encrypts them too.
 *
 * A process without it cannot read what the others wrote (it sees `binary/encrypted`), and what it
 * writes is stored in clear: install it everywhere (`api/main.ts`, `worker/main.ts`, tests). The
 * worker's workflow bundle must carry the same failure converter (`worker/bundle-workflows.ts`).
 */
import type { DataConverter } from '@temporalio/common';
import { createPayloadCodec } from './payload-codec';
import type { PayloadKeyring } from '../config/parse';

/**
 * The module with the `failureConverter` export: loaded by path because the workflow bundle
 * includes it too (the sandbox cannot take an object from outside).
 */
export const FAILURE_CONVERTER_PATH = require.resolve('../workflows/failure-converter');

/** The service's {@link DataConverter} over `keyring`. */
export function dataConverter(keyring: PayloadKeyring): DataConverter {
  return { payloadCodecs: [createPayloadCodec(keyring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
