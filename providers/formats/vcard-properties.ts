/**
 * One card's lines to properties: unfolding (RFC 6350 §3.2 folding, vCard 2.1 quoted-printable soft
 * line breaks), `group.NAME;PARAM=…:value` with vCard 2.1's bare parameters (`TEL;HOME;VOICE:`),
 * `ENCODING=QUOTED-PRINTABLE` and `CHARSET=`, and the text escapes of 3.0 and 4.0.
 */
import { decodeQuotedPrintable } from './quoted-printable';
import { decodeText } from './text-decoding';
import { endsWithSoftBreak, isQuotedPrintableHead, trimmedLength, valueColon } from './vcard-lines';

/** One property of a card, its value decoded to text but not yet unescaped. */
export interface VCardProperty {
  /** `item1` in `item1.EMAIL` (Apple's way of labelling a value), else `null`. */
  group: string | null;
  /** Upper-case: `EMAIL`, `TEL`, `X-ABLABEL`. */
  name: string;
  /** Upper-case parameter names to their values; bare 2.1 parameters go under `TYPE` (or `ENCODING`). */
  params: Record<string, string[]>;
  /** Lower-case `TYPE` values, split on commas: `['home', 'voice', 'pref']`. */
  types: string[];
  /** Decoded (quoted-printable, charset), still escaped. */
  value: string;
}

/** The card's properties, or why the card cannot be read. */
export type ParsedCard = { properties: VCardProperty[]; problem: null } | { properties: null; problem: string };

/** Bare 2.1 parameters that are encodings, not types. */
const BARE_ENCODINGS = new Set(['QUOTED-PRINTABLE', 'BASE64', '8BIT', '7BIT', 'B']);

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09;
}

/** Physical lines to logical lines, as bytes (a fold may split a UTF-8 character). */
export function unfold(lines: readonly Uint8Array[]): Uint8Array[] {
  const logical: Uint8Array[][] = [];
  let current: Uint8Array[] | null = null;
  let quotedPrintable = false;
  for (const line of lines) {
    const last = current?.[current.length - 1];
    if (current && last && quotedPrintable && endsWithSoftBreak(last)) {
      current[current.length - 1] = last.subarray(0, trimmedLength(last) - 1);
      current.push(line);
    } else if (current && isSpace(line[0])) {
      current.push(line.subarray(1));
    } else if (line.some((byte) => !isSpace(byte))) {
      current = [line];
      logical.push(current);
      quotedPrintable = isQuotedPrintableHead(line);
    }
  }
  return logical.map((parts) => (parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)));
}

/** Splits on `separator` outside double quotes, dropping the quotes. */
function splitQuoted(text: string, separator: string): string[] {
  const parts: string[] = [];
  let part = '';
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (char === separator && !quoted) {
      parts.push(part);
      part = '';
    } else part += char;
  }
  parts.push(part);
  return parts;
}

/** `item1.EMAIL;TYPE=INTERNET,HOME;PREF` to its group, name, parameters and types. */
function parseHead(head: string): Pick<VCardProperty, 'group' | 'name' | 'params' | 'types'> {
  const [groupAndName = '', ...paramTexts] = splitQuoted(head, ';');
  const dot = groupAndName.lastIndexOf('.');
  const group = dot > 0 ? groupAndName.slice(0, dot).trim() : null;
  const name = groupAndName.slice(dot + 1).trim().toUpperCase();
  const params: Record<string, string[]> = {};
  for (const text of paramTexts) {
    const equals = text.indexOf('=');
    const bare = text.trim().toUpperCase();
    const key = equals < 0 ? (BARE_ENCODINGS.has(bare) ? 'ENCODING' : 'TYPE') : text.slice(0, equals).trim().toUpperCase();
    const values = equals < 0 ? [text.trim()] : splitQuoted(text.slice(equals + 1), ',').map((value) => value.trim());
    if (key) (params[key] ??= []).push(...values.filter((value) => value !== ''));
  }
  const types = (params.TYPE ?? []).flatMap((type) => type.split(',')).map((type) => type.trim().toLowerCase());
  return { group, name, params, types };
}

/** A logical line to a property, or `null` when it has no `NAME:` part. */
export function parseProperty(line: Uint8Array): VCardProperty | null {
  const colon = valueColon(line);
  if (colon <= 0) return null;
  const head = parseHead(decodeText(line.subarray(0, colon)));
  if (!/^[A-Z0-9-]+$/.test(head.name)) return null;
  const encoding = head.params.ENCODING?.[0]?.toUpperCase();
  const raw = line.subarray(colon + 1);
  const bytes = encoding === 'QUOTED-PRINTABLE' ? decodeQuotedPrintable(raw) : raw;
  return { ...head, value: decodeText(bytes, head.params.CHARSET?.[0]) };
}

/** Every property of a card (from its lines between BEGIN and END), or the first line that is not one. */
export function parseCard(lines: readonly Uint8Array[]): ParsedCard {
  const properties: VCardProperty[] = [];
  for (const line of unfold(lines)) {
    const property = parseProperty(line);
    if (!property) {
      const shown = JSON.stringify(decodeText(line.subarray(0, 60)));
      return { properties: null, problem: `a line is not a property (NAME:value): ${shown}` };
    }
    properties.push(property);
  }
  return { properties, problem: null };
}

/** Text escapes: `\n` (3.0 and 4.0 only), `\,`, `\;`, `\:`, `\\`; any other backslash stays. */
export function unescapeValue(value: string, version: string | null): string {
  const newlines = version !== '2.1';
  return value.replace(/\\([\\,;:nN])/g, (escape, char: string) => {
    if (char === 'n' || char === 'N') return newlines ? '\n' : escape;
    return char;
  });
}

/** Splits a value on a separator that is not escaped (`;` between components, `,` in a list). */
export function splitUnescaped(value: string, separator: ';' | ','): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === separator) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

/** A structured value (`N`, `ADR`, `ORG`) as unescaped components; 3.0 and 4.0 lists in a component joined by `joiner`. */
export function components(property: VCardProperty, version: string | null, joiner: string | null): string[] {
  return splitUnescaped(property.value, ';').map((component) =>
    joiner === null || version === '2.1'
      ? unescapeValue(component, version)
      : splitUnescaped(component, ',')
          .map((item) => unescapeValue(item, version).trim())
          .filter((item) => item !== '')
          .join(joiner),
  );
}
