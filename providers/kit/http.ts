/**
 * The one outbound HTTP client. Every request the service makes to the outside (a provider's
 * pages, a token endpoint, a CardDAV server, a webhook receiver) goes through {@link httpRequest},
 * so what bounds one request bounds them all (`OUTBOUND_DEFAULTS` in `config/defaults.ts`):
 *
 * - a connect timeout, a time to first byte, an idle timeout between two parts of the body and a
 *   deadline for the whole exchange, redirects included;
 * - a byte cap counted as the body streams in (after decompression), never after buffering: an
 *   endless answer stops at the cap, and a parser only ever gets a body within it;
 * - the destination guard (`destinations.ts`), pinned to the connection: the address judged is the
 *   address connected to, on every redirect hop.
 *
 * It never rejects for what the other side did: the outcome is a value (an answer, a limit passed,
 * a refused destination, a network error, an abort) that the caller turns into a failure in its own
 * words (`outboundFailure` in `failures.ts`). Built on `node:http`, which lets the connection use
 * the address the guard judged; it keeps no state but its connection pools, so it serves the Google
 * decode threads as well as the worker's own thread.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { OUTBOUND_DEFAULTS, type OutboundLimits } from '../../config/defaults';
import {
  DestinationRefusedError,
  guardedLookup,
  isPrivateAddress,
  literalAddress,
  mayBePrivate,
  systemResolver,
  type DestinationPolicy,
  type Resolver,
} from './destinations';

export type { OutboundLimits } from '../../config/defaults';

/** One request. Secrets go into `headers` or `body` only, never into the URL. */
export interface HttpRequest {
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  body?: string;
  /** Where it may connect, on every hop. */
  destinations: DestinationPolicy;
  /** The worker's limits (`loadConfig`'s `outboundLimits`); {@link OUTBOUND_DEFAULTS} when absent. */
  limits?: OutboundLimits;
  /** Deadline of the whole exchange, redirects and body included, instead of `limits.requestTimeoutMs`. */
  timeoutMs?: number;
  /** Time to first byte instead of `limits.firstByteTimeoutMs`: for an answer the server builds whole before sending. */
  firstByteTimeoutMs?: number;
  /** The caller's cancellation: its abort ends the request as `aborted`. */
  signal?: AbortSignal;
  /** `manual`: a redirect is answered as it came (its `location` header), never followed. Default `follow`. */
  redirect?: 'follow' | 'manual';
  /** Resolves host names; the system's resolver unless a test swaps it. */
  resolve?: Resolver;
}

/** How the answer's body is read: as text (UTF-8), as bytes, or not at all (dropped unread). */
export type BodyReading = 'text' | 'bytes' | 'none';

/** The body {@link httpRequest} hands back for each {@link BodyReading}. */
export type BodyOf<R extends BodyReading> = R extends 'text' ? string : R extends 'bytes' ? Uint8Array : null;

/** Which time limit a request passed. */
export type TimeLimit = 'connect' | 'first_byte' | 'idle' | 'deadline';

/** Why a request brought no answer, as plain data (it crosses threads), `network` apart. */
export type HttpProblem =
  /** A time limit passed: `timeoutMs` is that limit. */
  | { kind: 'timeout'; limit: TimeLimit; timeoutMs: number }
  /** The answer's body passed `maxBytes`; it was dropped unread past there. */
  | { kind: 'too_large'; maxBytes: number }
  /** `origin` is, or resolves to, an address the destination policy refuses: nothing was sent. */
  | { kind: 'refused'; origin: string }
  /** The caller's signal aborted it. */
  | { kind: 'aborted' };

/** What one request came to. */
export type HttpOutcome<Body> =
  /** Any HTTP answer, whatever its status: the caller judges it. */
  | { kind: 'answer'; status: number; headers: Headers; body: Body }
  /** No answer: the server could not be reached, dropped the connection or sent garbage. */
  | { kind: 'network'; error: unknown }
  | HttpProblem;

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Connection pools: one where every connection was judged public, one where private addresses were
 * allowed, so a socket judged under one rule never serves a request under the other.
 */
const pools = {
  'http:': { public: new http.Agent({ keepAlive: true }), private: new http.Agent({ keepAlive: true }) },
  'https:': { public: new https.Agent({ keepAlive: true }), private: new https.Agent({ keepAlive: true }) },
};

/** Sends `request` and reads its answer's body as `read` says. Never rejects. */
export async function httpRequest<R extends BodyReading>(request: HttpRequest, read: R): Promise<HttpOutcome<BodyOf<R>>> {
  const limits = request.limits ?? OUTBOUND_DEFAULTS;
  const timeoutMs = request.timeoutMs ?? limits.requestTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  let url = new URL(request.url);
  let { method, body } = request;
  let headers = { ...request.headers };
  for (let hop = 0; ; hop++) {
    const outcome = await exchange({ request, url, method, headers, body, limits, deadline, timeoutMs }, read);
    const location = outcome.kind === 'answer' && REDIRECTS.has(outcome.status) ? outcome.headers.get('location') : null;
    if (request.redirect === 'manual' || location === null || hop >= MAX_REDIRECTS) return outcome;
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return outcome;
    // As fetch does: 303, and 301/302 after a POST, become a GET without a body.
    const status = (outcome as { status: number }).status;
    if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
    // Credentials stay with the origin they were meant for.
    if (next.origin !== url.origin) headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
    url = next;
  }
}

interface Exchange {
  request: HttpRequest;
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  limits: OutboundLimits;
  /** Epoch ms the whole request ends at, `timeoutMs` after it began. */
  deadline: number;
  timeoutMs: number;
}

/** One request to one URL, under every limit; the redirect (if it is one) is the caller's. */
function exchange<R extends BodyReading>(at: Exchange, read: R): Promise<HttpOutcome<BodyOf<R>>> {
  const { request, url, limits } = at;
  const { signal } = request;
  if (signal?.aborted) return Promise.resolve({ kind: 'aborted' });
  const privateOk = mayBePrivate(url, request.destinations);
  const literal = literalAddress(url);
  if (!privateOk && literal !== undefined && isPrivateAddress(literal)) return Promise.resolve({ kind: 'refused', origin: url.origin });
  const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
  // A test's resolver gets fresh connections: the pools' sockets were resolved by the system.
  const agent = request.resolve ? false : pools[protocol][privateOk ? 'private' : 'public'];
  const lookup = privateOk && !request.resolve ? undefined : guardedLookup(request.resolve ?? systemResolver, privateOk);

  return new Promise((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let response: http.IncomingMessage | undefined;
    const deadlineTimer = setTimeout(() => stop({ kind: 'timeout', limit: 'deadline', timeoutMs: at.timeoutMs }), Math.max(0, at.deadline - Date.now()));
    const onAbort = () => stop({ kind: 'aborted' });
    signal?.addEventListener('abort', onAbort, { once: true });

    function finish(outcome: HttpOutcome<BodyOf<R>>): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(deadlineTimer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    }
    /** Ends the exchange early: the socket goes, with whatever was still to come. */
    function stop(outcome: HttpOutcome<BodyOf<R>>): void {
      if (done) return;
      finish(outcome);
      response?.destroy();
      req.destroy();
    }
    /** Arms the one phase timer: connecting, waiting for the first byte, or the silence mid-body. */
    function phase(limit: Exclude<TimeLimit, 'deadline'>, ms: number): void {
      clearTimeout(timer);
      timer = setTimeout(() => stop({ kind: 'timeout', limit, timeoutMs: ms }), ms);
    }

    const req = (protocol === 'https:' ? https : http).request(url, {
      method: at.method,
      headers: { 'accept-encoding': 'gzip, deflate, br', ...at.headers },
      agent,
      ...(lookup ? { lookup } : {}),
    });
    const firstByteMs = request.firstByteTimeoutMs ?? limits.firstByteTimeoutMs;
    phase('connect', limits.connectTimeoutMs);
    req.on('socket', (socket: Socket) => {
      // A pooled socket is connected already; a new one is once its TCP (and TLS) handshake is through.
      const connected = () => phase('first_byte', firstByteMs);
      if (req.reusedSocket) connected();
      else socket.once(protocol === 'https:' ? 'secureConnect' : 'connect', connected);
    });
    req.on('error', (error) => {
      if (error instanceof DestinationRefusedError || (error as { code?: string }).code === 'EDESTINATIONREFUSED') {
        finish({ kind: 'refused', origin: url.origin });
      } else {
        finish({ kind: 'network', error });
      }
    });
    req.on('response', (answer) => {
      response = answer;
      const status = answer.statusCode ?? 0;
      const headers = headersOf(answer.rawHeaders);
      if (read === 'none') {
        // The caller wants the status only: the body is never read.
        finish({ kind: 'answer', status, headers, body: null as BodyOf<R> });
        answer.destroy();
        return;
      }
      const declared = Number(answer.headers['content-length']);
      if (Number.isFinite(declared) && declared > limits.maxResponseBytes) {
        stop({ kind: 'too_large', maxBytes: limits.maxResponseBytes });
        return;
      }
      const decoded = decoder(answer);
      const chunks: Buffer[] = [];
      let received = 0;
      phase('idle', limits.idleTimeoutMs);
      // Every byte off the wire proves the server alive; what counts toward the cap is what it decodes to.
      answer.on('data', () => phase('idle', limits.idleTimeoutMs));
      decoded.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > limits.maxResponseBytes) {
          stop({ kind: 'too_large', maxBytes: limits.maxResponseBytes });
          if (decoded !== answer) decoded.destroy();
          return;
        }
        chunks.push(chunk);
      });
      decoded.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const body = (read === 'text' ? bytes.toString('utf8') : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as BodyOf<R>;
        finish({ kind: 'answer', status, headers, body });
      });
      decoded.on('error', (error) => stop({ kind: 'network', error }));
      answer.on('close', () => {
        if (!answer.complete) stop({ kind: 'network', error: new Error('the connection closed before the answer ended') });
      });
      answer.on('error', (error) => stop({ kind: 'network', error }));
    });
    req.end(at.body);
  });
}

/** The answer's body as it was meant to be read: decompressed when the server compressed it. */
function decoder(answer: http.IncomingMessage): Readable {
  const encoding = String(answer.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decompress =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : undefined;
  if (decompress === undefined) return answer;
  answer.on('error', (error) => decompress.destroy(error));
  return answer.pipe(decompress);
}

/** The answer's headers as fetch's `Headers`; a value `Headers` refuses is left out. */
function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i] as string, raw[i + 1] as string);
    } catch {
      // A header no standard client would read either.
    }
  }
  return headers;
}
