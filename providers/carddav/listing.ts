/**
 * What is in an address book, and the cards themselves.
 *
 * Listing: `sync-collection` (RFC 6578) when the server has it, which also hands us a sync token
 * to ask later "what changed since?", else `PROPFIND Depth: 1`. Either way the result is every
 * card's href and etag, **sorted by href**, which is what lets a cursor say "everything after this
 * href" instead of holding the listing. Cards: `addressbook-multiget` (RFC 6352 §8.7) for a
 * bounded list of hrefs.
 */
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import { type DavClient, describeUrl, failureForStatus } from './http';
import { type MultistatusEntry, eachMultistatusEntry, hrefPath, propKey, propfindBody } from './multistatus';
import { CARDDAV_NS, DAV_NS, childNamed, escapeXml } from './xml';

/** One card as a listing names it. */
export interface ListedCard {
  /** Path on the server (as the server spelled it): the card's identity. */
  href: string;
  /** The DAV etag, quotes included, when the server sent one. */
  etag: string | null;
}

/** An address book's cards, sorted by href, each href once. */
export interface Listing {
  cards: ListedCard[];
  /** The sync token of this state, when listed with `sync-collection`. */
  syncToken: string | null;
  /** A delta's members removed since its token (hrefs as the server spelled them), sorted. */
  removed?: string[];
}

/**
 * Deadline of one listing request. A listing names every card, so it takes far longer than a page
 * (measured in bench/README.md) and gets a deadline to match; the batch heartbeats meanwhile.
 */
export const LISTING_TIMEOUT_MS = 600_000;

/** How many truncated `sync-collection` answers (507, RFC 6578 §3.6) we continue before giving up. */
const MAX_SYNC_ROUNDS = 1000;

/** Code-unit order: the same on every worker and in every attempt, whatever the locale. */
export function compareHrefs(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The form two spellings of one href share (`%40` and `@`): the key hrefs are matched by. */
export function hrefKey(href: string): string {
  try {
    return decodeURIComponent(href);
  } catch {
    return href;
  }
}

function sortedListing(byKey: ReadonlyMap<string, ListedCard>, syncToken: string | null, removed?: ReadonlyMap<string, string>): Listing {
  const cards = [...byKey.values()].sort((a, b) => compareHrefs(a.href, b.href));
  if (removed === undefined || removed.size === 0) return { cards, syncToken };
  return { cards, syncToken, removed: [...removed.values()].sort(compareHrefs) };
}

function etagOf(entry: MultistatusEntry): string | null {
  return entry.props.get(propKey(DAV_NS, 'getetag'))?.text.trim() || null;
}

/** A member that is itself a collection, or the address book's own entry, is not a card. */
function isCard(entry: MultistatusEntry, bookPath: string): boolean {
  if (entry.href.endsWith('/') || hrefKey(entry.href) === hrefKey(bookPath)) return false;
  return childNamed(entry.props.get(propKey(DAV_NS, 'resourcetype')), DAV_NS, 'collection') === undefined;
}

/**
 * Lists with `sync-collection` from `token` (`''`: everything). Resolves to `null` when the
 * server cannot answer that way: it rejects the token (403 `valid-sync-token`) or does not
 * implement the report (400, 403, 405, 415, 422, 501); the caller then lists with PROPFIND.
 * A delta (non-empty token) lists only members changed since; removed ones are listed apart
 * (`removed`), for incremental imports to delete.
 */
export async function listBySync(client: DavClient, bookUrl: string, token: string, signal: AbortSignal): Promise<Listing | null> {
  const what = 'the sync-collection report';
  const bookPath = hrefPath(bookUrl, bookUrl);
  const byKey = new Map<string, ListedCard>();
  const removed = new Map<string, string>();
  let current = token;
  for (let round = 0; round < MAX_SYNC_ROUNDS; round++) {
    const body =
      '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">' +
      `<d:sync-token>${escapeXml(current)}</d:sync-token><d:sync-level>1</d:sync-level>` +
      '<d:prop><d:getetag/></d:prop></d:sync-collection>';
    const response = await client.send({ method: 'REPORT', url: bookUrl, depth: '0', body, signal, timeoutMs: LISTING_TIMEOUT_MS }, what);
    if (response.status !== 207) {
      if ([400, 403, 405, 415, 422, 501].includes(response.status)) return null;
      throw failureForStatus(response, what);
    }
    let truncated = false;
    const { syncToken } = await eachMultistatusEntry(response, what, (entry) => {
      if (hrefKey(entry.href) === hrefKey(bookPath) || entry.href.endsWith('/')) {
        truncated ||= entry.status === 507;
        return;
      }
      if (entry.status === 404) {
        byKey.delete(hrefKey(entry.href));
        if (token !== '') removed.set(hrefKey(entry.href), entry.href);
      } else {
        byKey.set(hrefKey(entry.href), { href: entry.href, etag: etagOf(entry) });
        removed.delete(hrefKey(entry.href));
      }
    });
    const next = syncToken ?? '';
    if (next === '') {
      throw failure(FAILURE_TYPES.providerBadResponse, `The CardDAV server answered ${what} at ${describeUrl(bookUrl)} without a sync-token.`);
    }
    if (!truncated) return sortedListing(byKey, next, removed);
    current = next;
  }
  throw failure(FAILURE_TYPES.providerBadResponse, `The CardDAV server kept truncating ${what} at ${describeUrl(bookUrl)}.`);
}

/** Lists every card with `PROPFIND Depth: 1` (hrefs and etags). */
export async function listByPropfind(client: DavClient, bookUrl: string, signal: AbortSignal): Promise<Listing> {
  const what = 'the address book listing (PROPFIND)';
  const bookPath = hrefPath(bookUrl, bookUrl);
  const body = propfindBody('<d:resourcetype/><d:getetag/>');
  const response = await client.send({ method: 'PROPFIND', url: bookUrl, depth: '1', body, signal, timeoutMs: LISTING_TIMEOUT_MS }, what);
  if (response.status !== 207) throw failureForStatus(response, what);
  const byKey = new Map<string, ListedCard>();
  // Card by card as the body is read: a large book's entries are never all held at once.
  await eachMultistatusEntry(response, what, (entry) => {
    if (entry.status !== 404 && isCard(entry, bookPath)) byKey.set(hrefKey(entry.href), { href: entry.href, etag: etagOf(entry) });
  });
  return sortedListing(byKey, null);
}

/** One card as `addressbook-multiget` returned it. */
export interface FetchedCard {
  /** 200 when the card came; 404 when it went between listing and fetching. */
  status: number;
  etag: string | null;
  /** The vCard text, when the server sent it. */
  data: string | null;
}

/** The cards at `hrefs` (at most a page of them), by {@link hrefKey}. */
export async function multiget(
  client: DavClient,
  bookUrl: string,
  hrefs: readonly string[],
  signal: AbortSignal,
): Promise<Map<string, FetchedCard>> {
  const what = 'the addressbook-multiget report';
  const body =
    '<?xml version="1.0" encoding="utf-8"?>' +
    '<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">' +
    '<d:prop><d:getetag/><c:address-data/></d:prop>' +
    hrefs.map((href) => `<d:href>${escapeXml(href)}</d:href>`).join('') +
    '</c:addressbook-multiget>';
  const response = await client.send({ method: 'REPORT', url: bookUrl, body, signal }, what);
  if (response.status !== 207) throw failureForStatus(response, what);
  const cards = new Map<string, FetchedCard>();
  await eachMultistatusEntry(response, what, (entry) => {
    const data = entry.props.get(propKey(CARDDAV_NS, 'address-data'))?.text ?? null;
    const status = entry.status ?? (entry.props.size > 0 ? 200 : 404);
    cards.set(hrefKey(entry.href), { status, etag: etagOf(entry), data });
  });
  return cards;
}
