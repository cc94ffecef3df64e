/** Reading the small form bodies the demo provider's OAuth endpoints take. */
import type http from 'node:http';

/** Largest form body read: a request larger than this is cut off. */
const MAX_FORM_BYTES = 16 * 1024;

/** Reads `req`'s `application/x-www-form-urlencoded` body, then calls `then` with it. */
export function readForm(req: http.IncomingMessage, then: (form: URLSearchParams) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) req.destroy();
    else chunks.push(chunk);
  });
  req.on('end', () => then(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
}
