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

/** Deepest nesting a body may have: a WebDAV answer needs about 8 levels. */
export const MAX_XML_DEPTH = 64;
/** Most elements {@link parseXml} keeps in one tree; a multistatus is read one `<response>` at a time instead. */
export const MAX_XML_TREE_CHILDREN = 10_000;

/** Parses one well-formed piece (the root's start tag, one child, the root's end tag) with the real parser. */
function parseWhole(text: string): XmlElement {
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

/**
 * A body read one child of its root at a time: the root's namespace and name, and its children,
 * parsed (with the root's namespace declarations) as the iteration reaches them.
 */
export interface XmlChildren {
  root: { ns: string; name: string };
  children: Iterable<XmlElement>;
}

const NAME_AT = /[^\s/>]+/y;

/** How much of the root's children {@link xmlChildren} parses at once: a few hundred `<response>`s of a listing. */
const CHILDREN_PER_PARSE_BYTES = 64 * 1024;

/**
 * Reads `body` as one root element whose children are parsed as the iteration reaches them, a few
 * dozen kilobytes at a time: memory holds those children's trees, never the whole document's,
 * whatever the body's size. A scan over the markup finds where
 * each child of the root begins and ends (comments, CDATA and quoted attributes skipped), refusing
 * nesting past {@link MAX_XML_DEPTH} and DOCTYPEs (a WebDAV body needs no entity of its own). Throws
 * {@link XmlSyntaxError} for what is not well-formed, as the iteration reaches it.
 */
export function xmlChildren(body: string): XmlChildren {
  const scan = scanRoot(body);
  const open = scan.next();
  if (open.done || open.value.kind !== 'root') throw new XmlSyntaxError('expected one root element, found 0');
  const { tag, name, selfClosing } = open.value;
  // Each child is parsed inside a copy of the root's start tag, so its prefixes resolve as in place.
  const start = selfClosing ? tag.replace(/\/\s*>$/, '>') : tag;
  const wrap = (child: string) => parseWhole(`${start}${child}</${name}>`);
  const root = wrap('');
  return {
    root: { ns: root.ns, name: root.name },
    children: {
      *[Symbol.iterator]() {
        // Children are parsed a few together, which costs the parser far less than one by one.
        let batch = '';
        for (let next = scan.next(); ; next = scan.next()) {
          if (!next.done && next.value.kind === 'child') batch += next.value.text;
          if (batch.length >= CHILDREN_PER_PARSE_BYTES || (next.done && batch !== '')) {
            yield* wrap(batch).children;
            batch = '';
          }
          if (next.done) return;
        }
      },
    },
  };
}

/** What {@link scanRoot} finds: the root's start tag first, then each child element's text. */
type Scanned = { kind: 'root'; tag: string; name: string; selfClosing: boolean } | { kind: 'child'; text: string };

/** The root's start tag, then the text of each of its child elements; checks the markup as it goes. */
function* scanRoot(body: string): Generator<Scanned, void, undefined> {
  const text = body.replace(/^\uFEFF/, '');
  const stack: string[] = [];
  let at = 0;
  let childStart = -1;
  let rootSeen = false;
  const fail = (why: string): never => {
    throw new XmlSyntaxError(`${why} (at character ${at})`);
  };
  const skipTo = (end: string, from: number) => {
    const found = text.indexOf(end, from);
    if (found < 0) fail(`unterminated markup, no "${end}"`);
    return found + end.length;
  };
  for (;;) {
    const lt = text.indexOf('<', at);
    if (stack.length === 0 && /\S/.test(text.slice(at, lt < 0 ? text.length : lt))) fail('text outside the root element');
    if (lt < 0) break;
    at = lt;
    if (text.startsWith('<!--', lt)) {
      at = skipTo('-->', lt + 4);
    } else if (text.startsWith('<![CDATA[', lt)) {
      if (stack.length === 0) fail('CDATA outside the root element');
      at = skipTo(']]>', lt + 9);
    } else if (text.startsWith('<?', lt)) {
      at = skipTo('?>', lt + 2);
    } else if (text.startsWith('<!', lt)) {
      fail('a DOCTYPE or other declaration, which no WebDAV body needs');
    } else if (text.startsWith('</', lt)) {
      const gt = text.indexOf('>', lt);
      if (gt < 0) fail('an unterminated end tag');
      const name = text.slice(lt + 2, gt).trim();
      const open = stack.pop();
      if (open !== name) fail(open === undefined ? `</${name}> closes nothing` : `</${name}> closes <${open}>`);
      at = gt + 1;
      if (stack.length === 1 && childStart >= 0) {
        yield { kind: 'child', text: text.slice(childStart, at) };
        childStart = -1;
      }
    } else {
      // A start tag ends at the first ">" outside a quoted attribute value.
      let end = lt + 1;
      let quote = 0;
      for (; end < text.length; end++) {
        const c = text.charCodeAt(end);
        if (quote !== 0) {
          if (c === quote) quote = 0;
        } else if (c === 0x22 || c === 0x27) {
          quote = c;
        } else if (c === 0x3e) {
          break;
        }
      }
      if (end >= text.length) fail('an unterminated start tag');
      NAME_AT.lastIndex = lt + 1;
      const name = NAME_AT.exec(text)?.[0];
      if (name === undefined) fail('a start tag without a name');
      const selfClosing = text.charCodeAt(end - 1) === 0x2f;
      at = end + 1;
      if (stack.length === 0) {
        if (rootSeen) fail('more than one root element');
        rootSeen = true;
        yield { kind: 'root', tag: text.slice(lt, at), name: name as string, selfClosing };
        if (selfClosing) continue;
      } else if (stack.length === 1) {
        if (selfClosing) {
          yield { kind: 'child', text: text.slice(lt, at) };
          continue;
        }
        childStart = lt;
      }
      if (!selfClosing) {
        stack.push(name as string);
        if (stack.length > MAX_XML_DEPTH) fail(`elements nested deeper than ${MAX_XML_DEPTH}`);
      }
    }
  }
  if (stack.length > 0) fail(`<${stack.at(-1)}> is never closed`);
  if (!rootSeen) fail('no root element');
}

/**
 * Parses `body` into its root element, children and all, keeping at most
 * {@link MAX_XML_TREE_CHILDREN} of them. Throws {@link XmlSyntaxError} when it is not well-formed XML
 * with one root element (an HTML error page from a proxy, a truncated body).
 */
export function parseXml(body: string): XmlElement {
  const { root, children } = xmlChildren(body);
  const element: XmlElement = { ...root, children: [], text: '' };
  for (const child of children) {
    if (element.children.length >= MAX_XML_TREE_CHILDREN) throw new XmlSyntaxError(`more than ${MAX_XML_TREE_CHILDREN} elements under the root`);
    element.children.push(child);
  }
  return element;
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
