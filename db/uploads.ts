/**
 * Uploaded files ({@link UploadStore}): metadata in `uploads`, bytes in a file under `filesDir`
 * (SQLite: beside the database) or in `upload_chunks` (PostgreSQL, which may have no local disk in
 * common with the workers).
 *
 * Either way the body is first streamed to a `.part` file, counting and hashing it; `detect` reads
 * that file, and only then is the upload recorded: renamed into place and its row inserted, or
 * copied into `upload_chunks` in the transaction that inserts its row. So a database transaction
 * never stays open while a slow client sends, and a refused or oversized upload leaves nothing.
 * That transaction also adds the upload to its tenant's total, refusing it past the quota
 * (db/upload-usage.ts). Expiry and the references that hold it off are in db/upload-expiry.ts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { writeTransaction } from './changes';
import { insertChunks, openChunkBytes, openFileBytes, spoolToFile } from './upload-bytes';
import { deleteIfUnreferenced, listExpiring, referenceUpload } from './upload-expiry';
import { releaseBytes, reserveBytes, usedBytes } from './upload-usage';
import type { StoreDatabase, UploadsTable } from './schema';
import { UploadQuotaExceededError, type Store, type UploadBytes, type UploadMeta, type UploadStore } from './types';

/** `open` of an upload this tenant does not have. */
export class UploadNotFoundError extends Error {
  override name = 'UploadNotFoundError';
}

/** `storage` of an upload whose bytes are rows of `upload_chunks`. */
const DATABASE_STORAGE = 'database';
/** `storage` of an upload kept as a file: `file:` and its path under `filesDir`, always `/`-separated. */
const FILE_STORAGE_PREFIX = 'file:';

/** Tenants and upload ids become folder and file names: only names that cannot climb out. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function safeName(what: string, name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`${what} "${name.slice(0, 80)}" cannot name a stored file`);
  return name;
}

/** A new upload id: `upl_` and 128 random bits, base64url. */
export function newUploadId(): string {
  return `upl_${randomBytes(16).toString('base64url')}`;
}

function toMeta(row: UploadsTable): UploadMeta {
  if (row.format !== 'vcard' && row.format !== 'csv') {
    throw new Error(`upload ${row.upload_id} has a format this version does not read ("${row.format}")`);
  }
  return {
    uploadId: row.upload_id,
    tenant: row.tenant_id,
    userId: row.user_id,
    format: row.format,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    createdAt: row.created_at,
  };
}

export interface UploadStoreOptions {
  /**
   * Where uploads are kept as files (`<filesDir>/<tenant>/<uploadId>`). Unset, or on PostgreSQL,
   * they are kept in the database.
   */
  filesDir?: string;
}

/** The {@link UploadStore} over an open, migrated database. */
export function createUploadStore(db: Kysely<StoreDatabase>, kind: Store['kind'], options: UploadStoreOptions = {}): UploadStore {
  const filesDir = kind === 'sqlite' && options.filesDir ? path.resolve(options.filesDir) : undefined;

  /** The absolute path of a `file:` storage, refusing one that would leave `filesDir`. */
  function storedFile(storage: string): string {
    if (!filesDir) throw new Error(`an upload is stored as a file (${storage}), but this store has no uploads folder`);
    const file = path.resolve(filesDir, storage.slice(FILE_STORAGE_PREFIX.length));
    if (!file.startsWith(filesDir + path.sep)) throw new Error(`upload storage "${storage}" is outside the uploads folder`);
    return file;
  }

  async function findRow(tenant: string, uploadId: string): Promise<UploadsTable | undefined> {
    return db.selectFrom('uploads').selectAll().where('tenant_id', '=', tenant).where('upload_id', '=', uploadId).executeTakeFirst();
  }

  /** Deletes the file of a `file:` storage (nothing for one kept in the database). */
  async function removeFile(storage: string): Promise<void> {
    if (storage.startsWith(FILE_STORAGE_PREFIX)) await fs.rm(storedFile(storage), { force: true });
  }

  return {
    async save(tenant, userId, body, { maxBytes, quotaBytes, expectedBytes, detect }) {
      // Refused before a byte is read when it cannot fit; the transaction below decides for good.
      const used = await usedBytes(db, tenant);
      const needed = Math.max(1, expectedBytes ?? 0);
      if (used + needed > quotaBytes) throw new UploadQuotaExceededError(used, quotaBytes, needed);
      const uploadId = newUploadId();
      // Spooled beside its final place, so the rename that keeps it never crosses file systems.
      const spoolDir = filesDir ? path.join(filesDir, safeName('tenant', tenant)) : path.join(os.tmpdir(), 'contacts-import-uploads');
      const spooled = await spoolToFile(body, spoolDir, maxBytes);
      let kept: string | null = spooled.path;
      try {
        const format = await detectOn(spooled.path, detect);
        const row: UploadsTable = {
          tenant_id: tenant,
          upload_id: uploadId,
          user_id: userId,
          format,
          bytes: String(spooled.bytes),
          sha256: spooled.sha256,
          storage: DATABASE_STORAGE,
          created_at: new Date().toISOString(),
          import_workflow_id: null,
          referenced_at: null,
        };
        if (filesDir) {
          const relative = `${safeName('tenant', tenant)}/${uploadId}`;
          const file = path.join(filesDir, tenant, uploadId);
          await fs.rename(spooled.path, file);
          kept = file;
          await writeTransaction(db, async (trx) => {
            await trx
              .insertInto('uploads')
              .values({ ...row, storage: FILE_STORAGE_PREFIX + relative })
              .execute();
            await reserveBytes(trx, tenant, spooled.bytes, quotaBytes);
          });
        } else {
          await writeTransaction(db, async (trx) => {
            await insertChunks(trx, { tenant, uploadId }, spooled.path);
            await trx.insertInto('uploads').values(row).execute();
            await reserveBytes(trx, tenant, spooled.bytes, quotaBytes);
          });
          await fs.rm(spooled.path, { force: true });
        }
        kept = null;
        return toMeta(row);
      } finally {
        // Refused by detect, or not recorded: nothing of it stays.
        if (kept !== null) await fs.rm(kept, { force: true });
      }
    },

    async get(tenant, uploadId) {
      const row = await findRow(tenant, uploadId);
      return row ? toMeta(row) : null;
    },

    usedBytes: (tenant) => usedBytes(db, tenant),
    reference: (tenant, uploadId, importOf) => referenceUpload(db, tenant, uploadId, importOf),
    expiring: (before, after, limit) => listExpiring(db, before, after, limit),
    deleteExpired: (upload) => deleteIfUnreferenced(db, upload, removeFile),

    async open(tenant, uploadId): Promise<UploadBytes> {
      const row = await findRow(tenant, uploadId);
      if (!row) throw new UploadNotFoundError(`tenant "${tenant}" has no upload "${uploadId}"`);
      if (row.storage === DATABASE_STORAGE) return openChunkBytes(db, { tenant, uploadId }, Number(row.bytes));
      if (!row.storage.startsWith(FILE_STORAGE_PREFIX)) throw new Error(`upload ${uploadId} has unknown storage "${row.storage}"`);
      return openFileBytes(storedFile(row.storage));
    },

    async deleteUser(tenant, userId) {
      const rows = await db
        .selectFrom('uploads')
        .select(['upload_id', 'storage'])
        .where('tenant_id', '=', tenant)
        .where('user_id', '=', userId)
        .execute();
      if (rows.length === 0) return 0;
      // Files first: were the process to stop between the two, a retry still finds the rows that
      // name them, where the other order could leave a file no row points to.
      for (const row of rows) await removeFile(row.storage);
      const ids = rows.map((row) => row.upload_id);
      await writeTransaction(db, async (trx) => {
        // A few hundred ids a statement keeps well under either dialect's bound-parameter limit.
        for (let start = 0; start < ids.length; start += 500) {
          const some = ids.slice(start, start + 500);
          await trx.deleteFrom('upload_chunks').where('tenant_id', '=', tenant).where('upload_id', 'in', some).execute();
          // Counted from what this transaction deletes: a row another erasure took first counts once.
          const deleted = await trx.deleteFrom('uploads').where('tenant_id', '=', tenant).where('upload_id', 'in', some).returning('bytes').execute();
          await releaseBytes(trx, tenant, deleted.reduce((sum, row) => sum + Number(row.bytes), 0));
        }
      });
      return rows.length;
    },
  };
}

/** Runs `detect` over the spooled file, closing it whatever detect does. */
async function detectOn(file: string, detect: (bytes: UploadBytes) => Promise<UploadMeta['format']>): Promise<UploadMeta['format']> {
  const bytes = await openFileBytes(file);
  try {
    return await detect(bytes);
  } finally {
    await bytes.close();
  }
}
