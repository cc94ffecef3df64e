/**
 * HTTP for a CardDAV server: Basic authentication, a deadline per request, redirects followed by
 * hand (so a PROPFIND stays a PROPFIND and credentials are never sent over a downgrade to plain
 * HTTP), and every failure classified where it happens, as the Google People client does:
 * non-retryable for what no retry can fix, retryable for outages, `nextRetryDelay` from
 * `Retry-After`. The password goes into the `Authorization` header and nowhere else.
 */
import { ApplicationFailure } from '@temporalio/common';
import { msOptionalToNumber } from '@temporalio/common/lib/time';
import { FAILURE_TYPES } from '../../workflows/contract';
import { parseRetryAfter } from '../google-people/client';
import { describeNetworkError, failure } from '../kit/failures';
import { checkDestination } from '../kit/destinations';

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
  /** This request's deadline instead of the client's (a whole-book listing can take minutes). */
  timeoutMs?: number;
}

/** A response whose status the caller still has to judge (see {@link failureForStatus}). */
export interface DavResponse {
  status: number;
  /** Where the answer came from, after redirects: relative hrefs in the body resolve against it. */
  url: string;
  body: string;
  retryAfter: string | null;
}

/** A retryable or non-retryable failure of `type`, with `message` cleared of the password. */
export const davFailure = failure;

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
  const { status } = response;
  const where = `${what} at ${describeUrl(response.url)}`;
  // Never the body: a message goes back to whoever started the import, and a body could carry
  // what the server should only have told us.
  const detail = `(HTTP ${status})`;
  const nextRetryDelay = parseRetryAfter(response.retryAfter);
  const after = nextRetryDelay === undefined ? '' : ` Retrying after ${Math.ceil(nextRetryDelay / 1000)} s.`;
  if (status === 401) {
    return davFailure(
      FAILURE_TYPES.providerUnauthenticated,
      `${SERVER} rejected the username or password for ${where} (HTTP 401). Ask the user to check them (some servers want an app-specific password).`,
      { nonRetryable: true },
    );
  }
  if (status === 403) {
    return davFailure(FAILURE_TYPES.providerPermissionDenied, `${SERVER} refused ${where} to this account ${detail}.`, {
      nonRetryable: true,
    });
  }
  if (status === 429) {
    return davFailure(FAILURE_TYPES.providerThrottled, `${SERVER} is throttling ${where} ${detail}.${after}`, { nextRetryDelay });
  }
  // 408 is the server giving up on a slow request: as transient as a 5xx.
  if (status >= 500 || status === 408) {
    return davFailure(FAILURE_TYPES.providerUnavailable, `${SERVER} failed ${where} ${detail}.${after}`, { nextRetryDelay });
  }
  if (status >= 400) {
    return davFailure(
      FAILURE_TYPES.providerInvalidRequest,
      `${SERVER} refused ${where} as invalid ${detail}. Check the CardDAV URL; retrying the same request will not help.`,
      { nonRetryable: true },
    );
  }
  return davFailure(FAILURE_TYPES.providerBadResponse, `${SERVER} answered ${where} with unexpected HTTP status ${detail}.`);
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
  readonly #timeoutMs: number;
  readonly #allowPrivateAddresses: boolean;

  constructor(credentials: DavCredentials, timeoutMs: number, allowPrivateAddresses = false) {
    this.#allowPrivateAddresses = allowPrivateAddresses;
    const token = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
    this.#authorization = `Basic ${token}`;
    this.#secrets = [credentials.password, token].filter((secret) => secret.length >= 4);
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Sends `request`, following up to 5 redirects with the same method and body. Resolves with any
   * final status; rejects with a retryable `ProviderUnavailable` when the server cannot be reached,
   * drops the connection or misses the deadline, and with `request.signal.reason` when that aborts.
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
        throw davFailure(FAILURE_TYPES.providerInvalidRequest, `${SERVER} redirected ${what} more than ${MAX_REDIRECTS} times (last to ${describeUrl(next.href)}).`, {
          nonRetryable: true,
        });
      }
      if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') {
        throw davFailure(
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
    if (!(error instanceof ApplicationFailure)) return error;
    if (!this.#secrets.some((secret) => error.message.includes(secret))) return error;
    const message = this.#secrets.reduce((text, secret) => text.split(secret).join('[redacted]'), error.message);
    return davFailure(error.type ?? FAILURE_TYPES.providerBadResponse, message, {
      nonRetryable: error.nonRetryable ?? false,
      nextRetryDelay: msOptionalToNumber(error.nextRetryDelay ?? undefined),
    });
  }

  async #once(
    request: DavRequest,
    url: string,
    what: string,
    withCredentials: boolean,
  ): Promise<DavResponse & { location: string | null }> {
    request.signal.throwIfAborted();
    await checkDestination(new URL(url), this.#allowPrivateAddresses, `${SERVER} for ${what}`);
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([request.signal, timeout]);
    try {
      const response = await fetch(url, {
        method: request.method,
        headers: {
          ...(withCredentials ? { Authorization: this.#authorization } : {}),
          ...(request.depth === undefined ? {} : { Depth: request.depth }),
          'Content-Type': 'application/xml; charset=utf-8',
          Accept: 'application/xml, text/xml',
        },
        body: request.body,
        redirect: 'manual',
        signal,
      });
      // Read the whole body under the same deadline: a server can stall halfway through a page.
      const body = await response.text();
      return {
        status: response.status,
        url,
        body,
        retryAfter: response.headers.get('retry-after'),
        location: response.headers.get('location'),
      };
    } catch (error) {
      if (request.signal.aborted) throw request.signal.reason;
      if (timeout.aborted) {
        throw davFailure(FAILURE_TYPES.providerUnavailable, `${SERVER} did not answer ${what} at ${describeUrl(url)} within ${timeoutMs} ms.`);
      }
      throw davFailure(FAILURE_TYPES.providerUnavailable, `Could not reach the CardDAV server for ${what} at ${describeUrl(url)}: ${describeNetworkError(error)}`, {
        cause: error instanceof Error ? error : undefined,
      });
    }
  }
}
