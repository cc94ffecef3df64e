/**
 * Reading a stored file a record at a time, by byte ranges, so a 50 MB upload is never in memory
 * whole and a batch can start again at any record boundary.
 *
 * {@link ByteSource} is the only thing the readers need from storage: a file on disk
 * ({@link openFileByteSource}), a buffer ({@link bufferByteSource}), or a database blob read with
 * `substr` (the store implements the same two members).
 */
import { z } from 'zod';
import { openFileBytes } from '../../db/upload-bytes';

/** Random access to the bytes of one stored file. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** Up to `length` bytes from `offset`; fewer only at the end of the file, none past it. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A {@link ByteSource} over an open file; `close()` it when done. */
export interface FileByteSource extends ByteSource {
  close(): Promise<void>;
}

/** Where a batch starts: always the first byte of a record (a card, a CSV row) or of the end. */
export interface FileCursor {
  /** Offset of the next record's first byte. */
  byteOffset: number;
  /** How many records came before it (so positions read `record 1234` across batches). */
  recordIndex: number;
  /** 1-based line number of `byteOffset`, for the positions of rejected records. */
  line: number;
}

/** The cursor of a file's first batch. */
export const START_CURSOR: FileCursor = Object.freeze({ byteOffset: 0, recordIndex: 0, line: 1 });

/** The schema of a {@link FileCursor}; a format whose cursor carries more extends it. */
export const fileCursorSchema = z.object({
  byteOffset: z.number().int().nonnegative(),
  recordIndex: z.number().int().nonnegative(),
  line: z.number().int().positive(),
});

/** Parses a cursor that came back from elsewhere (workflow history, a database column). Throws a `ZodError`. */
export function parseFileCursor(value: unknown): FileCursor {
  return fileCursorSchema.parse(value);
}

/** A {@link ByteSource} over bytes already in memory (tests, small uploads). */
export function bufferByteSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length)),
  };
}

/** Opens `path` for reading by ranges (the store's own file reader). The caller closes it. */
export const openFileByteSource: (path: string) => Promise<FileByteSource> = openFileBytes;

/**
 * Finds where one record ends. Stateful between {@link reset}s, because a record may be scanned
 * over several reads (a quoted CSV field spanning lines, a line longer than a read).
 */
export interface RecordScanner {
  /** Starts a new record. */
  reset(): void;
  /** Scans `bytes[from..to)`: the index just after the record's terminator, or -1 when it goes on. */
  scan(bytes: Uint8Array, from: number, to: number): number;
  /** Line terminators seen since {@link reset} (CRLF counts once). */
  readonly newlines: number;
}

/** One record's bytes and where it was in the file. */
export interface ByteRecord {
  /** File offset of its first byte, and just after its terminator. */
  start: number;
  end: number;
  /** Its bytes, terminator included; only the first `maxBytes` when {@link truncated}. */
  bytes: Uint8Array;
  /** It was longer than the reader keeps; the rest was skipped, not held in memory. */
  truncated: boolean;
  /** Line terminators inside and at the end of it. */
  newlines: number;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Line terminators for {@link RecordScanner}s: LF, CRLF or a lone CR. A CR at the end of what has
 * been read so far might be followed by an LF in the next read, so the scanner waits for it.
 */
export class LineEndTracker {
  newlines = 0;
  private pendingCr = false;

  reset(): void {
    this.newlines = 0;
    this.pendingCr = false;
  }

  /** Continues after a CR seen at the end of the previous read: the record's end, or -1 if none is pending. */
  resolvePending(bytes: Uint8Array, from: number): number {
    if (!this.pendingCr) return -1;
    this.pendingCr = false;
    return bytes[from] === LF ? from + 1 : from;
  }

  /** At index `i` of a terminator byte: the index after the terminator, or -1 when it is a CR at `to - 1`. */
  endAt(bytes: Uint8Array, i: number, to: number): number {
    this.newlines++;
    if (bytes[i] === LF) return i + 1;
    if (i + 1 < to) return bytes[i + 1] === LF ? i + 2 : i + 1;
    this.pendingCr = true;
    return -1;
  }
}

/** A {@link RecordScanner} for plain lines. */
export class LineScanner implements RecordScanner {
  private readonly ends = new LineEndTracker();

  get newlines(): number {
    return this.ends.newlines;
  }

  reset(): void {
    this.ends.reset();
  }

  scan(bytes: Uint8Array, from: number, to: number): number {
    const pending = this.ends.resolvePending(bytes, from);
    if (pending >= 0) return pending;
    for (let i = from; i < to; i++) {
      const byte = bytes[i];
      if (byte === LF || byte === CR) return this.ends.endAt(bytes, i, to);
    }
    return -1;
  }
}

/** Bytes read from the source per read; records longer than this take several reads. */
const READ_BYTES = 256 * 1024;

/** Reads consecutive records from a {@link ByteSource}, starting at a given offset. */
export class ByteReader {
  private buffer: Uint8Array = new Uint8Array(0);
  /** File offset of `buffer[0]`. */
  private base: number;
  private pos = 0;
  private eof = false;

  constructor(
    private readonly source: ByteSource,
    offset: number,
  ) {
    this.base = offset;
  }

  /** File offset of the next record. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** The next record, or `null` at the end of the file. Keeps at most `maxBytes` of a longer one. */
  async next(scanner: RecordScanner, maxBytes: number): Promise<ByteRecord | null> {
    scanner.reset();
    const start = this.offset;
    let scanFrom = this.pos;
    let head: Uint8Array | null = null;
    for (;;) {
      const end = scanFrom < this.buffer.length || this.eof ? scanner.scan(this.buffer, scanFrom, this.buffer.length) : -1;
      if (end >= 0) return this.take(start, end, head, scanner.newlines);
      if (head === null && this.buffer.length - this.pos > maxBytes) head = this.buffer.slice(this.pos, this.pos + maxBytes);
      if (head !== null) {
        // Too long to keep: its start is in `head`; forget what was scanned.
        this.base += this.buffer.length;
        this.buffer = new Uint8Array(0);
        this.pos = 0;
      }
      const scanned = this.buffer.length - this.pos;
      if (!(await this.fill())) {
        if (this.pos >= this.buffer.length && head === null) return null;
        return this.take(start, this.buffer.length, head, scanner.newlines);
      }
      scanFrom = this.pos + scanned;
    }
  }

  private take(start: number, endIndex: number, head: Uint8Array | null, newlines: number): ByteRecord {
    const bytes = head ?? this.buffer.subarray(this.pos, endIndex);
    this.pos = endIndex;
    return { start, end: this.offset, bytes, truncated: head !== null, newlines };
  }

  /** Appends the next read to what is left unconsumed; false at the end of the file. */
  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    const chunk = await this.source.read(this.base + this.buffer.length, READ_BYTES);
    if (chunk.length === 0) {
      this.eof = true;
      return false;
    }
    const rest = this.buffer.subarray(this.pos);
    const next = new Uint8Array(rest.length + chunk.length);
    next.set(rest);
    next.set(chunk, rest.length);
    this.base += this.pos;
    this.buffer = next;
    this.pos = 0;
    return true;
  }
}
