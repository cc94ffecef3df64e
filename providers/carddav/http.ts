/**
 * HTTP for a CardDAV server: Basic authentication, the kit's bounded client (a deadline per
 * request, the byte cap, the destination guard on every hop), redirects followed by hand (so a
 * PROPFIND stays a PROPFIND and credentials are never sent over a downgrade to plain HTTP), and
 * every failure classified where it happens (`kit/failures.ts`): non-retryable for what no retry
 * can fix, retryable for outages and limits, `nextRetryDelay` from `Retry-After`. The password goes
 * into the `Authorization` header and nowhere else.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure, httpStatusFailure, outboundFailure, plainProblem, redactSecrets } from '../kit/failures';
import { httpRequest, type OutboundLimits } from '../kit/http';

const SERVER = 'The CardDAV server';
const MAX_REDIRECTS = 5;

/** Who we are at the server. Never logged, never in a message. */
export interface DavCredentials {
  username: string;
  password: string;
}

/** One request to the server. */
export interface DavRequest {
  method: 'PROPFIND' | 'REPORT';
  url: string;
  /** The `Depth` header; omitted when unset (`addressbook-multiget` takes none). */
  depth?: '0' | '1';
  /** An XML request body. */
  body: string;
  signal: AbortSignal;
  /**
   * This request's deadline and time to first byte instead of the client's: a server builds a
   * whole-book listing before it sends a byte, and that can take minutes.
   */
  timeoutMs?: number;
}

/** How a {@link DavClient} sends. */
export interface DavClientOptions {
  /** The worker's limits (`kit/http.ts`); the defaults when absent. */
  limits?: OutboundLimits;
  /** Deadline of one request, body included, instead of `limits.requestTimeoutMs`. */
  timeoutMs?: number;
  /** Let the user's URL reach loopback and private addresses (`SOURCES_ALLOW_PRIVATE_ADDRESSES`). */
  allowPrivateAddresses?: boolean;
}

/** A response whose status the caller still has to judge (see {@link failureForStatus}). */
export interface DavResponse {
  status: number;
  /** Where the answer came from, after redirects: relative hrefs in the body resolve against it. */
  url: string;
  body: string;
  retryAfter: string | null;
}

/** `origin + path` of `url`: never its user-info or query. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}

/**
 * The failure for a response with an unwanted HTTP status: 401 → `ProviderUnauthenticated`,
 * 403 → `ProviderPermissionDenied`, 429 → `ProviderThrottled`, 408 and 5xx →
 * `ProviderUnavailable` (all three retryable, after `Retry-After` when sent), other 4xx →
 * `ProviderInvalidRequest`; the 4xx other than 429 are not retryable.
 */
export function failureForStatus(response: DavResponse, what: string): ApplicationFailure {
  const where = `${what} at ${describeUrl(response.url)}`;
  // Never the body: a message goes back to whoever started the import, and a body could carry
  // what the server should only have told us.
  const detail = `(HTTP ${response.status})`;
  return httpStatusFailure(response.status, response.retryAfter, {
    unauthenticated: `${SERVER} rejected the username or password for ${where} (HTTP 401). Ask the user to check them (some servers want an app-specific password).`,
    permissionDenied: `${SERVER} refused ${where} to this account ${detail}.`,
    throttled: (after) => `${SERVER} is throttling ${where} ${detail}.${after}`,
    unavailable: (after) => `${SERVER} failed ${where} ${detail}.${after}`,
    invalidRequest: `${SERVER} refused ${where} as invalid ${detail}. Check the CardDAV URL; retrying the same request will not help.`,
    unexpected: `${SERVER} answered ${where} with unexpected HTTP status ${detail}.`,
  });
}

/** Same origin, or both HTTPS on the same registrable-looking domain (its last two labels). */
function sameSite(from: URL, to: URL): boolean {
  if (from.origin === to.origin) return true;
  const domain = (host: string) => host.split('.').slice(-2).join('.');
  return from.protocol === 'https:' && to.protocol === 'https:' && domain(from.hostname) === domain(to.hostname);
}

/** A client for one account at one server. */
export class DavClient {
  readonly #authorization: string;
  readonly #secrets: string[];
  readonly #options: DavClientOptions;

  constructor(credentials: DavCredentials, options: DavClientOptions = {}) {
    this.#options = options;
    const token = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
    this.#authorization = `Basic ${token}`;
    this.#secrets = [credentials.password, token].filter((secret) => secret.length >= 4);
  }

  /**
   * Sends `request`, following up to 5 redirects with the same method and body. Resolves with any
   * final status; rejects as `outboundFailure` says when no answer comes (unreachable, a limit
   * passed, a private address refused), and with `request.signal.reason` when that aborts.
   */
  async send(request: DavRequest, what: string): Promise<DavResponse> {
    let url = request.url;
    /** `all`, or the last origin the credentials may still go to after a redirect left the site. */
    let credentialsFor: 'all' | string = 'all';
    for (let hop = 0; ; hop++) {
      const withCredentials = credentialsFor === 'all' || new URL(url).origin === credentialsFor;
      const response = await this.#once(request, url, what, withCredentials);
      const location = response.status >= 300 && response.status < 400 ? response.location : null;
      if (location === null) return response;
      const next = new URL(location, url);
      if (hop >= MAX_REDIRECTS) {
        throw failure(FAILURE_TYPES.providerInvalidRequest, `${SERVER} redirected ${what} more than ${MAX_REDIRECTS} times (last to ${describeUrl(next.href)}).`, {
          nonRetryable: true,
        });
      }
      if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') {
        throw failure(
          FAILURE_TYPES.providerInvalidRequest,
          `${SERVER} redirected ${what} from HTTPS to ${describeUrl(next.href)}; the password is not sent over plain HTTP.`,
          { nonRetryable: true },
        );
      }
      // The password goes only where the user pointed us: the same origin, or HTTPS on the same
      // domain (iCloud and others redirect discovery to a sibling host). Elsewhere it is dropped.
      if (!sameSite(new URL(url), next) && credentialsFor === 'all') credentialsFor = new URL(url).origin;
      url = next.href;
    }
  }

  /** Clears the password (and the header carrying it) from any message, whatever a server echoed. */
  redact(error: unknown): unknown {
    return redactSecrets(error, this.#secrets);
  }

  async #once(
    request: DavRequest,
    url: string,
    what: string,
    withCredentials: boolean,
  ): Promise<DavResponse & { location: string | null }> {
    request.signal.throwIfAborted();
    const { limits, allowPrivateAddresses } = this.#options;
    const outcome = await httpRequest(
      {
        method: request.method,
        url,
        headers: {
          ...(withCredentials ? { Authorization: this.#authorization } : {}),
          ...(request.depth === undefined ? {} : { Depth: request.depth }),
          'Content-Type': 'application/xml; charset=utf-8',
          Accept: 'application/xml, text/xml',
        },
        body: request.body,
        redirect: 'manual',
        destinations: { allowPrivate: allowPrivateAddresses ?? false },
        limits,
        timeoutMs: request.timeoutMs ?? this.#options.timeoutMs,
        firstByteTimeoutMs: request.timeoutMs,
        signal: request.signal,
      },
      'text',
    );
    if (outcome.kind === 'aborted') throw request.signal.reason;
    if (outcome.kind !== 'answer') throw outboundFailure(plainProblem(outcome), SERVER, ` (${what} at ${describeUrl(url)})`);
    const { status, headers, body } = outcome;
    return { status, url, body, retryAfter: headers.get('retry-after'), location: headers.get('location') };
  }
}
