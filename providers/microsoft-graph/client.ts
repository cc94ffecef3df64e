/**
 * HTTP client for the Microsoft Graph requests an import makes: `GET`s of contact folder listings
 * and contact delta pages, below the configured base URL only.
 *
 * It classifies every answer where it comes (the Google client's rules, `kit/failures.ts`): 401 and
 * 403 fail for good, 429, 503 and 504 retry when `Retry-After` says, other 4xx are final. Two answers
 * are the caller's to judge, because what they mean depends on what was asked: `404` (a folder that
 * no longer exists) and an expired delta link (`410 Gone`, or the error code `SyncStateNotFound`).
 *
 * Links Graph hands back (`@odata.nextLink`, `@odata.deltaLink`) are followed only when they point
 * below the base URL: the access token goes to Graph and to nothing else, whatever a server sends.
 * The token goes into the `Authorization` header only: no message, no log.
 */
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure, httpStatusFailure, jsonOrUndefined, outboundFailure, plainProblem, redactSecrets } from '../kit/failures';
import { httpRequest, type OutboundLimits } from '../kit/http';
import type { AccessTokens } from '../kit/oauth';
import type { MailboxRequests } from './mailbox-limit';

export const API_NAME = 'Microsoft Graph';
/** The API version every request names, and every link Graph hands back starts with. */
export const GRAPH_VERSION = '/v1.0';
/** Longest link kept: Graph's are a few hundred characters; anything far longer is not one. */
export const MAX_LINK_CHARS = 4096;

/** Error codes of an expired or unknown delta state, however Graph spells them. */
const EXPIRED_DELTA_CODES = new Set(['syncstatenotfound', 'syncstateinvalid', 'resyncrequired']);

const graphErrorSchema = z.object({ error: z.object({ code: z.string().optional(), message: z.string().optional() }) });

/** What a `GET` came to, when it is not a failure: the body, or one of the answers its caller judges. */
export type GraphResult =
  | { ok: true; body: unknown }
  /** `404`: what was asked for does not exist (any more). */
  | { ok: false; problem: 'not_found'; message: string }
  /** `410`, or `SyncStateNotFound`: the delta link (or its next link) is no longer valid. */
  | { ok: false; problem: 'expired'; message: string };

export interface GraphClientOptions {
  /** e.g. `https://graph.microsoft.com`, or the demo provider's URL; no trailing slash. */
  baseUrl: string;
  /** The mailbox's access tokens (`kit/oauth.ts`): a 401 is refreshed and asked once more. */
  auth: AccessTokens;
  /** Where every request waits for its turn (`mailbox-limit.ts`). */
  requests: MailboxRequests;
  /** Whole request, body included, instead of `limits.requestTimeoutMs`. */
  timeoutMs?: number;
  /** The worker's outbound limits (`kit/http.ts`); the defaults when absent. */
  limits?: OutboundLimits;
  /** Loopback and private addresses allowed beyond the base URL's origin (`SOURCES_ALLOW_PRIVATE_ADDRESSES`). */
  allowPrivateAddresses?: boolean;
}

/** "(429 TooManyRequests): Too many requests" from Graph's error body, or a short excerpt of whatever came. */
function describeError(status: number, body: string): { code: string | undefined; text: string } {
  const parsed = graphErrorSchema.safeParse(jsonOrUndefined(body));
  const code = parsed.success ? parsed.data.error.code : undefined;
  const detail = parsed.success ? parsed.data.error.message : body.replace(/\s+/g, ' ').trim().slice(0, 200);
  return { code, text: `(${status}${code ? ` ${code}` : ''})${detail ? `: ${detail}` : ''}` };
}

export class GraphClient {
  readonly #options: GraphClientOptions;

  constructor(options: GraphClientOptions) {
    this.#options = options;
  }

  /**
   * The part of `link` below the base URL (`/v1.0/me/…?$skiptoken=…`), or `null` when `link` is not
   * a link into Graph at this base URL (another host, another version, too long).
   */
  refOf(link: string): string | null {
    const base = this.#options.baseUrl;
    if (link.length > MAX_LINK_CHARS || !link.startsWith(`${base}/`)) return null;
    const ref = link.slice(base.length);
    return ref.startsWith(`${GRAPH_VERSION}/`) ? ref : null;
  }

  /**
   * `GET` of `ref` (a path and query below the base URL, starting with {@link GRAPH_VERSION}),
   * asking for pages of at most `maxPageSize` when given. Throws an `ApplicationFailure` typed with
   * the contract's `Provider…` types for the answers only a retry (or nothing) can fix, and
   * `signal.reason` unchanged when `signal` aborts.
   */
  async get(ref: string, signal: AbortSignal, maxPageSize?: number): Promise<GraphResult> {
    const { auth, requests } = this.#options;
    if (!ref.startsWith(`${GRAPH_VERSION}/`)) throw new RangeError(`not a Graph path: ${ref}`);
    let sent = '';
    try {
      return await auth.withAccessToken((accessToken) => {
        sent = accessToken;
        return requests.run(() => this.#send(ref, accessToken, signal, maxPageSize), signal);
      }, signal);
    } catch (error) {
      // Belt and braces: no message leaves this module with the token in it, whatever the server echoed.
      throw redactSecrets(error, [sent]);
    }
  }

  async #send(ref: string, accessToken: string, signal: AbortSignal, maxPageSize: number | undefined): Promise<GraphResult> {
    if (accessToken === '') {
      throw failure(FAILURE_TYPES.providerUnauthenticated, 'No access token was given. Ask the user to connect their account.', { nonRetryable: true });
    }
    const { baseUrl, timeoutMs, limits, allowPrivateAddresses } = this.#options;
    const outcome = await httpRequest(
      {
        method: 'GET',
        url: `${baseUrl}${ref}`,
        headers: {
          Authorization: `Bearer ${accessToken}`,
          Accept: 'application/json',
          ...(maxPageSize === undefined ? {} : { Prefer: `odata.maxpagesize=${maxPageSize}` }),
        },
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        limits,
        // The operator's base URL may be private (the demo provider); nothing else is reached.
        destinations: { allowPrivate: allowPrivateAddresses ?? false, trustedOrigins: [new URL(baseUrl).origin] },
        signal,
        // A redirect would carry the token along: Graph sends none to these requests.
        redirect: 'manual',
      },
      'text',
    );
    if (outcome.kind === 'aborted') throw signal.reason ?? new Error('the Graph request was aborted');
    if (outcome.kind !== 'answer') throw outboundFailure(plainProblem(outcome), API_NAME);
    const { status, headers, body } = outcome;
    if (status >= 200 && status <= 299) {
      const json = jsonOrUndefined(body);
      if (json === undefined) throw failure(FAILURE_TYPES.providerBadResponse, `${API_NAME} answered ${status} with a body that is not JSON.`);
      return { ok: true, body: json };
    }
    const { code, text } = describeError(status, body);
    if (status === 410 || (code !== undefined && EXPIRED_DELTA_CODES.has(code.toLowerCase()))) return { ok: false, problem: 'expired', message: text };
    if (status === 404) return { ok: false, problem: 'not_found', message: text };
    throw httpStatusFailure(status, headers.get('retry-after'), {
      unauthenticated: `${API_NAME} rejected the access token ${text}. Ask the user to reconnect their account.`,
      permissionDenied: `${API_NAME} refused access ${text}. Ask the user to reconnect and allow reading their contacts (Contacts.Read).`,
      throttled: (after) => `${API_NAME} is throttling requests ${text}.${after}`,
      unavailable: (after) => `${API_NAME} is unavailable ${text}.${after}`,
      invalidRequest: `${API_NAME} refused the request as invalid ${text}. Retrying the same request will not help.`,
      unexpected: `${API_NAME} answered with unexpected HTTP status ${text}.`,
    });
  }
}
