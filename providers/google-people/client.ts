/**
 * HTTP client for the Google People API `people.connections.list`, the one call an import needs.
 *
 * It runs inside Temporal activities, so it classifies every failure where it happens: permanent
 * ones (bad credentials, bad request) become non-retryable {@link ApplicationFailure}s, throttling
 * carries the server's `Retry-After` as `nextRetryDelay`, and everything transient is retryable.
 * The access token goes into the `Authorization` header and nowhere else: no message, no log.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure, httpStatusFailure, outboundFailure, redactSecrets } from '../kit/failures';
import type { OutboundLimits } from '../kit/http';
import type { PhoneRegion } from '../kit/normalize';
import { SyncTokenExpiredError, type SyncRequest } from '../types';
import { excerpt, type DecodedConnections } from './page';
import { inlineDecoder, type PageDecoder } from './page-decoder';
import { isExpiredSyncToken, setSyncParams } from './sync';

/** The fields we ask for: what `toContactRecord` maps, plus `metadata` for the raw record. */
export const PERSON_FIELDS = 'names,emailAddresses,phoneNumbers,organizations,metadata';

/** The People API accepts page sizes from 1 to 1000. */
export const MAX_PAGE_SIZE = 1000;

const API_NAME = 'Google People API';

export interface FetchPageOptions {
  /** e.g. `https://people.googleapis.com`, or the demo provider's URL. A trailing slash is fine. */
  baseUrl: string;
  /** OAuth access token with the `contacts.readonly` scope. Never logged. */
  accessToken: string;
  /** 1..1000. */
  pageSize: number;
  /** `nextPageToken` of the previous page; `null` for the first page. */
  pageToken: string | null;
  /** Cancellation (e.g. the activity's `cancellationSignal`). Its abort is rethrown unchanged. */
  signal?: AbortSignal;
  /** Whole request, body included, instead of `limits.requestTimeoutMs`. */
  timeoutMs?: number;
  /** The worker's outbound limits (`kit/http.ts`); the defaults when absent. */
  limits?: OutboundLimits;
  /**
   * Let redirects reach loopback and private addresses (`SOURCES_ALLOW_PRIVATE_ADDRESSES`). The
   * configured `baseUrl` is the operator's, and may be private either way.
   */
  allowPrivateAddresses?: boolean;
  /** Region for phone numbers without a country code; `US` when absent. */
  defaultRegion?: PhoneRegion;
  /** Ask for a sync token, or for the changes since one (sync.ts). */
  sync?: SyncRequest;
  /** Where the request is made and its body decoded (page-decoder.ts); on this thread when absent. */
  decoder?: PageDecoder;
}

/** One page of connections, read (page.ts). */
export type ConnectionsPage = DecodedConnections;

const googleErrorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
  }),
});

/** "(429 RESOURCE_EXHAUSTED): Quota exceeded…" from Google's error body, or a short excerpt of whatever came. */
function describeErrorBody(httpStatus: number, body: string): string {
  let parsed: z.infer<typeof googleErrorSchema> | undefined;
  try {
    const result = googleErrorSchema.safeParse(JSON.parse(body));
    if (result.success) parsed = result.data;
  } catch {
    // Not JSON (a proxy's HTML page, say): fall through to the excerpt.
  }
  const status = parsed?.error.status ? ` ${parsed.error.status}` : '';
  const code = parsed?.error.code ?? httpStatus;
  const detail = parsed?.error.message ?? excerpt(body);
  return `(${code}${status})${detail ? `: ${detail}` : ''}`;
}

function classifyHttpError(httpStatus: number, body: string, retryAfter: string | null): ApplicationFailure {
  const what = describeErrorBody(httpStatus, body);
  return httpStatusFailure(httpStatus, retryAfter, {
    unauthenticated: `${API_NAME} rejected the access token ${what}. Ask the user to reconnect their account.`,
    permissionDenied: `${API_NAME} refused access ${what}. Ask the user to reconnect and allow access to their contacts, or enable the People API for this project.`,
    throttled: (after) => `${API_NAME} is throttling requests ${what}.${after}`,
    unavailable: (after) => `${API_NAME} is unavailable ${what}.${after}`,
    invalidRequest: `${API_NAME} refused the request as invalid ${what}. Retrying the same request will not help.`,
    unexpected: `${API_NAME} answered with unexpected HTTP status ${what}.`,
  });
}

/**
 * Fetches one page of the signed-in user's connections (`GET /v1/people/me/connections`).
 *
 * Throws an {@link ApplicationFailure} typed with the contract's `Provider…` failure types, except when
 * `signal` aborts: then it throws `signal.reason` unchanged, so callers can tell cancellation from
 * a provider failure.
 */
export async function fetchConnectionsPage(opts: FetchPageOptions): Promise<ConnectionsPage> {
  const { accessToken, pageSize, pageToken, signal, timeoutMs, limits } = opts;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw failure(FAILURE_TYPES.providerInvalidRequest, `pageSize must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${pageSize})`, {
      nonRetryable: true,
    });
  }
  if (accessToken === '') {
    throw failure(FAILURE_TYPES.providerUnauthenticated, 'No access token was given. Ask the user to connect their account.', {
      nonRetryable: true,
    });
  }
  signal?.throwIfAborted();

  const params = new URLSearchParams({ personFields: PERSON_FIELDS, pageSize: String(pageSize) });
  if (pageToken !== null) params.set('pageToken', pageToken);
  setSyncParams(params, opts.sync);
  // String concatenation, not `new URL(path, base)`, keeps a path prefix in baseUrl (a proxy, say).
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/v1/people/me/connections?${params.toString()}`;
  const destinations = { allowPrivate: opts.allowPrivateAddresses ?? false, trustedOrigins: [new URL(url).origin] };

  try {
    const outcome = await (opts.decoder ?? inlineDecoder).request(
      { url, accessToken, timeoutMs, limits, destinations, pageToken, defaultRegion: opts.defaultRegion },
      signal,
    );
    switch (outcome.kind) {
      case 'aborted':
        throw signal?.reason ?? new Error('the page request was aborted');
      case 'timeout':
      case 'too_large':
      case 'refused':
      case 'network':
        throw outboundFailure(outcome, API_NAME);
      case 'http':
        if (opts.sync !== undefined && 'since' in opts.sync && isExpiredSyncToken(outcome.status, outcome.body)) {
          throw new SyncTokenExpiredError(`${API_NAME} no longer accepts the sync token (${outcome.status}): reading everything instead.`);
        }
        throw classifyHttpError(outcome.status, outcome.body, outcome.retryAfter);
      case 'page': {
        const decoded = outcome.result;
        if (!decoded.ok && decoded.problem === 'not_json') {
          throw failure(FAILURE_TYPES.providerBadResponse, `${API_NAME} answered ${outcome.status} with a body that is not JSON: ${decoded.excerpt}`);
        }
        if (!decoded.ok) {
          throw failure(FAILURE_TYPES.providerBadResponse, `${API_NAME} answered with a page that is not the documented shape (${decoded.where}).`);
        }
        return decoded.page;
      }
    }
  } catch (error) {
    // Belt and braces: no message leaves this module with the token in it, whatever the server echoed.
    throw redactSecrets(error, [accessToken]);
  }
}

