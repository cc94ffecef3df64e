/**
 * File formats a user can upload: vCard and CSV readers, batch by batch from a resumable cursor,
 * over any {@link ByteSource} (a file on disk, a database blob).
 */
export { START_CURSOR, bufferByteSource, openFileByteSource, parseFileCursor } from './byte-source';
export type { ByteSource, FileByteSource, FileCursor } from './byte-source';
export { CSV_LAYOUTS, MULTI_VALUE_SEPARATOR } from './csv-layouts';
export type { CsvLayout, CsvLayoutProblem } from './csv-layouts';
export { CsvLayoutError, detectCsvLayout, inspectCsv, parseCsvCursor, readCsvBatch } from './csv';
export type { CsvCursor, CsvFile } from './csv';
export type { FileBatch, FileReadOptions } from './file-batch';
export { detectEncoding } from './text-decoding';
export type { DetectedEncoding } from './text-decoding';
export { createCardParser, readVCardBatch } from './vcard';
export type { CardResult } from './vcard';

import type { ByteSource } from './byte-source';

/** The formats we read. */
export type FileFormat = 'vcard' | 'csv';

/**
 * `vcard` when the file starts (after a BOM and blank lines) with `BEGIN:VCARD`, else `csv`: for
 * an upload sent without a telling content type. Reads the first 4 KiB.
 */
export async function detectFileFormat(source: ByteSource): Promise<FileFormat> {
  const head = Buffer.from(await source.read(0, 4096)).toString('latin1');
  // Decoded as Latin-1, a UTF-8 BOM reads `ï»¿`.
  return /^(\u00EF\u00BB\u00BF)?\s*BEGIN:VCARD/i.test(head) ? 'vcard' : 'csv';
}
