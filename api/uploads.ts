/**
 * `POST /v1/uploads` and `GET /v1/uploads/{uploadId}`: a user's contacts file streamed into the
 * store (never buffered whole), checked to be a vCard or a CSV export we can import before it is
 * kept, and described back by id.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
// The format readers are pure functions over bytes (no Temporal, no I/O of their own): the API uses
// them to refuse at upload what the import would refuse later.
import { detectFileFormat, inspectCsv, type CsvLayoutProblem } from '../providers/formats';
import { DEFAULT_UPLOAD_MAX_BYTES, UPLOAD_DEFAULTS } from '../config/defaults';
import { UploadQuotaExceededError, UploadTooLargeError, type Store, type UploadBytes, type UploadMeta } from '../db/types';
import type { CallerVariables } from './auth';
import { ApiError, errorBody } from './errors';
import { createUpload, getUpload } from './routes';
import type { UploadView } from './schemas';
import { bodyChunks, multipartFile, MULTIPART_OVERHEAD_BYTES, uploadBodyType, type UploadBodyType } from './upload-body';

/** The path `POST /v1/uploads` answers on: the general `/v1` body limit skips it (it has its own). */
export const UPLOADS_PATH = '/v1/uploads';

/** A file `detect` refuses: `422` with `code`, and for a CSV of unknown layout what was expected. */
export class UploadRefusedError extends ApiError {
  constructor(
    code: string,
    message: string,
    readonly details: Pick<CsvLayoutProblem, 'expected' | 'found'> | Record<string, never> = {},
  ) {
    super(422, code, message);
    this.name = 'UploadRefusedError';
  }
}

/**
 * What an upload is, from its bytes: `vcard` when it starts with `BEGIN:VCARD`, else `csv` if its
 * header is a layout we import. The content decides, not the declared type: a vCard sent as
 * `text/csv` is a vCard. Throws {@link UploadRefusedError} for anything else.
 */
export async function detectUpload(bytes: UploadBytes, declared: UploadBodyType['declared']): Promise<UploadMeta['format']> {
  if (bytes.size === 0) throw new UploadRefusedError('empty_upload', 'The file is empty: send a vCard file or a CSV export');
  if ((await detectFileFormat(bytes)) === 'vcard') return 'vcard';
  const inspected = await inspectCsv(bytes);
  if (inspected.ok) return 'csv';
  if (declared === 'vcard') {
    throw new UploadRefusedError(
      'invalid_vcard',
      'The body was sent as a vCard but does not start with BEGIN:VCARD, nor is it a CSV export we import',
    );
  }
  const { code, message, expected, found } = inspected.problem;
  throw new UploadRefusedError(code, message, { expected, found });
}

function view(meta: UploadMeta): UploadView {
  const { uploadId, userId, format, bytes, sha256, createdAt } = meta;
  return { uploadId, userId, format, bytes, sha256, createdAt };
}

function shownSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${+(bytes / 1024 / 1024).toFixed(2)} MiB` : bytes >= 1024 ? `${+(bytes / 1024).toFixed(2)} KiB` : `${bytes} bytes`;
}

/**
 * The tenant's uploads are at their quota: `429`, not `413`. The file itself may be acceptable (a
 * file too large for any tenant is the `413`); what is exhausted is the tenant's allowance, which
 * frees up as its uploads expire or its users are erased, as a rate limit's does with time.
 */
function quotaExceeded(error: UploadQuotaExceededError): ApiError {
  return new ApiError(
    429,
    'upload_quota_exceeded',
    `This tenant's uploads take ${shownSize(error.usedBytes)} of its ${shownSize(error.quotaBytes)} (UPLOAD_QUOTA_BYTES), ` +
      `and this file needs ${shownSize(error.neededBytes)} more. Uploads no running import reads are deleted after UPLOAD_RETENTION; ` +
      "DELETE /v1/users/{userId} deletes a user's at once",
  );
}

/** Attaches the upload routes; `maxBytes` is `UPLOAD_MAX_BYTES`, `quotaBytes` is `UPLOAD_QUOTA_BYTES`. */
export function uploadRoutes(
  app: OpenAPIHono<{ Variables: CallerVariables }>,
  deps: { store: Store; maxBytes?: number; quotaBytes?: number },
): void {
  const maxBytes = deps.maxBytes ?? DEFAULT_UPLOAD_MAX_BYTES;
  const quotaBytes = deps.quotaBytes ?? UPLOAD_DEFAULTS.quotaBytes;
  const tooLarge = () =>
    new ApiError(413, 'payload_too_large', `The file is larger than ${shownSize(maxBytes)}, the most this API takes (UPLOAD_MAX_BYTES)`);

  app.openapi(createUpload, async (c) => {
    const { tenant } = c.var.caller;
    const { userId } = c.req.valid('query');
    const contentType = c.req.header('content-type');
    const type = uploadBodyType(contentType);
    // A raw body is the file; a form adds boundaries and part headers around it.
    const bodyLimit = type.kind === 'raw' ? maxBytes : maxBytes + MULTIPART_OVERHEAD_BYTES;
    const declaredLength = Number(c.req.header('content-length'));
    if (Number.isFinite(declaredLength) && declaredLength > bodyLimit) throw tooLarge();

    const raw = bodyChunks(c.req.raw.body, bodyLimit);
    const body = type.kind === 'raw' ? raw : multipartFile(raw, contentType ?? '');
    try {
      const meta = await deps.store.uploads.save(tenant, userId, body, {
        maxBytes,
        quotaBytes,
        // A raw body's length is the file's; a form's is a little more, so it is only checked whole.
        ...(type.kind === 'raw' && Number.isFinite(declaredLength) ? { expectedBytes: declaredLength } : {}),
        detect: (bytes) => detectUpload(bytes, type.declared),
      });
      c.header('Location', `${UPLOADS_PATH}/${meta.uploadId}`);
      return c.json(view(meta), 201);
    } catch (error) {
      if (error instanceof UploadTooLargeError) throw tooLarge();
      if (error instanceof UploadQuotaExceededError) throw quotaExceeded(error);
      if (error instanceof UploadRefusedError) {
        return c.json({ error: { ...errorBody(error.code, error.message).error, ...error.details } }, 422);
      }
      throw error;
    }
  });

  app.openapi(getUpload, async (c) => {
    const { uploadId } = c.req.valid('param');
    const meta = await deps.store.uploads.get(c.var.caller.tenant, uploadId);
    // Another tenant's id is as unknown to this caller as one never issued.
    if (!meta) throw new ApiError(404, 'upload_not_found', `No upload with id "${uploadId}"`);
    return c.json(view(meta), 200);
  });
}
