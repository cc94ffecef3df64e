/**
 * WebDAV `207 Multi-Status` bodies (RFC 4918 §13) read into plain entries, one `<response>` at a
 * time, and the PROPFIND and REPORT calls that answer with them. A body is at most
 * `PROVIDER_MAX_RESPONSE_BYTES` (`kit/http.ts`); reading it holds one response's tree at a time and
 * lets the worker's thread breathe every few hundred, so a listing of a large address book neither
 * fills the heap nor stalls other imports' saves. A 207 that does not parse is a retryable
 * `ProviderBadResponse` (usually a proxy or a cut-off body); any other status is classified by
 * {@link failureForStatus}.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from '../kit/failures';
import { type DavClient, type DavResponse, describeUrl, failureForStatus } from './http';
import { DAV_NS, type XmlElement, XmlSyntaxError, childNamed, childrenNamed, xmlChildren } from './xml';

/** Responses read between two turns of the event loop. */
const RESPONSES_PER_TURN = 256;

/** One `<response>`: its href and, per status, the properties the server returned. */
export interface MultistatusEntry {
  /** The href as a path on the server (or an absolute URL when it names another origin). */
  href: string;
  /** The response-level `<status>` (e.g. 404 for a member removed since a sync token), else `null`. */
  status: number | null;
  /** Properties of the `200` propstat, by `{ns}name`. */
  props: Map<string, XmlElement>;
}

/** Key of a property in {@link MultistatusEntry.props}: Clark notation, `{DAV:}getetag`. */
export function propKey(ns: string, name: string): string {
  return `{${ns}}${name}`;
}

/** `href` resolved against `base` as a path, or as an absolute URL when it leaves base's origin. */
export function hrefPath(href: string, base: string): string {
  const resolved = new URL(href.trim(), base);
  return resolved.origin === new URL(base).origin ? resolved.pathname : resolved.href;
}

/** Absolute URL of a path or URL returned by {@link hrefPath}. */
export function absoluteUrl(href: string, base: string): string {
  return new URL(href, base).href;
}

/** 200 from "HTTP/1.1 200 OK"; `null` when absent or unreadable. */
function statusCode(element: XmlElement | undefined): number | null {
  const match = element ? /^\s*HTTP\/\d(?:\.\d)?\s+(\d{3})\b/.exec(element.text) : null;
  return match ? Number(match[1]) : null;
}

function badResponse(response: DavResponse, what: string, why: string) {
  return failure(
    FAILURE_TYPES.providerBadResponse,
    `The CardDAV server answered ${what} at ${describeUrl(response.url)} with a body that is not a WebDAV multistatus (${why}).`,
  );
}

/** One `<response>` element as an entry; `response` and `what` only for the failure it may throw. */
function entryOf(element: XmlElement, response: DavResponse, what: string): MultistatusEntry {
  const href = childNamed(element, DAV_NS, 'href')?.text.trim();
  if (!href) throw badResponse(response, what, 'a <response> without <href>');
  const props = new Map<string, XmlElement>();
  for (const propstat of childrenNamed(element, DAV_NS, 'propstat')) {
    if (statusCode(childNamed(propstat, DAV_NS, 'status')) !== 200) continue;
    for (const prop of childNamed(propstat, DAV_NS, 'prop')?.children ?? []) props.set(propKey(prop.ns, prop.name), prop);
  }
  let path: string;
  try {
    path = hrefPath(href, response.url);
  } catch {
    throw badResponse(response, what, `an <href> that is not a URL: ${href.slice(0, 100)}`);
  }
  return { href: path, status: statusCode(childNamed(element, DAV_NS, 'status')), props };
}

/**
 * Reads a 207 body, handing each `<response>` to `onEntry` as it is read. Resolves to the
 * multistatus's `sync-token` (RFC 6578), when it has one. Throws `ProviderBadResponse` when it is
 * not a multistatus.
 */
export async function eachMultistatusEntry(
  response: DavResponse,
  what: string,
  onEntry: (entry: MultistatusEntry) => void,
): Promise<{ syncToken: string | null }> {
  let syncToken: string | null = null;
  try {
    const { root, children } = xmlChildren(response.body);
    if (root.ns !== DAV_NS || root.name !== 'multistatus') throw badResponse(response, what, `root element is {${root.ns}}${root.name}`);
    let read = 0;
    for (const child of children) {
      if (child.ns !== DAV_NS) continue;
      if (child.name === 'sync-token') syncToken = child.text.trim();
      if (child.name !== 'response') continue;
      onEntry(entryOf(child, response, what));
      if (++read % RESPONSES_PER_TURN === 0) await yieldToEventLoop();
    }
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw badResponse(response, what, error.message);
    throw error;
  }
  return { syncToken };
}

/** Reads a small 207 body (discovery, a page of cards) into its entries. Throws `ProviderBadResponse` when it is not a multistatus. */
export async function readMultistatus(response: DavResponse, what: string): Promise<MultistatusEntry[]> {
  const entries: MultistatusEntry[] = [];
  await eachMultistatusEntry(response, what, (entry) => entries.push(entry));
  return entries;
}

/** The body of a `PROPFIND` of the `<prop>` fragment `props` (namespace prefixes `d:` and `c:` are declared). */
export function propfindBody(props: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop>${props}</d:prop></d:propfind>`
  );
}

/** `PROPFIND` of the `<prop>` fragment `props` (namespace prefixes `d:` and `c:` are declared). */
export async function propfind(
  client: DavClient,
  request: { url: string; depth: '0' | '1'; props: string; signal: AbortSignal; timeoutMs?: number },
  what: string,
): Promise<{ url: string; entries: MultistatusEntry[] }> {
  const { url, depth, signal, timeoutMs } = request;
  const response = await client.send({ method: 'PROPFIND', url, depth, body: propfindBody(request.props), signal, timeoutMs }, what);
  if (response.status !== 207) throw failureForStatus(response, what);
  return { url: response.url, entries: await readMultistatus(response, what) };
}

/** The entry for `url` itself in a Depth 0 answer (servers may spell its href with or without a slash). */
export function selfEntry(entries: readonly MultistatusEntry[], url: string): MultistatusEntry | undefined {
  const path = hrefPath(url, url).replace(/\/+$/, '');
  return entries.find((entry) => entry.href.replace(/\/+$/, '') === path) ?? entries[0];
}

/** The hrefs inside a property such as `current-user-principal` or `addressbook-home-set`. */
export function hrefsIn(prop: XmlElement | undefined, base: string): string[] {
  return childrenNamed(prop, DAV_NS, 'href').flatMap((element) => {
    try {
      return [new URL(element.text.trim(), base).href];
    } catch {
      return [];
    }
  });
}
