/**
 * The body of `POST /v1/uploads` as a stream of the file's bytes, never buffered whole: the raw
 * body for `text/vcard`, `text/x-vcard` and `text/csv`, or the one file part of a
 * `multipart/form-data` body (parsed by busboy as it arrives).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { UploadTooLargeError } from '../db/types';
import { ApiError } from './errors';

/** What the declared content type says: where the file is, and which format the sender claims. */
export type UploadBodyType = { kind: 'raw'; declared: 'vcard' | 'csv' } | { kind: 'multipart'; declared: null };

/** The content types the route takes, each with what it declares. */
const RAW_TYPES: Record<string, 'vcard' | 'csv'> = { 'text/vcard': 'vcard', 'text/x-vcard': 'vcard', 'text/csv': 'csv' };

/** Content types `POST /v1/uploads` takes, for its documentation and its 415. */
export const UPLOAD_CONTENT_TYPES = [...Object.keys(RAW_TYPES), 'multipart/form-data'] as const;

/**
 * Bytes a multipart body may carry beyond its file (boundaries, part headers) before it counts as
 * too large: a form with one file needs a few hundred.
 */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** The body's type from its `Content-Type`, or `415 unsupported_media_type`. */
export function uploadBodyType(contentType: string | undefined): UploadBodyType {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const declared = RAW_TYPES[mediaType];
  if (declared) return { kind: 'raw', declared };
  if (mediaType === 'multipart/form-data') return { kind: 'multipart', declared: null };
  throw new ApiError(
    415,
    'unsupported_media_type',
    `Send the file as ${UPLOAD_CONTENT_TYPES.join(', ')} (got ${contentType ? `"${mediaType}"` : 'no Content-Type'})`,
  );
}

/**
 * The chunks of a web body stream. Past `limit` bytes it throws {@link UploadTooLargeError}; when
 * its reader stops early (an error, a refused upload), the stream is cancelled, not read to its end.
 */
export async function* bodyChunks(body: ReadableStream<Uint8Array> | null, limit = Infinity): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  let ended = false;
  let total = 0;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        ended = true;
        return;
      }
      total += next.value.length;
      if (total > limit) throw new UploadTooLargeError(`the request body is larger than ${limit} bytes`);
      yield next.value;
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

const invalidMultipart = (reason: string) =>
  new ApiError(400, 'invalid_multipart', `The multipart/form-data body does not parse: ${reason}`);

const oneFileOnly = (what: string) =>
  new ApiError(422, 'one_file_expected', `A multipart/form-data upload holds exactly one file field and nothing else; this one has ${what}`);

/**
 * The bytes of the one file part of a `multipart/form-data` body, as they arrive. Refuses (`422
 * one_file_expected`) a body with a non-file field, a second file or no file; a body that does not
 * parse answers `400 invalid_multipart`; the body's own errors (too large for `bodyChunks`, the client gone) pass through.
 * The refusals come while or after the file is read, so the store's `save` deletes what it wrote.
 */
export async function* multipartFile(body: AsyncIterable<Uint8Array>, contentType: string): AsyncGenerator<Uint8Array> {
  let parser: busboy.Busboy;
  try {
    // Fields are refused anyway: keep what busboy would collect of one small.
    parser = busboy({ headers: { 'content-type': contentType }, limits: { fieldSize: 1024, headerPairs: 100 } });
  } catch (error) {
    throw invalidMultipart(error instanceof Error ? error.message : String(error));
  }
  let bodyError: unknown;
  async function* watched(): AsyncGenerator<Uint8Array> {
    const chunks = body[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (error) {
          // Only what reading the body throws is the body's own error: when the parser fails, the
          // pipeline throws its error in at the `yield` below, and that one means a malformed body.
          bodyError = error;
          throw error;
        }
        if (next.done) {
          done = true;
          return;
        }
        yield next.value;
      }
    } finally {
      if (!done) await chunks.return?.();
    }
  }
  const source = Readable.from(watched(), { objectMode: false });
  let problem: ApiError | undefined;
  let file: Readable | undefined;
  let settled = false;
  // Where the first file part is, or null once the body ended without one.
  const firstFile = new Promise<Readable | null>((resolve, reject) => {
    const refuse = (error: ApiError) => {
      problem ??= error;
      // No need to read the rest of a body we refuse.
      source.destroy();
      reject(problem);
    };
    parser.on('file', (_name, stream) => {
      // Destroying the parser destroys its file streams with its error: that error is reported
      // through `parsed` (or the loop reading the file), not as an 'error' nobody listens to.
      stream.on('error', () => undefined);
      if (file) {
        stream.resume();
        refuse(oneFileOnly('more than one file'));
        return;
      }
      file = stream;
      resolve(stream);
    });
    parser.on('field', (name) => refuse(oneFileOnly(`the field "${name.slice(0, 100)}"`)));
    parser.on('close', () => resolve(null));
  });
  // The body's own errors (too large, the client went away) pass through; the parser's mean a malformed body.
  const parsed = pipeline(source, parser).then(
    () => undefined,
    (error: unknown) => {
      if (problem) throw problem;
      if (error === bodyError || !(error instanceof Error)) throw error;
      throw invalidMultipart(error.message);
    },
  );
  // Rejections are awaited below, on every path that gets that far; until then they must not go unhandled.
  parsed.catch(() => undefined);
  firstFile.catch(() => undefined);
  try {
    const stream = await Promise.race([firstFile, parsed.then(() => firstFile)]);
    if (!stream) throw oneFileOnly('no file');
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
    } catch (error) {
      await parsed;
      throw error;
    }
    await parsed;
    if (problem) throw problem;
    settled = true;
  } finally {
    if (!settled) {
      file?.destroy();
      source.destroy();
    }
  }
}
