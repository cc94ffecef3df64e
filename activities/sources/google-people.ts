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
import { cutUtf8 } from '../../db/rejects';
import type { ContactRecord, RejectedRecord } from '../../db/types';
import { FAILURE_TYPES } from '../../workflows/contract';
import { describeNetworkError, failure } from '../failures';
import { buildDisplayName, DEFAULT_PHONE_REGION, normalizeEmail, normalizePhone, type PhoneRegion } from '../normalize';
import type { ImportOwner } from '../../workflows/contract';
import { createGoogleAuth } from './google-auth';
import { googleSyncParams, isExpiredSyncToken, setSyncParams, splitDeleted } from './google-sync';
import { SyncTokenExpiredError, type ContactSource, type SourceSettings, type SyncRequest } from './types';

/** The fields we ask for: what {@link toContactRecord} maps, plus `metadata` for the raw record. */
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
}

export interface ConnectionsPage {
  contacts: ContactRecord[];
  /** People on the page that are not the documented shape: set aside, the rest of the page is fine. */
  rejected: RejectedRecord[];
  /** `null` on the last page. */
  nextPageToken: string | null;
  /** The provider's count of all connections, when it reports one. */
  totalPeople: number | null;
  /** Incremental reads: resource names of people deleted since the sync token. */
  deleted?: string[];
  /** On the last page of a read with `sync`: the token for the next incremental read. */
  nextSyncToken?: string;
}

const fieldMetadataSchema = z.looseObject({ primary: z.boolean().optional() });

/** A repeated People field (`names`, `emailAddresses`, …): entries of optional strings, each with its metadata. */
function repeatedField<K extends string>(...keys: K[]) {
  const entry = Object.fromEntries(keys.map((key) => [key, z.string().optional()])) as Record<K, z.ZodOptional<z.ZodString>>;
  return z.array(z.looseObject({ ...entry, metadata: fieldMetadataSchema.optional() })).optional();
}

const personSchema = z.looseObject({
  resourceName: z.string().min(1),
  etag: z.string().min(1),
  names: repeatedField('displayName', 'givenName', 'familyName'),
  emailAddresses: repeatedField('value'),
  phoneNumbers: repeatedField('value', 'canonicalForm'),
  organizations: repeatedField('name'),
});

/** A People API `Person` as far as we read it; every other field is kept as received. */
export type Person = z.infer<typeof personSchema>;

const connectionsResponseSchema = z.looseObject({
  // Google omits `connections` altogether when the list is empty.
  // Each person is read on its own (`readPeople`): one malformed person must not sink the page.
  connections: z.array(z.unknown()).optional(),
  nextPageToken: z.string().optional(),
  nextSyncToken: z.string().optional(),
  totalPeople: z.number().int().nonnegative().optional(),
  totalItems: z.number().int().nonnegative().optional(),
});

const googleErrorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
  }),
});

/** The primary entry of a repeated People field: the one marked `primary`, else the first. */
function primary<T extends { metadata?: { primary?: boolean } | undefined }>(items: readonly T[] | undefined): T | undefined {
  if (!items) return undefined;
  return items.find((item) => item.metadata?.primary === true) ?? items[0];
}

function text(value: string | undefined): string | null {
  if (value === undefined) return null;
  // PostgreSQL text cannot hold NUL; a provider that sends one must not stall the import.
  const trimmed = value.replaceAll('\u0000', '').trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * The people of one page: those that parse become contacts, the others rejects with where they
 * were (their `resourceName` when they have one, else their place on the page) and why.
 */
export function readPeople(
  people: readonly unknown[],
  pageToken: string | null,
  defaultRegion: PhoneRegion = DEFAULT_PHONE_REGION,
): Pick<ConnectionsPage, 'contacts' | 'rejected'> {
  const contacts: ContactRecord[] = [];
  const rejected: RejectedRecord[] = [];
  people.forEach((person, index) => {
    const parsed = personSchema.safeParse(person);
    if (parsed.success) {
      contacts.push(toContactRecord(parsed.data, defaultRegion));
      return;
    }
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || '(person)';
    const name = (person as { resourceName?: unknown } | null)?.resourceName;
    rejected.push({
      position: typeof name === 'string' && name !== '' ? name : `page ${pageToken ?? 'first'} item ${index}`,
      reason: typeof name === 'string' && name !== '' ? 'invalid_record' : 'no_identity',
      message: `${API_NAME} sent a person that is not the documented shape (${field}: ${issue?.message ?? 'invalid'})`,
      excerpt: cutUtf8(JSON.stringify(person) ?? String(person)),
    });
  });
  return { contacts, rejected };
}

/**
 * Maps a People API `Person` to the row we store. Each column takes the primary entry of its field
 * (`metadata.primary`, else the first); a missing field is `null`. `raw` is the person unchanged.
 */
export function toContactRecord(person: Person, defaultRegion: PhoneRegion = DEFAULT_PHONE_REGION): ContactRecord {
  const name = primary(person.names);
  const phone = primary(person.phoneNumbers);
  const raw = text(phone?.value) ?? text(phone?.canonicalForm);
  // Google already gives E.164 as `canonicalForm` for numbers it understood; only the others need
  // the (much slower) phone-number library.
  const canonical = text(phone?.canonicalForm);
  const phoneE164 = canonical?.startsWith('+') ? canonical : normalizePhone(raw, defaultRegion).phoneE164;
  return {
    externalId: person.resourceName,
    etag: person.etag,
    displayName: text(name?.displayName) ?? (name ? buildDisplayName({ given: name.givenName, family: name.familyName }) : null),
    email: normalizeEmail(primary(person.emailAddresses)?.value),
    phone: raw,
    phoneE164,
    organization: text(primary(person.organizations)?.name),
    raw: person,
  };
}


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

function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
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
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;

  try {
    let response: Response;
    let body: string;
    try {
      response = await fetch(url, {
        method: 'GET',
        headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' },
        signal: combined,
      });
      // Read the whole body under the same deadline: a server can stall halfway through a page.
      body = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw failure(PROVIDER_FAILURE.unavailable, `${API_NAME} did not answer within ${timeoutMs} ms.`);
      }
      throw failure(PROVIDER_FAILURE.unavailable, `Could not reach ${API_NAME}: ${describeNetworkError(error)}`, {
        cause: error instanceof Error ? error : undefined,
      });
    }

    if (!response.ok) {
      if (opts.sync !== undefined && 'since' in opts.sync && isExpiredSyncToken(response.status, body)) {
        throw new SyncTokenExpiredError(`${API_NAME} no longer accepts the sync token (${response.status}): reading everything instead.`);
      }
      throw classifyHttpError(response.status, body, response.headers.get('retry-after'));
    }

    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw failure(PROVIDER_FAILURE.badResponse, `${API_NAME} answered ${response.status} with a body that is not JSON: ${excerpt(body)}`);
    }
    const parsed = connectionsResponseSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown issue';
      throw failure(PROVIDER_FAILURE.badResponse, `${API_NAME} answered with a page that is not the documented shape (${where}).`);
    }
    const page = parsed.data;
    // Deleted people (incremental reads) carry no fields to read: only their resource names count.
    const { live, deleted } = splitDeleted(page.connections ?? []);
    return {
      ...readPeople(live, pageToken, opts.defaultRegion),
      ...(deleted.length > 0 ? { deleted } : {}),
      ...(page.nextSyncToken ? { nextSyncToken: page.nextSyncToken } : {}),
      // An empty string is how some proxies spell "no more pages"; treat it as the end, not a token.
      nextPageToken: page.nextPageToken ? page.nextPageToken : null,
      totalPeople: page.totalPeople ?? page.totalItems ?? null,
    };
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
