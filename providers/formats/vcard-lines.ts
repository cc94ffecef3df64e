/**
 * Cuts a vCard file into cards, line by line, without decoding it: `BEGIN:VCARD` … `END:VCARD`,
 * with the byte offset and line number of each, so a batch can stop after any card and the next
 * one start exactly there. Binary data (a base64 `PHOTO`, `LOGO`, `SOUND` or `KEY`, a `data:` URI)
 * is dropped here, as it is read: only the property's name and parameters are kept, so a card
 * with a 5 MB photo costs no more memory than one without.
 */
import { ByteReader, LineScanner, type ByteRecord, type ByteSource, type FileCursor } from './byte-source';

/** What the scanner found between two record boundaries. */
export interface VCardChunk {
  /** `card`: BEGIN…END; `broken`: a card that cannot be read as a whole; `stray`: lines outside any card. */
  kind: 'card' | 'broken' | 'stray';
  /** 1-based number of the card in the file (a stray chunk has the number of the card before it). */
  recordNumber: number;
  /** 1-based line of its first line. */
  line: number;
  /** Its lines without terminators, BEGIN and END excluded, binary values dropped. */
  lines: Uint8Array[];
  /** Why a `broken` or `stray` chunk cannot be read. */
  problem?: string;
}

/** Longest physical line we keep; a longer one is cut (a field keeps 1,000 characters anyway). */
const MAX_LINE_BYTES = 1024 * 1024;
/** A card keeping more than this after binary data is dropped is refused as unreadable. */
export const MAX_CARD_BYTES = 1024 * 1024;
/** How much of a stray run is kept, for its excerpt. */
const MAX_STRAY_BYTES = 4096;

/** Properties whose values are binary data we never keep, whatever their encoding. */
const BINARY_PROPERTIES = new Set(['PHOTO', 'LOGO', 'SOUND', 'KEY']);

const textOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');

function isBlank(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d && byte !== 0x0a) return false;
  return true;
}

function isMarker(bytes: Uint8Array, marker: 'BEGIN:VCARD' | 'END:VCARD'): boolean {
  return bytes.length < 64 && textOf(bytes).trim().toUpperCase() === marker;
}

/** Index of the first `:` outside double quotes (4.0 parameter values may quote one), or -1. */
export function valueColon(bytes: Uint8Array): number {
  let quoted = false;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x22) quoted = !quoted;
    else if (bytes[i] === 0x3a && !quoted) return i;
  }
  return -1;
}

/** The length of the name-and-parameters part to keep when this line starts a binary value, else -1. */
function binaryHeadLength(bytes: Uint8Array): number {
  const colon = valueColon(bytes);
  if (colon < 0) return -1;
  const head = textOf(bytes.subarray(0, colon)).toUpperCase();
  const name = (head.split(';')[0] ?? '').split('.').pop() ?? '';
  const binary =
    BINARY_PROPERTIES.has(name.trim()) ||
    /;\s*ENCODING\s*=\s*"?(B|BASE64)"?\s*(;|$)/.test(head) ||
    /^\s*data:/i.test(textOf(bytes.subarray(colon + 1, colon + 16)));
  return binary ? colon + 1 : -1;
}

const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09;
}

/** Length without trailing blanks. */
export function trimmedLength(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && isSpace(bytes[end - 1])) end--;
  return end;
}

/** True when the last non-blank byte is `=`: in a quoted-printable value, a soft line break. */
export function endsWithSoftBreak(bytes: Uint8Array): boolean {
  const end = trimmedLength(bytes);
  return end > 0 && bytes[end - 1] === 0x3d;
}

/** True when the name-and-parameters part of a property line asks for quoted-printable. */
export function isQuotedPrintableHead(bytes: Uint8Array): boolean {
  const colon = valueColon(bytes);
  return colon > 0 && /QUOTED-PRINTABLE/i.test(textOf(bytes.subarray(0, colon)));
}

/** Reads {@link VCardChunk}s from a cursor; {@link cursor} is always the start of the next one. */
export class VCardScanner {
  private readonly reader: ByteReader;
  private readonly lines = new LineScanner();
  /** A line read but not consumed: the BEGIN that ended a broken card, or what follows blank lines. */
  private pending: { record: ByteRecord; line: number } | null = null;
  private nextLine: number;
  private recordIndex: number;

  constructor(source: ByteSource, start: FileCursor) {
    this.reader = new ByteReader(source, start.byteOffset);
    this.nextLine = start.line;
    this.recordIndex = start.recordIndex;
  }

  /** Where the next chunk starts. */
  get cursor(): FileCursor {
    const byteOffset = this.pending ? this.pending.record.start : this.reader.offset;
    const line = this.pending ? this.pending.line : this.nextLine;
    return { byteOffset, recordIndex: this.recordIndex, line };
  }

  /** The next chunk, or `null` at the end of the file. Blank lines between chunks are consumed. */
  async next(): Promise<VCardChunk | null> {
    const first = await this.skipBlankLines();
    if (!first) return null;
    const chunk = isMarker(first.record.bytes, 'BEGIN:VCARD') ? await this.readCard(first.line) : await this.readStray(first);
    await this.skipBlankLines();
    return chunk;
  }

  private async readLine(): Promise<{ record: ByteRecord; line: number } | null> {
    if (this.pending) {
      const pending = this.pending;
      this.pending = null;
      return pending;
    }
    const record = await this.reader.next(this.lines, MAX_LINE_BYTES);
    if (!record) return null;
    const line = this.nextLine;
    this.nextLine += record.newlines;
    return { record: { ...record, bytes: withoutTerminator(record.bytes) }, line };
  }

  /** Consumes blank lines; leaves the first other line pending and returns it (null at the end). */
  private async skipBlankLines(): Promise<{ record: ByteRecord; line: number } | null> {
    for (;;) {
      const next = await this.readLine();
      if (!next) return null;
      if (!isBlank(next.record.bytes)) return (this.pending = next);
    }
  }

  private async readCard(line: number): Promise<VCardChunk> {
    await this.readLine();
    const recordNumber = ++this.recordIndex;
    const lines: Uint8Array[] = [];
    let kept = 0;
    let binary: 'folded' | 'base64' | null = null;
    // A line after a quoted-printable soft break goes on with the value, whatever it looks like.
    let quotedPrintable = false;
    let softBreak = false;
    const broken = (problem: string): VCardChunk => ({ kind: 'broken', recordNumber, line, lines, problem });
    for (;;) {
      const next = await this.readLine();
      if (!next) return broken('the file ends before END:VCARD');
      const bytes = next.record.bytes;
      if (isMarker(bytes, 'END:VCARD')) {
        if (kept > MAX_CARD_BYTES) return broken(`the card is larger than ${MAX_CARD_BYTES} bytes without its binary data`);
        return { kind: 'card', recordNumber, line, lines };
      }
      if (isMarker(bytes, 'BEGIN:VCARD')) {
        this.pending = next;
        return broken(`no END:VCARD before the next BEGIN:VCARD (line ${next.line})`);
      }
      const folded = softBreak || isSpace(bytes[0]);
      if (!folded) quotedPrintable = isQuotedPrintableHead(bytes);
      softBreak = quotedPrintable && endsWithSoftBreak(bytes);
      if (binary !== null) {
        if (folded || (binary === 'base64' && BASE64_LINE.test(textOf(bytes).trim()))) continue;
        binary = null;
        // vCard 2.1 ends unfolded base64 with a blank line.
        if (isBlank(bytes)) continue;
      }
      let keep = bytes;
      const head = folded ? -1 : binaryHeadLength(bytes);
      if (head >= 0) {
        keep = bytes.subarray(0, head);
        binary = /ENCODING\s*=\s*"?BASE64/i.test(textOf(keep)) ? 'base64' : 'folded';
      }
      kept += keep.length;
      if (kept <= MAX_CARD_BYTES) lines.push(keep);
    }
  }

  private async readStray(first: { record: ByteRecord; line: number }): Promise<VCardChunk> {
    const lines: Uint8Array[] = [];
    let kept = 0;
    let count = 0;
    for (;;) {
      const next = await this.readLine();
      if (!next) break;
      if (isMarker(next.record.bytes, 'BEGIN:VCARD')) {
        this.pending = next;
        break;
      }
      count++;
      kept += next.record.bytes.length;
      if (kept <= MAX_STRAY_BYTES) lines.push(next.record.bytes);
    }
    const problem = `${count} line${count === 1 ? '' : 's'} of text outside BEGIN:VCARD … END:VCARD`;
    return { kind: 'stray', recordNumber: this.recordIndex, line: first.line, lines, problem };
  }
}

function withoutTerminator(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}
