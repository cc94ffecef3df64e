/**
 * QUOTED-PRINTABLE (RFC 2045 §6.7) as vCard 2.1 writers use it: `=XX` is one byte, `=` at the end
 * of a line is a soft line break. Decoding gives bytes, because what they mean depends on the
 * property's `CHARSET`.
 */

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

const EQUALS = 0x3d;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Decodes quoted-printable `input`. Lenient where writers are sloppy: lower-case hex is accepted,
 * and an `=` not followed by two hex digits or a line break is kept as it is.
 */
export function decodeQuotedPrintable(input: Uint8Array): Uint8Array {
  const output = new Uint8Array(input.length);
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    if (byte !== EQUALS) {
      output[length++] = byte;
      continue;
    }
    const high = hexValue(input[i + 1]);
    const low = hexValue(input[i + 2]);
    if (high >= 0 && low >= 0) {
      output[length++] = high * 16 + low;
      i += 2;
    } else if (input[i + 1] === CR && input[i + 2] === LF) {
      i += 2;
    } else if (input[i + 1] === LF || input[i + 1] === CR) {
      i += 1;
    } else {
      output[length++] = byte;
    }
  }
  return output.subarray(0, length);
}
