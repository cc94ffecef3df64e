/**
 * The one outbound HTTP client. Every request the service makes to the outside (a provider's
 * pages, a token endpoint, a CardDAV server, a webhook receiver) goes through {@link httpRequest},
 * so what bounds one request bounds them all: a deadline for the whole exchange, body included,
 * and the caller's cancellation.
 *
 * It never rejects for what the other side did: the outcome is a value (an answer, a timeout, a
 * network error, an abort) that the caller turns into a failure in its own words. It keeps no
 * state, so it serves the Google decode threads as well as the worker's own thread.
 */

/** One request. Secrets go into `headers` or `body` only, never into the URL. */
export interface HttpRequest {
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  body?: string;
  /** Deadline of the whole exchange, body included: a server can stall halfway through an answer. */
  timeoutMs: number;
  /** The caller's cancellation: its abort ends the request as `aborted`. */
  signal?: AbortSignal;
  /** `manual`: a redirect is answered as it came (its `location` header), never followed. */
  redirect?: 'follow' | 'manual';
}

/** How the answer's body is read: as text (UTF-8), as bytes, or not at all (dropped unread). */
export type BodyReading = 'text' | 'bytes' | 'none';

/** The body {@link httpRequest} hands back for each {@link BodyReading}. */
export type BodyOf<R extends BodyReading> = R extends 'text' ? string : R extends 'bytes' ? Uint8Array : null;

/** What one request came to. */
export type HttpOutcome<Body> =
  /** Any HTTP answer, whatever its status: the caller judges it. */
  | { kind: 'answer'; status: number; headers: Headers; body: Body }
  /** The deadline passed before the whole answer arrived. */
  | { kind: 'timeout'; timeoutMs: number }
  /** No answer: the server could not be reached, or dropped the connection. */
  | { kind: 'network'; error: unknown }
  /** The caller's signal aborted it. */
  | { kind: 'aborted' };

/** Sends `request` and reads its answer's body as `read` says. Never rejects. */
export async function httpRequest<R extends BodyReading>(request: HttpRequest, read: R): Promise<HttpOutcome<BodyOf<R>>> {
  const { signal, timeoutMs } = request;
  if (signal?.aborted) return { kind: 'aborted' };
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: request.redirect ?? 'follow',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    return { kind: 'answer', status: response.status, headers: response.headers, body: await readBody(response, read) };
  } catch (error) {
    if (signal?.aborted) return { kind: 'aborted' };
    if (timeout.aborted) return { kind: 'timeout', timeoutMs };
    return { kind: 'network', error };
  }
}

async function readBody<R extends BodyReading>(response: Response, read: R): Promise<BodyOf<R>> {
  if (read === 'text') return (await response.text()) as BodyOf<R>;
  if (read === 'bytes') return new Uint8Array(await response.arrayBuffer()) as BodyOf<R>;
  // The caller wants the status only: the body is never buffered.
  await response.body?.cancel().catch(() => undefined);
  return null as BodyOf<R>;
}
