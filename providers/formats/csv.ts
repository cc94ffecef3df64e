/**
 * CSV contact exports (Google Contacts, current and older; Outlook) to contacts, a batch at a time
 * from a resumable cursor. UTF-8 with or without a BOM; a file that is not valid UTF-8 is read as
 * Windows-1252. Rows are cut on the bytes ({@link CsvRowScanner}) and each is parsed by csv-parse,
 * so one malformed row is one reject and the rows after it are read as usual.
 *
 * Identity: the layout's id column when it has one (none of the built-in layouts does), else a hash
 * of the row's non-empty cells by column name, so the same export imported again upserts.
 */
import { parse } from 'csv-parse/sync';
import { hasIdentity, normalizeContact } from '../kit/normalize';
import { rejectRecord } from '../kit/records';
import type { RejectedRecord } from '../types';
import { z } from 'zod';
import { ByteReader, LineScanner, fileCursorSchema, type ByteRecord, type ByteSource, type FileCursor } from './byte-source';
import { matchCsvLayout, rowToInput, type CsvLayout, type CsvLayoutProblem, type ResolvedLayout } from './csv-layouts';
import { CsvRowScanner, guessDelimiter } from './csv-rows';
import { BatchCollector, checkMaxRecords, type FileBatch, type FileReadOptions } from './file-batch';
import { decodeAs, detectEncoding, type DetectedEncoding } from './text-decoding';

/** A CSV cursor also carries the file's encoding, detected once (it takes a read of the whole file). */
export interface CsvCursor extends FileCursor {
  encoding?: DetectedEncoding;
}

const csvCursorSchema = fileCursorSchema.extend({ encoding: z.enum(['utf-8', 'windows-1252']).optional() });

/** Parses a CSV cursor that came back from elsewhere (workflow history, a database column). Throws a `ZodError`. */
export function parseCsvCursor(value: unknown): CsvCursor {
  return csvCursorSchema.parse(value);
}

/** A row longer than this is refused (it is nearly always an unclosed quote swallowing the file). */
export const MAX_ROW_BYTES = 1024 * 1024;

/** Thrown by {@link readCsvBatch} for a header no layout matches (the upload should have refused it). */
export class CsvLayoutError extends Error {
  override name = 'CsvLayoutError';
  constructor(readonly problem: CsvLayoutProblem) {
    super(problem.message);
  }
}

/** What {@link inspectCsv} learns from a file's start. */
export interface CsvFile {
  encoding: DetectedEncoding;
  delimiter: ',' | ';';
  layout: ResolvedLayout;
  /** Where the first data row starts. */
  firstRow: FileCursor;
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];

function stripTerminator(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (bytes[end - 1] === 0x0a) end--;
  if (bytes[end - 1] === 0x0d) end--;
  return bytes.subarray(0, end);
}

/** A row's fields, or csv-parse's reason for refusing it. */
function parseRow(text: string, delimiter: string): { fields: string[] } | { error: string } {
  try {
    // The row has no terminator left; naming one spares csv-parse guessing it on every row.
    const rows = parse(text, { delimiter, record_delimiter: '\n', relax_column_count: true, bom: false }) as string[][];
    if (rows.length !== 1 || !rows[0]) return { error: `expected one row, found ${rows.length}` };
    return { fields: rows[0] };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The layout of a header line (the first line of a CSV, as text; a BOM is fine), or a problem
 * naming the columns each known layout expects, for the API to refuse the upload with `422`.
 * `layouts` defaults to the built-in ones.
 */
export function detectCsvLayout(
  headerLine: string,
  layouts?: readonly CsvLayout[],
): { ok: true; layout: ResolvedLayout } | { ok: false; problem: CsvLayoutProblem } {
  const text = headerLine.replace(/^\uFEFF/, '').replace(/\r?\n$/, '');
  const parsed = parseRow(text, guessDelimiter(text));
  return matchCsvLayout('fields' in parsed ? parsed.fields : [], layouts);
}

/**
 * Reads a CSV file's header (and, unless `encoding` is given, the whole file once to detect its
 * encoding): its layout, or a problem for a `422`. Only the source's failures throw.
 */
export async function inspectCsv(
  source: ByteSource,
  options: { encoding?: DetectedEncoding; layouts?: readonly CsvLayout[] } = {},
): Promise<{ ok: true; file: CsvFile } | { ok: false; problem: CsvLayoutProblem }> {
  const encoding = options.encoding ?? (await detectEncoding(source));
  const start = await source.read(0, UTF8_BOM.length);
  const bom = UTF8_BOM.every((byte, i) => start[i] === byte) ? UTF8_BOM.length : 0;
  // The header is one line: no layout we know quotes a line break into a column name.
  const line = await new ByteReader(source, bom).next(new LineScanner(), MAX_ROW_BYTES);
  const text = line ? decodeAs(stripTerminator(line.bytes), encoding) : '';
  const delimiter = guessDelimiter(text);
  const detected = detectCsvLayout(text, options.layouts);
  if (!detected.ok) return detected;
  const firstRow = { byteOffset: line?.end ?? bom, recordIndex: 0, line: 1 + (line?.newlines ?? 0) };
  return { ok: true, file: { encoding, delimiter, layout: detected.layout, firstRow } };
}

/** One scanned row to a contact, a reject, or nothing (a blank line). */
function readRow(
  row: ByteRecord,
  position: string,
  file: CsvFile,
  options: FileReadOptions,
): ReturnType<typeof normalizeContact> | RejectedRecord | null {
  const text = decodeAs(stripTerminator(row.bytes), file.encoding);
  if (row.truncated) {
    return rejectRecord(position, 'unparseable', `the row is longer than ${MAX_ROW_BYTES} bytes (an unclosed quote?)`, text);
  }
  if (text.trim() === '') return null;
  const parsed = parseRow(text, file.delimiter);
  if ('error' in parsed) return rejectRecord(position, 'unparseable', parsed.error, text);
  const columns = file.layout.header.length;
  if (parsed.fields.length > columns) {
    return rejectRecord(position, 'unparseable', `the row has ${parsed.fields.length} fields, the header ${columns}`, text);
  }
  const contact = normalizeContact(rowToInput(file.layout, parsed.fields), options);
  if (!hasIdentity(contact)) return rejectRecord(position, 'no_identity', 'the row has no name, email, phone or organization', text);
  return contact;
}

/**
 * Reads up to `maxRecords` rows (contacts plus rejects; blank lines are skipped) of a CSV file from
 * `cursor`: `START_CURSOR` for the first batch, then the `nextCursor` of the batch before, which
 * carries the encoding. A batch always ends at a row boundary, so resuming reads nothing twice.
 * Throws {@link CsvLayoutError} for a header no layout matches; a bad row never throws.
 */
export async function readCsvBatch(
  source: ByteSource,
  cursor: CsvCursor,
  maxRecords: number,
  options: FileReadOptions,
): Promise<FileBatch<CsvCursor>> {
  checkMaxRecords(maxRecords);
  const inspected = await inspectCsv(source, { encoding: cursor.encoding });
  if (!inspected.ok) throw new CsvLayoutError(inspected.problem);
  const { file } = inspected;
  const from = cursor.byteOffset === 0 ? file.firstRow : cursor;
  const reader = new ByteReader(source, from.byteOffset);
  const scanner = new CsvRowScanner(file.delimiter.charCodeAt(0));
  const batch = new BatchCollector();
  let { recordIndex, line } = from;
  let ended = false;
  while (batch.count < maxRecords) {
    const row = await reader.next(scanner, MAX_ROW_BYTES);
    if (!row) {
      ended = true;
      break;
    }
    const result = readRow(row, `row ${recordIndex + 1} (line ${line})`, file, options);
    line += row.newlines;
    if (result === null) continue;
    recordIndex++;
    if ('reason' in result) batch.rejected.push(result);
    else batch.records.push(result);
  }
  return batch.finish({ byteOffset: reader.offset, recordIndex, line, encoding: file.encoding }, source.size, ended);
}
