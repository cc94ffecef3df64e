/**
 * Bytes to text for files that do not always say their encoding: UTF-8 when the bytes are valid
 * UTF-8, else Windows-1252 (what Outlook and old phones write on Western systems). Windows-1252
 * decodes any byte sequence, so decoding never fails. As the WHATWG Encoding Standard does, the
 * `ISO-8859-1`, `latin1` and `US-ASCII` labels are read as Windows-1252 too.
 *
 * Windows-1252 is decoded here, not by `TextDecoder`: since Node 20.18.3 and 22.13.0,
 * `new TextDecoder('windows-1252')` decodes as Latin-1 and turns `0x80` into U+0080 instead of `€`
 * (nodejs/node#60888, nodejs/node#56542). Latin-1 plus the 32-entry table below is the standard's
 * mapping, whatever the Node version.
 */
import { TextDecoder } from 'node:util';
import type { ByteSource } from './byte-source';

/** The encodings we detect in files that do not name theirs. */
export type DetectedEncoding = 'utf-8' | 'windows-1252';

const decoders = new Map<string, TextDecoder | null>();

/** A decoder for a lower-case charset label (`utf-8`, `shift_jis`), or `null` for a label WHATWG does not know. */
function decoderFor(label: string): TextDecoder | null {
  let decoder = decoders.get(label);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(label);
    } catch {
      decoder = null;
    }
    decoders.set(label, decoder);
  }
  return decoder;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Windows-1252 bytes 0x80–0x9F (the WHATWG index); every other byte is the code point of its value. */
const WINDOWS_1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** Labels the Encoding Standard reads as Windows-1252. */
const WINDOWS_1252_LABELS = new Set(['windows-1252', 'cp1252', 'x-cp1252', 'iso-8859-1', 'iso8859-1', 'latin1', 'l1', 'us-ascii', 'ascii']);

/** Decodes Windows-1252; never fails. */
export function decodeWindows1252(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
    .toString('latin1')
    .replace(/[\u0080-\u009f]/g, (char) => WINDOWS_1252_HIGH[char.charCodeAt(0) - 0x80] as string);
}

/**
 * Decodes `bytes` in the encoding `charset` names; without one (or with an unknown one), as UTF-8
 * when they are valid UTF-8, else as Windows-1252.
 */
export function decodeText(bytes: Uint8Array, charset?: string | null): string {
  const label = charset?.trim().toLowerCase();
  if (label && WINDOWS_1252_LABELS.has(label)) return decodeWindows1252(bytes);
  const named = label ? decoderFor(label) : null;
  if (named) return named.decode(bytes);
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return decodeWindows1252(bytes);
  }
}

/** Decodes `bytes` in an encoding already detected for the whole file. */
export function decodeAs(bytes: Uint8Array, encoding: DetectedEncoding): string {
  return encoding === 'utf-8' ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8') : decodeWindows1252(bytes);
}

function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte > 0x7f) return false;
  return true;
}

const DETECT_READ_BYTES = 1024 * 1024;

/**
 * Reads the whole source once, a megabyte at a time, and says whether it is valid UTF-8. One
 * invalid sequence anywhere makes it Windows-1252: decoding file by file (not row by row) keeps a
 * Windows-1252 file whose one row happens to be valid UTF-8 from turning into mojibake there.
 */
export async function detectEncoding(source: ByteSource): Promise<DetectedEncoding> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let offset = 0; offset < source.size; ) {
    const chunk = await source.read(offset, DETECT_READ_BYTES);
    if (chunk.length === 0) break;
    if (!decodes(() => decoder.decode(chunk, { stream: true }))) return 'windows-1252';
    offset += chunk.length;
  }
  return decodes(() => decoder.decode()) ? 'utf-8' : 'windows-1252';
}

/** False when a fatal decoder met an invalid sequence. */
function decodes(decode: () => string): boolean {
  try {
    decode();
    return true;
  } catch {
    return false;
  }
}
