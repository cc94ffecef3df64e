/**
 * The failure converter of every client and worker (`encryption/data-converter.ts`), and of the
 * workflow sandbox (`worker/bundle-workflows.ts` bundles it): failure messages and stack traces go
 * into an encoded payload, which the payload codec then encrypts. A failure's message can quote
 * what failed (a provider's answer, a contact's field), so it is as private as any payload.
 *
 * It runs inside the sandbox, so it lives here, under the sandbox's lint rules.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
