/**
 * The `file` source: a vCard or CSV file the user uploaded (`POST /v1/uploads`), read in batches
 * straight from storage. The cursor is the byte offset and record index of the next record, so a
 * retried batch starts exactly where the last saved page ended and never reads the file whole.
 */
import { z } from 'zod';
import { invalidInput, workerMisconfigured } from '../kit/failures';
import {
  CsvLayoutError,
  parseCsvCursor,
  parseFileCursor,
  readCsvBatch,
  readVCardBatch,
  START_CURSOR,
  type FileBatch,
  type FileCursor,
} from '../formats';
import type { ContactSource, SourceContext } from '../types';

/** The source reading upload `uploadId` of the context's owner. */
export function openFileSource(uploadId: string, context: SourceContext): ContactSource {
  const { uploads, owner } = context;
  if (!uploads) throw workerMisconfigured('This worker has no upload storage to read files from; another worker should take the batch');
  const options = { defaultRegion: context.defaultPhoneRegion };
  let opened: Promise<{ format: 'vcard' | 'csv'; bytes: Awaited<ReturnType<typeof uploads.open>> }> | undefined;
  const open = () =>
    (opened ??= (async () => {
      const meta = await uploads.get(owner.tenant, uploadId);
      // The API checked this at start; an upload erased since, or another user's, is gone for good.
      if (!meta || meta.userId !== owner.userId) throw invalidInput(`Upload ${uploadId} does not exist (any more) for this user`);
      return { format: meta.format, bytes: await uploads.open(owner.tenant, uploadId) };
    })());

  return {
    async fetchPage({ cursor, pageSize, signal }) {
      signal.throwIfAborted();
      const { format, bytes } = await open();
      let batch: FileBatch;
      try {
        const at = cursor === null ? START_CURSOR : (JSON.parse(cursor) as unknown);
        batch =
          format === 'vcard'
            ? await readVCardBatch(bytes, parseFileCursor(at), pageSize, options)
            : await readCsvBatch(bytes, parseCsvCursor(at), pageSize, options);
      } catch (err) {
        if (err instanceof CsvLayoutError) throw invalidInput(`The uploaded CSV file cannot be read: ${err.message}`);
        if (err instanceof z.ZodError || err instanceof SyntaxError) throw invalidInput('The file cursor is not one this source made');
        throw err;
      }
      return {
        contacts: batch.records,
        rejected: batch.rejected,
        nextCursor: batch.nextCursor === null ? null : JSON.stringify(batch.nextCursor satisfies FileCursor),
        total: null,
      };
    },
    async close() {
      if (opened) await (await opened.catch(() => undefined))?.bytes.close();
    },
  };
}
