/**
 * The codec server: lets the Temporal Web UI and the `temporal` CLI show what our payload codec
 * encrypted (`encryption/payload-codec.ts`). It speaks Temporal's remote codec protocol:
 *
 *   POST /codec/decode   (and /codec/encode)
 *   Content-Type: application/json, X-Namespace: <namespace>, Authorization: Bearer <operator key>
 *   { "payloads": [{ "metadata": { "encoding": "<base64>" }, "data": "<base64>" }] }
 *
 * and answers the same shape, each payload decoded (or encoded). Payloads are proto3 JSON, so every
 * metadata value and `data` is base64. Anyone it lets in can read every import's history: it needs
 * an operator key (`authorize`), and only the Web UI's origins may call it from a browser.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { z } from 'zod';
import { PayloadDecryptionError } from '../encryption/payload-codec';
import { notLocalRefusal, type AuthResult } from './auth';
import { errorBody, onError } from './errors';
import { requestOrigin, type RequestOrigin } from './loopback';

/**
 * Whether a request may use the codec, given its `Authorization` header (`undefined` when absent)
 * and where it came from. `api/main.ts` answers with the operator keys of the store
 * (`createAuthenticator`, scope `operator`).
 */
export type CodecAuthorizer = (authorization: string | undefined, origin: RequestOrigin) => Promise<AuthResult>;

export interface CodecAppOptions {
  codec: PayloadCodec;
  /** Operator keys only: a tenant's key must not open other tenants' histories. */
  authorize: CodecAuthorizer;
  /** Browser origins allowed to call (the Web UI's), e.g. `http://localhost:8233`. */
  corsOrigins: readonly string[];
}

/**
 * A history page holds many payloads, each up to Temporal's 2 MB payload limit; 4 MiB of base64
 * covers the largest one the server accepts, and our own payloads are a few KB.
 */
export const CODEC_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

// Proto3 JSON writes bytes in standard base64 and reads the URL-safe alphabet too.
const Base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const JsonPayload = z.object({ metadata: z.record(z.string(), Base64).nullish(), data: Base64.nullish() });
// The CLI sends `{"payloads": null}` when there is nothing to encode (a query without arguments).
const CodecBody = z.object({ payloads: z.array(JsonPayload).nullish() });
type JsonPayload = z.infer<typeof JsonPayload>;

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});

const toJson = ({ metadata, data }: Payload): { metadata: Record<string, string>; data: string } => ({
  metadata: Object.fromEntries(
    Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? []).toString('base64')]),
  ),
  data: Buffer.from(data ?? []).toString('base64'),
});

/** The realm of the codec's `WWW-Authenticate` challenge. */
const REALM = 'contacts-import-codec';

function requireOperator(authorize: CodecAuthorizer): MiddlewareHandler {
  return async function requireOperator(c, next) {
    const authorization = c.req.header('authorization');
    const result = await authorize(authorization, requestOrigin(c));
    if (result.ok) return next();
    if (result.reason === 'not_local') return notLocalRefusal(result.what, result.origin);
    const message =
      authorization === undefined
        ? 'The codec server needs an operator key: send "Authorization: Bearer <operator key>" ' +
          "(temporal CLI: --codec-auth 'Bearer <operator key>'; create one with `npm run api-key -- create --operator --name NAME`)"
        : 'The key is unknown, revoked, or not an operator key';
    const challenge = authorization === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
    c.header('WWW-Authenticate', challenge);
    return c.json(errorBody('unauthenticated', message), 401);
  };
}

/**
 * The codec server as a Hono app with `POST /codec/encode` and `POST /codec/decode`; mount it on
 * the API (`app.route('/', createCodecApp(…))`) or serve it alone. CORS preflights are answered
 * without a key (browsers send none with them); everything else needs `authorize` to say yes.
 */
export function createCodecApp(options: CodecAppOptions): Hono {
  const app = new Hono();
  app.onError(onError);
  app.use(
    '/codec/*',
    cors({
      origin: [...options.corsOrigins],
      allowMethods: ['POST', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'X-Namespace', 'Authorization'],
      maxAge: 600,
    }),
  );
  const limit = bodyLimit({
    maxSize: CODEC_BODY_LIMIT_BYTES,
    onError: (c) =>
      c.json(errorBody('payload_too_large', `The request body is larger than ${CODEC_BODY_LIMIT_BYTES / 1024 / 1024} MiB`), 413),
  });

  for (const action of ['encode', 'decode'] as const) {
    const path = `/codec/${action}`;
    app.post(path, requireOperator(options.authorize), limit, async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return c.json(errorBody('invalid_json', 'The request body is not JSON'), 400);
      }
      const parsed = CodecBody.safeParse(body);
      if (!parsed.success) {
        return c.json(
          errorBody('invalid_request', 'Expected {"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}'),
          400,
        );
      }
      const input = (parsed.data.payloads ?? []).map(fromJson);
      if (action === 'encode') return c.json({ payloads: (await options.codec.encode(input)).map(toJson) }, 200);
      // Decoded one by one: a payload whose key is gone (a shredded history, another deployment's
      // key) comes back as it is, still encrypted, and the rest of the page still decodes. Failing
      // the whole request would make the CLI's `workflow list` fail outright (it shows only a
      // timeout) because of one workflow among hundreds whose key is gone.
      const problems: string[] = [];
      const payloads = await Promise.all(
        input.map(async (payload) => {
          try {
            const [decoded] = await options.codec.decode([payload]);
            return decoded ?? payload;
          } catch (err) {
            if (!(err instanceof PayloadDecryptionError)) throw err;
            problems.push(err.message);
            return payload;
          }
        }),
      );
      if (problems.length > 0) {
        c.header('X-Undecodable-Payloads', String(problems.length));
        console.warn(`codec: ${problems.length} payload(s) left encrypted: ${[...new Set(problems)].join(' | ')}`);
      }
      return c.json({ payloads: payloads.map(toJson) }, 200);
    });
    app.all(path, (c) => {
      c.header('Allow', 'OPTIONS, POST');
      return c.json(errorBody('method_not_allowed', `${path} answers POST, not ${c.req.method}`), 405);
    });
  }
  return app;
}
