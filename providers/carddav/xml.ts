/**
 * WebDAV XML, read with a real parser (fast-xml-parser) and with namespaces resolved, so `<d:href>`,
 * `<href xmlns="DAV:">` and `<D:href>` are the same element, as the XML Namespaces spec says they
 * are. Servers disagree on prefixes (Radicale: default namespace and `CR:`; others `d:` and `card:`).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** The WebDAV namespace (RFC 4918). */
export const DAV_NS = 'DAV:';
/** The CardDAV namespace (RFC 6352). */
export const CARDDAV_NS = 'urn:ietf:params:xml:ns:carddav';

/** One element: its namespace URI, local name, child elements and its own text. */
export interface XmlElement {
  ns: string;
  name: string;
  children: XmlElement[];
  /** The element's direct text content, entities decoded, not trimmed. */
  text: string;
}

/** The body is not well-formed XML; `message` says where. */
export class XmlSyntaxError extends Error {
  override name = 'XmlSyntaxError';
}

const ATTR = '@_';
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  // Values are text: an etag of "123" or a card of digits must not become a number.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Decodes numeric character references (`&#233;`, `&#13;`), which some servers use in address-data.
  htmlEntities: true,
});

type RawNode = Record<string, unknown>;

function attributesOf(node: RawNode): Record<string, string> {
  const attrs = node[':@'];
  return attrs !== null && typeof attrs === 'object' ? (attrs as Record<string, string>) : {};
}

function toElement(qname: string, node: RawNode, scope: ReadonlyMap<string, string>): XmlElement {
  let inner = scope;
  for (const [key, value] of Object.entries(attributesOf(node))) {
    if (key === `${ATTR}xmlns`) inner = new Map(inner).set('', String(value));
    else if (key.startsWith(`${ATTR}xmlns:`)) inner = new Map(inner).set(key.slice(ATTR.length + 6), String(value));
  }
  const colon = qname.indexOf(':');
  const prefix = colon < 0 ? '' : qname.slice(0, colon);
  const element: XmlElement = {
    // An undeclared prefix names no namespace we know: keep it recognisable, never match DAV:.
    ns: inner.get(prefix) ?? (prefix === '' ? '' : `undeclared-prefix:${prefix}`),
    name: colon < 0 ? qname : qname.slice(colon + 1),
    children: [],
    text: '',
  };
  const content = node[qname];
  for (const child of Array.isArray(content) ? (content as RawNode[]) : []) {
    const childName = Object.keys(child).find((key) => key !== ':@');
    if (childName === undefined) continue;
    if (childName === '#text') element.text += String(child[childName]);
    else element.children.push(toElement(childName, child, inner));
  }
  return element;
}

/**
 * Parses `body` into its root element. Throws {@link XmlSyntaxError} when it is not well-formed
 * XML with one root element (an HTML error page from a proxy, a truncated body).
 */
export function parseXml(body: string): XmlElement {
  const text = body.replace(/^\uFEFF/, '');
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new XmlSyntaxError(`${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  }
  const roots = (parser.parse(text) as RawNode[])
    .map((node) => ({ node, qname: Object.keys(node).find((key) => key !== ':@' && key !== '#text') }))
    .filter((entry): entry is { node: RawNode; qname: string } => entry.qname !== undefined);
  const root = roots[0];
  if (root === undefined || roots.length > 1) throw new XmlSyntaxError(`expected one root element, found ${roots.length}`);
  return toElement(root.qname, root.node, new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
}

/** The children of `element` named `{ns}name`. */
export function childrenNamed(element: XmlElement | undefined, ns: string, name: string): XmlElement[] {
  return element ? element.children.filter((child) => child.ns === ns && child.name === name) : [];
}

/** The first child of `element` named `{ns}name`, if any. */
export function childNamed(element: XmlElement | undefined, ns: string, name: string): XmlElement | undefined {
  return element?.children.find((child) => child.ns === ns && child.name === name);
}

/** Escapes text for an XML element's content or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
