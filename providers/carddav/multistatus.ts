/**
 * WebDAV `207 Multi-Status` bodies (RFC 4918 §13) read into plain entries, and the PROPFIND and
 * REPORT calls that answer with them. A 207 that does not parse is a retryable
 * `ProviderBadResponse` (usually a proxy or a cut-off body); any other status is classified by
 * {@link failureForStatus}.
 */
import { FAILURE_TYPES } from '../../workflows/contract';
import { describeProviderError, failure } from '../kit/failures';
import { type DavClient, type DavResponse, describeUrl, failureForStatus } from './http';
import { DAV_NS, type XmlElement, XmlSyntaxError, childNamed, childrenNamed, parseXml } from './xml';

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

/** `why` quotes the server (an element's name, an href, where its XML broke): it goes through the kit's helper. */
function badResponse(response: DavResponse, what: string, why: string) {
  const detail = describeProviderError({ status: response.status, text: why });
  return failure(
    FAILURE_TYPES.providerBadResponse,
    `The CardDAV server answered ${what} at ${describeUrl(response.url)} with a body that is not a WebDAV multistatus ${detail}.`,
  );
}

/** Parses an XML error or multistatus body, turning a syntax error into `ProviderBadResponse`. */
export function parseBody(response: DavResponse, what: string): XmlElement {
  try {
    return parseXml(response.body);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw badResponse(response, what, error.message);
    throw error;
  }
}

/** Reads a 207 body. Throws `ProviderBadResponse` when it is not a multistatus. */
export function readMultistatus(response: DavResponse, what: string): { root: XmlElement; entries: MultistatusEntry[] } {
  const root = parseBody(response, what);
  if (root.ns !== DAV_NS || root.name !== 'multistatus') {
    throw badResponse(response, what, `root element is {${root.ns}}${root.name}`);
  }
  const entries = childrenNamed(root, DAV_NS, 'response').map((entry): MultistatusEntry => {
    const href = childNamed(entry, DAV_NS, 'href')?.text.trim();
    if (!href) throw badResponse(response, what, 'a <response> without <href>');
    const props = new Map<string, XmlElement>();
    for (const propstat of childrenNamed(entry, DAV_NS, 'propstat')) {
      if (statusCode(childNamed(propstat, DAV_NS, 'status')) !== 200) continue;
      for (const prop of childNamed(propstat, DAV_NS, 'prop')?.children ?? []) props.set(propKey(prop.ns, prop.name), prop);
    }
    let path: string;
    try {
      path = hrefPath(href, response.url);
    } catch {
      throw badResponse(response, what, `an <href> that is not a URL: ${href}`);
    }
    return { href: path, status: statusCode(childNamed(entry, DAV_NS, 'status')), props };
  });
  return { root, entries };
}

/** `PROPFIND` of the `<prop>` fragment `props` (namespace prefixes `d:` and `c:` are declared). */
export async function propfind(
  client: DavClient,
  request: { url: string; depth: '0' | '1'; props: string; signal: AbortSignal; timeoutMs?: number },
  what: string,
): Promise<{ url: string; entries: MultistatusEntry[] }> {
  const body =
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop>${request.props}</d:prop></d:propfind>`;
  const { url, depth, signal, timeoutMs } = request;
  const response = await client.send({ method: 'PROPFIND', url, depth, body, signal, timeoutMs }, what);
  if (response.status !== 207) throw failureForStatus(response, what);
  return { url: response.url, entries: readMultistatus(response, what).entries };
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
