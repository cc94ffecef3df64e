/**
 * vCard files (2.1, 3.0, 4.0) to contacts, a batch at a time from a resumable cursor.
 *
 * - Identity: the card's `UID`; without one, a hash of its content (group labels, `REV` and
 *   `PRODID` left out, properties in any order), so importing the same file again upserts, never
 *   doubles. Etag: a hash of the normalised contact.
 * - A card that cannot be read (no `END:VCARD` before the next `BEGIN:VCARD`, a line that is not a
 *   property, text outside any card) or that has no name, email, phone or organization becomes a
 *   {@link RejectedRecord} with its position: never an exception.
 * - `PHOTO`, `LOGO`, `SOUND` and `KEY`, and any base64 or `data:` value, are dropped while reading;
 *   `raw.omitted` names them. `ENCODING` and `CHARSET` are not kept either: values are decoded.
 */
import { contentHash, hasIdentity, normalizeContact, type ContactInput, type NormalizedContact } from '../kit/normalize';
import { rejectRecord } from '../kit/records';
import type { RejectedRecord } from '../types';
import { START_CURSOR, bufferByteSource, type ByteSource, type FileCursor } from './byte-source';
import { BatchCollector, checkMaxRecords, type FileBatch, type FileReadOptions } from './file-batch';
import { decodeText } from './text-decoding';
import { VCardScanner, type VCardChunk } from './vcard-lines';
import { components, parseCard, splitUnescaped, unescapeValue, type VCardProperty } from './vcard-properties';

/** At most this many properties of a card are kept in `raw`. */
export const MAX_RAW_PROPERTIES = 200;

/** Properties dropped while reading (with any other base64 one): binary data we never keep. */
const OMITTED = new Set(['PHOTO', 'LOGO', 'SOUND', 'KEY']);
/** Properties that say nothing about the person: left out of the content hash that stands in for a UID. */
const VOLATILE = new Set(['REV', 'PRODID']);
/** Parameters that describe the transfer encoding, which decoding has undone. */
const TRANSFER_PARAMS = new Set(['ENCODING', 'CHARSET']);
/** Structured properties, kept in `raw` as their components. */
const STRUCTURED = new Set(['N', 'ADR', 'ORG']);

/** One property as `raw` keeps it. */
interface RawProperty {
  group?: string;
  name: string;
  params?: Record<string, string[]>;
  value: string | string[];
}

function rawProperty(property: VCardProperty, version: string | null): RawProperty {
  const params = Object.fromEntries(Object.entries(property.params).filter(([key]) => !TRANSFER_PARAMS.has(key)));
  const value = STRUCTURED.has(property.name) ? components(property, version, ',') : unescapeValue(property.value, version);
  return {
    ...(property.group ? { group: property.group } : {}),
    name: property.name,
    ...(Object.keys(params).length > 0 ? { params } : {}),
    value,
  };
}

/**
 * What stands in for a missing UID: the card's properties without `REV`, `PRODID` and group names
 * (Apple renumbers `item1.` groups between exports), in any order.
 */
function identityOf(properties: readonly RawProperty[]): string[] {
  return properties
    .filter((property) => !VOLATILE.has(property.name))
    .map(({ group: _group, ...property }) => JSON.stringify(property))
    .sort();
}

/** A property whose binary value the scanner dropped: only its name is worth keeping. */
function isOmitted(property: VCardProperty): boolean {
  return OMITTED.has(property.name) || /^(B|BASE64)$/i.test(property.params.ENCODING?.[0] ?? '');
}

/** Lower is preferred: 4.0 `PREF=1`, then a `pref` type (2.1, 3.0), then the rest in card order. */
function preference(property: VCardProperty): number {
  const pref = Number(property.params.PREF?.[0]);
  if (Number.isInteger(pref) && pref >= 1) return pref;
  return property.types.includes('pref') ? 1 : 101;
}

/** The text of the most preferred non-empty property named `name`. */
function preferred(properties: readonly VCardProperty[], name: string, version: string | null): string | null {
  const candidates = properties
    .filter((property) => property.name === name)
    .map((property) => ({ rank: preference(property), text: unescapeValue(property.value, version).trim() }))
    .filter((candidate) => candidate.text !== '');
  candidates.sort((a, b) => a.rank - b.rank);
  return candidates[0]?.text ?? null;
}

/** A card's properties to the input of {@link normalizeContact}. */
export function cardToInput(properties: readonly VCardProperty[]): ContactInput {
  const version = properties.find((property) => property.name === 'VERSION')?.value.trim() ?? null;
  const first = (name: string) => properties.find((property) => property.name === name);
  const nameProperty = first('N');
  const [family, given, middle, prefix, suffix] = nameProperty ? components(nameProperty, version, ' ') : [];
  const org = first('ORG');
  const kept = properties.filter((property) => !isOmitted(property) && property.name !== 'VERSION');
  const omitted = [...new Set(properties.filter(isOmitted).map((property) => property.name))];
  const rawProperties = kept.map((property) => rawProperty(property, version));
  const uidProperty = first('UID');
  const uid = uidProperty ? unescapeValue(uidProperty.value, version).trim() : '';
  return {
    externalId: uid || `vcard:${contentHash(identityOf(rawProperties))}`,
    displayName: preferred(properties, 'FN', version),
    name: { family, given, middle, prefix, suffix, nickname: firstItem(first('NICKNAME'), version) },
    email: preferred(properties, 'EMAIL', version),
    phone: preferred(properties, 'TEL', version),
    organization: org ? (components(org, version, null)[0] ?? null) : null,
    raw: {
      format: 'vcard',
      version,
      properties: rawProperties.slice(0, MAX_RAW_PROPERTIES),
      ...(omitted.length > 0 ? { omitted } : {}),
      ...(kept.length > MAX_RAW_PROPERTIES ? { truncatedProperties: kept.length - MAX_RAW_PROPERTIES } : {}),
    },
  };
}

/** The first item of a comma list (`NICKNAME:Zo,Zozo`). */
function firstItem(property: VCardProperty | undefined, version: string | null): string | null {
  return property ? unescapeValue(splitUnescaped(property.value, ',')[0] ?? '', version) : null;
}

/** The card as it came, for a reject's excerpt (binary values are already gone). */
function chunkText(chunk: VCardChunk): string {
  const body = chunk.lines.map((line) => decodeText(line)).join('\n');
  if (chunk.kind === 'stray') return body;
  return `BEGIN:VCARD\n${body}${chunk.kind === 'card' ? '\nEND:VCARD' : ''}`;
}

/** A scanned chunk to a contact or a reject. */
function readChunk(chunk: VCardChunk, options: FileReadOptions): NormalizedContact | RejectedRecord {
  const position = chunk.kind === 'stray' ? `line ${chunk.line}` : `record ${chunk.recordNumber} (line ${chunk.line})`;
  if (chunk.kind !== 'card') return rejectRecord(position, 'unparseable', chunk.problem ?? 'unreadable', chunkText(chunk));
  const parsed = parseCard(chunk.lines);
  if (parsed.problem !== null) return rejectRecord(position, 'unparseable', parsed.problem, chunkText(chunk));
  const contact = normalizeContact(cardToInput(parsed.properties), options);
  if (!hasIdentity(contact)) {
    return rejectRecord(position, 'no_identity', 'the card has no name, email, phone or organization', chunkText(chunk));
  }
  return contact;
}

/**
 * Reads up to `maxRecords` cards (contacts plus rejects) of a vCard file from `cursor`
 * (`START_CURSOR` for the first batch; `nextCursor` of the batch before after that). A batch always
 * ends at a card boundary, so resuming from its `nextCursor` after a crash reads nothing twice.
 * Only the source's failures throw; a bad card never does.
 */
export async function readVCardBatch(
  source: ByteSource,
  cursor: FileCursor,
  maxRecords: number,
  options: FileReadOptions,
): Promise<FileBatch> {
  checkMaxRecords(maxRecords);
  const scanner = new VCardScanner(source, cursor);
  const batch = new BatchCollector();
  let ended = false;
  while (batch.count < maxRecords) {
    const chunk = await scanner.next();
    if (!chunk) {
      ended = true;
      break;
    }
    const result = readChunk(chunk, options);
    if ('reason' in result) batch.rejected.push(result);
    else batch.records.push(result);
  }
  return batch.finish(scanner.cursor, source.size, ended);
}

/** One card as a contact or a reject: what {@link createCardParser}'s parser returns. */
export type CardResult = { contact: NormalizedContact } | { rejected: RejectedRecord };

/**
 * A parser for single cards that come one by one (a CardDAV `address-data`), the same reader as
 * for files: `(text, position) => CardResult`, where `position` (the card's href) becomes a
 * reject's position. The caller may replace the contact's `externalId` and `etag` with its own
 * (href and DAV etag). A resource holding several cards gives its first.
 */
export function createCardParser(options: FileReadOptions): (text: string, position: string) => Promise<CardResult> {
  return async (text, position) => {
    const batch = await readVCardBatch(bufferByteSource(Buffer.from(text, 'utf8')), START_CURSOR, 1, options);
    const [contact] = batch.records;
    if (contact) return { contact };
    const [rejected] = batch.rejected;
    if (rejected) return { rejected: { ...rejected, position } };
    return { rejected: rejectRecord(position, 'unparseable', 'there is no BEGIN:VCARD … END:VCARD', text) };
  };
}
