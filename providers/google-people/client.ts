/**
 * HTTP client for the Google People API `people.connections.list`, the one call an import needs.
 *
 * It runs inside Temporal activities, so it classifies every failure where it happens: permanent
 * ones (bad credentials, bad request) become non-retryable {@link ApplicationFailure}s, throttling
 * carries the server's `Retry-After` as `nextRetryDelay`, and everything transient is retryable.
 * The access token goes into the `Authorization` header and nowhere else: no message, no log.
 */
import { ApplicationFailure } from '@temporalio/common';
import { msOptionalToNumber } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import type { PhoneRegion } from '../kit/normalize';
import type { ImportOwner } from '../../workflows/contract';
import { createGoogleAuth } from '../kit/oauth';
import { excerpt, type DecodedConnections } from './page';
import { inlineDecoder, type PageDecoder } from './page-decoder';
import { googleSyncParams, isExpiredSyncToken, setSyncParams } from './sync';
import { SyncTokenExpiredError, type ContactSource, type SourceSettings, type SyncRequest } from '../types';

// Reading one person (validation and mapping) is its own module; these are its public names.
export { readPeople, toContactRecord, type Person } from './person';

/** The fields we ask for: what `toContactRecord` maps, plus `metadata` for the raw record. */
export const PERSON_FIELDS = 'names,emailAddresses,phoneNumbers,organizations,metadata';

/** The People API accepts page sizes from 1 to 1000. */
export const MAX_PAGE_SIZE = 1000;

/** The failure types this module throws, by meaning (the contract defines them all). */
export const PROVIDER_FAILURE = {
  unauthenticated: FAILURE_TYPES.providerUnauthenticated,
  permissionDenied: FAILURE_TYPES.providerPermissionDenied,
  invalidRequest: FAILURE_TYPES.providerInvalidRequest,
  throttled: FAILURE_TYPES.providerThrottled,
  unavailable: FAILURE_TYPES.providerUnavailable,
  badResponse: FAILURE_TYPES.providerBadResponse,
} as const;

export type ProviderFailureType = (typeof PROVIDER_FAILURE)[keyof typeof PROVIDER_FAILURE];

const DEFAULT_TIMEOUT_MS = 60_000;
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
  /** Whole request, body included. Default 60000. */
  timeoutMs?: number;
  /** Region for phone numbers without a country code; `US` when absent. */
  defaultRegion?: PhoneRegion;
  /** Ask for a sync token, or for the changes since one (google-sync.ts). */
  sync?: SyncRequest;
  /** Where the request is made and its body decoded (page-decoder.ts); on this thread when absent. */
  decoder?: PageDecoder;
}

/** One page of connections, read (google-page.ts). */
export type ConnectionsPage = DecodedConnections;

const googleErrorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
  }),
});

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP-date. `undefined` when absent or
 * unreadable, so the retry policy's own backoff applies.
 */
export function parseRetryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse is lenient ("-5" parses as a year), so insist on the shape of an HTTP-date.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

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
  const nextRetryDelay = parseRetryAfter(retryAfter);
  const after = nextRetryDelay === undefined ? '' : ` Retrying after ${Math.ceil(nextRetryDelay / 1000)} s.`;
  if (httpStatus === 401) {
    return failure(
      PROVIDER_FAILURE.unauthenticated,
      `${API_NAME} rejected the access token ${what}. Ask the user to reconnect their account.`,
      { nonRetryable: true },
    );
  }
  if (httpStatus === 403) {
    return failure(
      PROVIDER_FAILURE.permissionDenied,
      `${API_NAME} refused access ${what}. Ask the user to reconnect and allow access to their contacts, or enable the People API for this project.`,
      { nonRetryable: true },
    );
  }
  if (httpStatus === 429) {
    return failure(PROVIDER_FAILURE.throttled, `${API_NAME} is throttling requests ${what}.${after}`, { nextRetryDelay });
  }
  // 408 is the server giving up on a slow request: as transient as a 5xx.
  if (httpStatus >= 500 || httpStatus === 408) {
    return failure(PROVIDER_FAILURE.unavailable, `${API_NAME} is unavailable ${what}.${after}`, { nextRetryDelay });
  }
  if (httpStatus >= 400) {
    return failure(
      PROVIDER_FAILURE.invalidRequest,
      `${API_NAME} refused the request as invalid ${what}. Retrying the same request will not help.`,
      { nonRetryable: true },
    );
  }
  return failure(PROVIDER_FAILURE.badResponse, `${API_NAME} answered with unexpected HTTP status ${what}.`);
}

/** Belt and braces: no message leaves this module with the token in it, whatever the server echoed. */
function redact(error: unknown, accessToken: string): unknown {
  if (accessToken !== '' && error instanceof ApplicationFailure && error.message.includes(accessToken)) {
    return failure(error.type as ProviderFailureType, error.message.split(accessToken).join('[redacted]'), {
      nonRetryable: error.nonRetryable ?? false,
      nextRetryDelay: msOptionalToNumber(error.nextRetryDelay ?? undefined),
    });
  }
  return error;
}

/**
 * Fetches one page of the signed-in user's connections (`GET /v1/people/me/connections`).
 *
 * Throws an {@link ApplicationFailure} whose `type` is one of {@link PROVIDER_FAILURE}, except when
 * `signal` aborts: then it throws `signal.reason` unchanged, so callers can tell cancellation from
 * a provider failure.
 */
export async function fetchConnectionsPage(opts: FetchPageOptions): Promise<ConnectionsPage> {
  const { accessToken, pageSize, pageToken, signal } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw failure(PROVIDER_FAILURE.invalidRequest, `pageSize must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${pageSize})`, {
      nonRetryable: true,
    });
  }
  if (accessToken === '') {
    throw failure(PROVIDER_FAILURE.unauthenticated, 'No access token was given. Ask the user to connect their account.', {
      nonRetryable: true,
    });
  }
  signal?.throwIfAborted();

  const params = new URLSearchParams({ personFields: PERSON_FIELDS, pageSize: String(pageSize) });
  if (pageToken !== null) params.set('pageToken', pageToken);
  setSyncParams(params, opts.sync);
  // String concatenation, not `new URL(path, base)`, keeps a path prefix in baseUrl (a proxy, say).
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/v1/people/me/connections?${params.toString()}`;

  try {
    const outcome = await (opts.decoder ?? inlineDecoder).request(
      { url, accessToken, timeoutMs, pageToken, defaultRegion: opts.defaultRegion },
      signal,
    );
    switch (outcome.kind) {
      case 'aborted':
        throw signal?.reason ?? new Error('the page request was aborted');
      case 'timeout':
        throw failure(PROVIDER_FAILURE.unavailable, `${API_NAME} did not answer within ${timeoutMs} ms.`);
      case 'network':
        throw failure(PROVIDER_FAILURE.unavailable, `Could not reach ${API_NAME}: ${outcome.message}`);
      case 'http':
        if (opts.sync !== undefined && 'since' in opts.sync && isExpiredSyncToken(outcome.status, outcome.body)) {
          throw new SyncTokenExpiredError(`${API_NAME} no longer accepts the sync token (${outcome.status}): reading everything instead.`);
        }
        throw classifyHttpError(outcome.status, outcome.body, outcome.retryAfter);
      case 'page': {
        const decoded = outcome.result;
        if (!decoded.ok && decoded.problem === 'not_json') {
          throw failure(PROVIDER_FAILURE.badResponse, `${API_NAME} answered ${outcome.status} with a body that is not JSON: ${decoded.excerpt}`);
        }
        if (!decoded.ok) {
          throw failure(PROVIDER_FAILURE.badResponse, `${API_NAME} answered with a page that is not the documented shape (${decoded.where}).`);
        }
        return decoded.page;
      }
    }
  } catch (error) {
    throw redact(error, accessToken);
  }
}

/**
 * The Google People source: the sealed credentials are the OAuth access token itself, and the
 * cursor is the API's `pageToken`.
 */
export function googlePeopleSource(credentials: string, settings: SourceSettings, owner: ImportOwner): ContactSource {
  // The access token, refreshed with the stored refresh token when there is one (google-auth.ts).
  const auth = createGoogleAuth(credentials, settings, owner);
  return {
    syncParams: googleSyncParams(PERSON_FIELDS),
    async fetchPage({ cursor, pageSize, signal, sync }) {
      const page = await auth.withAccessToken(
        (accessToken) =>
          fetchConnectionsPage({
            baseUrl: settings.googlePeopleBaseUrl,
            accessToken,
            pageSize,
            pageToken: cursor,
            signal,
            defaultRegion: settings.defaultPhoneRegion,
            sync,
            decoder: settings.pageDecoder,
          }),
        signal,
      );
      return {
        contacts: page.contacts,
        rejected: page.rejected,
        nextCursor: page.nextPageToken,
        total: page.totalPeople,
        ...(page.deleted ? { deleted: page.deleted } : {}),
        ...(page.nextSyncToken ? { syncToken: page.nextSyncToken } : {}),
      };
    },
  };
}
