/**
 * The bytes of uploads: streaming a body to a file while counting and hashing it, and reading a
 * stored upload back by byte range, from a file or from its base64 chunks in `upload_chunks`.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { StoreDatabase } from './schema';
import { UploadTooLargeError, type UploadBytes } from './types';

/** Bytes per `upload_chunks` row: 256 KiB (about 350 KB of base64), about 200 rows for a 50 MiB file. */
export const CHUNK_BYTES = 256 * 1024;

/** A body written to disk: where, how long, its hex SHA-256. */
export interface SpooledFile {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Writes `body` to a new file in `dir` (named `.<random>.part`, so it is never taken for an upload),
 * counting and hashing as it goes. Past `maxBytes` it stops reading (so the sender's stream is
 * cancelled), deletes the file and throws {@link UploadTooLargeError}; any other failure, the body's
 * own included, deletes the file too.
 */
export async function spoolToFile(body: AsyncIterable<Uint8Array>, dir: string, maxBytes: number): Promise<SpooledFile> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `.${randomBytes(12).toString('base64url')}.part`);
  const handle = await fs.open(file, 'wx');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    // Leaving this loop early (the throw below) calls the body's return(): it stops reading.
    for await (const chunk of body) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw new UploadTooLargeError(`the upload is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.close();
    return { path: file, bytes, sha256: hash.digest('hex') };
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(file, { force: true });
    throw error;
  }
}

/** Random access to a file on disk as {@link UploadBytes}; `size` is its length when opened. */
export async function openFileBytes(file: string): Promise<UploadBytes> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    return {
      size,
      async read(offset, length) {
        const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
        let filled = 0;
        while (filled < buffer.length) {
          const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, offset + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return buffer.subarray(0, filled);
      },
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Copies a spooled file into `upload_chunks`, {@link CHUNK_BYTES} a row. Run it inside the
 * transaction that records the upload, so the chunks and their metadata row commit together.
 */
export async function insertChunks(
  db: Kysely<StoreDatabase>,
  key: { tenant: string; uploadId: string },
  file: string,
): Promise<void> {
  const source = await openFileBytes(file);
  try {
    for (let seq = 0, offset = 0; offset < source.size; seq++, offset += CHUNK_BYTES) {
      const data = Buffer.from(await source.read(offset, CHUNK_BYTES)).toString('base64');
      await db
        .insertInto('upload_chunks')
        .values({ tenant_id: key.tenant, upload_id: key.uploadId, seq, byte_offset: String(offset), data })
        .execute();
    }
  } finally {
    await source.close();
  }
}

/**
 * An upload kept in `upload_chunks`, as {@link UploadBytes}. It reads the chunk index (offsets,
 * no data) once, then each `read` fetches only the chunks overlapping its range. The readers read
 * forward in steps that rarely line up with chunks, so the last chunk fetched is kept for the next.
 */
export async function openChunkBytes(
  db: Kysely<StoreDatabase>,
  key: { tenant: string; uploadId: string },
  size: number,
): Promise<UploadBytes> {
  const index = await db
    .selectFrom('upload_chunks')
    .select(['seq', 'byte_offset'])
    .where('tenant_id', '=', key.tenant)
    .where('upload_id', '=', key.uploadId)
    .orderBy('seq')
    .execute();
  const starts = index.map((row) => Number(row.byte_offset));
  let cached: { seq: number; bytes: Buffer } | null = null;

  /** The position in `index` of the chunk holding byte `offset` (binary search on the starts). */
  const chunkAt = (offset: number): number => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return low;
  };

  async function chunks(from: number, to: number): Promise<Map<number, Buffer>> {
    const wanted = index.slice(from, to + 1).map((row) => row.seq);
    const found = new Map<number, Buffer>();
    const missing = wanted.filter((seq) => {
      if (cached?.seq !== seq) return true;
      found.set(seq, cached.bytes);
      return false;
    });
    if (missing.length > 0) {
      const rows = await db
        .selectFrom('upload_chunks')
        .select(['seq', 'data'])
        .where('tenant_id', '=', key.tenant)
        .where('upload_id', '=', key.uploadId)
        .where('seq', 'in', missing)
        .execute();
      for (const row of rows) found.set(row.seq, Buffer.from(row.data, 'base64'));
    }
    return found;
  }

  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + Math.max(0, length));
      if (offset >= end || index.length === 0) return new Uint8Array(0);
      const first = chunkAt(offset);
      const last = chunkAt(end - 1);
      const found = await chunks(first, last);
      const out = Buffer.allocUnsafe(end - offset);
      for (let i = first; i <= last; i++) {
        const row = index[i];
        const bytes = row ? found.get(row.seq) : undefined;
        if (!row || !bytes) throw new Error(`upload ${key.uploadId} is missing its chunk ${row?.seq ?? i}`);
        const start = starts[i] ?? 0;
        bytes.copy(out, Math.max(0, start - offset), Math.max(0, offset - start), Math.min(bytes.length, end - start));
        if (i === last) cached = { seq: row.seq, bytes };
      }
      return out;
    },
    close: async () => {
      cached = null;
    },
  };
}
