/**
 * Finding the address book behind the URL a user gives (RFC 6352 §7, RFC 6764 §6).
 *
 * The URL is either an address book, used as it is, or a server root (or any URL the server
 * answers `current-user-principal` or `addressbook-home-set` for). From a bare host
 * (`https://dav.example.com/`) we start at `/.well-known/carddav`, following its redirect. Then
 * principal → `addressbook-home-set` → the address books in it, of which we take the **first in
 * href order** (sorted, so every attempt and every worker picks the same one). A user with several
 * address books who wants another one gives that address book's URL.
 */
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import { type DavClient, describeUrl, failureForStatus } from './http';
import { compareHrefs } from './listing';
import { type MultistatusEntry, absoluteUrl, hrefsIn, propKey, propfind, propfindBody, readMultistatus, selfEntry } from './multistatus';
import { CARDDAV_NS, DAV_NS, childNamed, childrenNamed } from './xml';

/** The address book an import reads. */
export interface AddressBook {
  /** Absolute URL of the collection, ending in `/`. */
  url: string;
  /** Whether it lists `sync-collection` among its reports; `null` when the server does not say. */
  syncCollection: boolean | null;
}

const PROBE_PROPS = '<d:resourcetype/><d:current-user-principal/><c:addressbook-home-set/><d:supported-report-set/>';
/** Properties that lead from a principal or a root to the address books. */
const ADDRESSING_PROPS = [propKey(CARDDAV_NS, 'addressbook-home-set'), propKey(DAV_NS, 'current-user-principal')];
const HOME_PROPS = '<d:resourcetype/><d:supported-report-set/><d:displayname/>';

function isAddressBook(entry: MultistatusEntry): boolean {
  return childNamed(entry.props.get(propKey(DAV_NS, 'resourcetype')), CARDDAV_NS, 'addressbook') !== undefined;
}

function supportsSync(entry: MultistatusEntry): boolean | null {
  const set = entry.props.get(propKey(DAV_NS, 'supported-report-set'));
  if (set === undefined) return null;
  return childrenNamed(set, DAV_NS, 'supported-report').some(
    (supported) => childNamed(childNamed(supported, DAV_NS, 'report'), DAV_NS, 'sync-collection') !== undefined,
  );
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function notFound(message: string) {
  return failure(FAILURE_TYPES.providerInvalidRequest, message, { nonRetryable: true });
}

/**
 * `PROPFIND /.well-known/carddav` on `origin`, redirects followed. `null` when the server offers
 * no such context path (404, 405, 501…): then the URL itself is asked.
 */
async function probeWellKnown(client: DavClient, origin: string, signal: AbortSignal) {
  const what = 'the CardDAV discovery request (/.well-known/carddav)';
  const body = propfindBody(PROBE_PROPS);
  const response = await client.send({ method: 'PROPFIND', url: `${origin}/.well-known/carddav`, depth: '0', body, signal }, what);
  if (response.status === 207) {
    return { url: response.url, entries: await readMultistatus(response, what) };
  }
  const { status } = response;
  // Bad credentials and outages are failures wherever they happen; anything else means "no well-known here".
  const transient = status === 408 || status === 429 || (status >= 500 && status !== 501);
  if (status === 401 || transient) throw failureForStatus(response, what);
  return null;
}

/** The `addressbook-home-set` of the principal named in `entry`, or `null` when it names none. */
async function homeOf(client: DavClient, entry: MultistatusEntry, base: string, signal: AbortSignal): Promise<string | null> {
  const home = hrefsIn(entry.props.get(propKey(CARDDAV_NS, 'addressbook-home-set')), base)[0];
  if (home !== undefined) return home;
  const principal = hrefsIn(entry.props.get(propKey(DAV_NS, 'current-user-principal')), base)[0];
  if (principal === undefined) return null;
  const answer = await propfind(client, { url: principal, depth: '0', props: '<c:addressbook-home-set/>', signal }, 'the principal lookup');
  const self = selfEntry(answer.entries, answer.url);
  const found = self ? hrefsIn(self.props.get(propKey(CARDDAV_NS, 'addressbook-home-set')), answer.url)[0] : undefined;
  if (found === undefined) {
    throw notFound(`The CardDAV principal ${describeUrl(principal)} names no addressbook-home-set: give the address book's URL instead.`);
  }
  return found;
}

/**
 * The address book `url` names or leads to. Throws a non-retryable `ProviderInvalidRequest` when
 * it leads to none, and the usual classified failures (401, 5xx, timeouts) on the way.
 */
export async function discoverAddressBook(client: DavClient, url: string, signal: AbortSignal): Promise<AddressBook> {
  const start = new URL(url);
  const wellKnown = start.pathname === '/' ? await probeWellKnown(client, start.origin, signal) : null;
  const known = wellKnown && selfEntry(wellKnown.entries, wellKnown.url);
  // A well-known answer that names nothing we can follow: ask the URL itself, as for any other URL.
  const useful = known && (isAddressBook(known) || ADDRESSING_PROPS.some((key) => known.props.has(key)));
  const probe = useful
    ? wellKnown
    : await propfind(client, { url: start.href, depth: '0', props: PROBE_PROPS, signal }, 'the CardDAV discovery request');
  const self = selfEntry(probe.entries, probe.url);
  if (self === undefined) throw notFound(`The CardDAV server said nothing about ${describeUrl(probe.url)}.`);
  if (isAddressBook(self)) return { url: withSlash(absoluteUrl(self.href, probe.url)), syncCollection: supportsSync(self) };

  const home = await homeOf(client, self, probe.url, signal);
  if (home === null) {
    throw notFound(
      `${describeUrl(url)} is neither a CardDAV address book nor a server that names the user's principal: give the address book's URL.`,
    );
  }
  const listing = await propfind(client, { url: home, depth: '1', props: HOME_PROPS, signal }, 'the address book listing');
  const books = listing.entries.filter(isAddressBook).sort((a, b) => compareHrefs(a.href, b.href));
  const first = books[0];
  if (first === undefined) throw notFound(`The CardDAV account has no address book under ${describeUrl(home)}.`);
  return { url: withSlash(absoluteUrl(first.href, listing.url)), syncCollection: supportsSync(first) };
}
