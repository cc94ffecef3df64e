/**
 * One `connections.list` request, and its answer read into contacts: JSON, the page's envelope,
 * each person.
 *
 * Plain data in and out (what went wrong is a value, not a failure: `client.ts` turns it into
 * one), so it runs as well on a decode thread (`page-decoder.ts`) as on the worker's own thread. On a
 * thread each contact's `raw` comes back already serialised (`rawJson`): a string crosses threads
 * in one copy, while an object would be rebuilt field by field on the other side.
 */
import { z } from 'zod';
import type { DestinationPolicy } from '../kit/destinations';
import { plainProblem, type OutboundProblem } from '../kit/failures';
import { httpRequest, type OutboundLimits } from '../kit/http';
import type { ContactRecord, RejectedRecord } from '../../db/types';
import type { PhoneRegion } from '../kit/normalize';
import { readPeople } from './person';
import { splitDeleted } from './sync';

/** A page's contents, with no failure in it: the caller (`client.ts`) turns problems into failures. */
export interface DecodedConnections {
  contacts: ContactRecord[];
  rejected: RejectedRecord[];
  /** `null` on the last page. */
  nextPageToken: string | null;
  totalPeople: number | null;
  deleted?: string[];
  nextSyncToken?: string;
}

/** What a body decodes to: the page, or why it is not one (`excerpt` is the start of a body that is not JSON). */
export type DecodeResult =
  | { ok: true; page: DecodedConnections }
  | { ok: false; problem: 'not_json'; excerpt: string }
  | { ok: false; problem: 'bad_shape'; where: string };

/** What to decode: the body as received, and how to read it. */
export interface DecodeRequest {
  body: string | Uint8Array;
  /** The page's own token, to say where a person without an id was. */
  pageToken: string | null;
  defaultRegion?: PhoneRegion;
  /** Serialise each contact's `raw` into `rawJson` (a decode thread does; the worker's own thread need not). */
  serializeRaw: boolean;
}

const utf8 = new TextDecoder();

const connectionsResponseSchema = z.looseObject({
  // Google omits `connections` altogether when the list is empty.
  // Each person is read on its own (`readPeople`): one malformed person must not sink the page.
  connections: z.array(z.unknown()).optional(),
  nextPageToken: z.string().optional(),
  nextSyncToken: z.string().optional(),
  totalPeople: z.number().int().nonnegative().optional(),
  totalItems: z.number().int().nonnegative().optional(),
});

/** One page to ask for: the whole URL, the token for its header, and how to read the answer. */
export interface PageRequestSpec {
  url: string;
  /** OAuth access token; it goes into the `Authorization` header and nowhere else. */
  accessToken: string;
  /** Whole request, body included, instead of `limits.requestTimeoutMs`. */
  timeoutMs?: number;
  /** The worker's outbound limits; the defaults when absent. */
  limits?: OutboundLimits;
  /** Where it may connect: the configured API's origin, and public addresses past its redirects. */
  destinations: DestinationPolicy;
  pageToken: string | null;
  defaultRegion?: PhoneRegion;
}

/** What one request came to, as plain data. */
export type PageOutcome =
  | { kind: 'page'; status: number; result: DecodeResult }
  /** Any answer but a 2xx: its body as text, for the failure's message. */
  | { kind: 'http'; status: number; body: string; retryAfter: string | null }
  /** No answer (unreachable, a limit passed, a refused address), or the caller's signal aborted it. */
  | OutboundProblem;

/** Asks for one page and reads it; never rejects. `serializeRaw` as in {@link DecodeRequest}. */
export async function requestConnections(spec: PageRequestSpec, serializeRaw: boolean, signal?: AbortSignal): Promise<PageOutcome> {
  const outcome = await httpRequest(
    {
      method: 'GET',
      url: spec.url,
      headers: { Authorization: `Bearer ${spec.accessToken}`, Accept: 'application/json' },
      timeoutMs: spec.timeoutMs,
      limits: spec.limits,
      destinations: spec.destinations,
      signal,
    },
    'bytes',
  );
  if (outcome.kind !== 'answer') return plainProblem(outcome);
  const { status, headers, body } = outcome;
  if (status < 200 || status > 299) return { kind: 'http', status, body: utf8.decode(body), retryAfter: headers.get('retry-after') };
  const { pageToken, defaultRegion } = spec;
  return { kind: 'page', status, result: decodeConnections({ body, pageToken, defaultRegion, serializeRaw }) };
}

/** The first 200 characters of `body`, whitespace folded: enough to recognise a proxy's error page. */
export function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/** Reads one `connections.list` body. Never throws for what the body holds. */
export function decodeConnections(request: DecodeRequest): DecodeResult {
  const body = typeof request.body === 'string' ? request.body : utf8.decode(request.body);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'not_json', excerpt: excerpt(body) };
  }
  const parsed = connectionsResponseSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, problem: 'bad_shape', where: issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown issue' };
  }
  const envelope = parsed.data;
  // Deleted people (incremental reads) carry no fields to read: only their resource names count.
  const { live, deleted } = splitDeleted(envelope.connections ?? []);
  const { contacts, rejected } = readPeople(live, request.pageToken, request.defaultRegion);
  if (request.serializeRaw) {
    for (const contact of contacts) {
      contact.rawJson = JSON.stringify(contact.raw ?? null);
      contact.raw = undefined;
    }
  }
  return {
    ok: true,
    page: {
      contacts,
      rejected,
      ...(deleted.length > 0 ? { deleted } : {}),
      ...(envelope.nextSyncToken ? { nextSyncToken: envelope.nextSyncToken } : {}),
      // An empty string is how some proxies spell "no more pages"; treat it as the end, not a token.
      nextPageToken: envelope.nextPageToken ? envelope.nextPageToken : null,
      totalPeople: envelope.totalPeople ?? envelope.totalItems ?? null,
    },
  };
}
