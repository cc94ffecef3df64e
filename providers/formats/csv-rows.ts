/**
 * Where a CSV row ends, found on the bytes before decoding (the delimiter, quote and line breaks are
 * ASCII, and no byte of a UTF-8 or Windows-1252 character can be mistaken for them). A quoted
 * field may hold line breaks; a row ends at the first line break outside quotes. Splitting the
 * row into fields is left to csv-parse, which refuses what RFC 4180 does not allow (a quote inside
 * an unquoted field, text after a closing quote): this scanner only has to agree with it about
 * where rows end, and on such rows it goes on to the end of the line as csv-parse would report.
 */
import { LineEndTracker, type RecordScanner } from './byte-source';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

const State = { fieldStart: 0, unquoted: 1, quoted: 2, quoteInQuoted: 3 } as const;
type State = (typeof State)[keyof typeof State];

/** A {@link RecordScanner} for CSV rows separated by `delimiter` (`,` or `;`). */
export class CsvRowScanner implements RecordScanner {
  private state: State = State.fieldStart;
  private readonly ends = new LineEndTracker();
  private quotedNewlines = 0;

  constructor(private readonly delimiter: number) {}

  get newlines(): number {
    return this.ends.newlines + this.quotedNewlines;
  }

  reset(): void {
    this.state = State.fieldStart;
    this.ends.reset();
    this.quotedNewlines = 0;
  }

  scan(bytes: Uint8Array, from: number, to: number): number {
    const pending = this.ends.resolvePending(bytes, from);
    if (pending >= 0) return pending;
    for (let i = from; i < to; i++) {
      const byte = bytes[i];
      if (this.state === State.quoted) {
        if (byte === QUOTE) this.state = State.quoteInQuoted;
        else if (byte === LF) this.quotedNewlines++;
        continue;
      }
      if (byte === LF || byte === CR) return this.ends.endAt(bytes, i, to);
      if (byte === this.delimiter) this.state = State.fieldStart;
      else if (byte === QUOTE && this.state === State.fieldStart) this.state = State.quoted;
      // `""` inside quotes is a quote; any other byte after a closing quote is malformed, and
      // csv-parse will say so: until the end of the line it is as good as unquoted.
      else if (byte === QUOTE && this.state === State.quoteInQuoted) this.state = State.quoted;
      else this.state = State.unquoted;
    }
    return -1;
  }
}

/** `,` or `;`, whichever a header line has more of outside quotes (German Outlook writes `;`). */
export function guessDelimiter(headerLine: string): ',' | ';' {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const char of headerLine) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === ',') commas++;
    else if (!quoted && char === ';') semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}
