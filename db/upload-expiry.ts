/**
 * Uploads past their retention, and deleting them without taking one from under an import.
 *
 * How an upload is known to be read: `POST /v1/imports` of a file writes the import's workflow ID
 * and the time on the upload's row (`reference`) before it starts the import, in the one statement
 * that also checks the upload is the user's. Expiry (activities/upload-expiry.ts) keeps an upload
 * whose import is running, or whose reference is younger than a grace period (the import may not
 * have started yet). Otherwise it deletes the row only if the reference is still the one it read:
 * an import started on the upload meanwhile changed it, so the delete finds nothing. In PostgreSQL
 * the delete waits on that row's lock and re-checks its condition on the row as committed; SQLite
 * has one writer at a time. Nothing in Temporal's history names the upload: the row is the record.
 */
import type { Kysely } from 'kysely';
import { writeTransaction } from './changes';
import type { StoreDatabase, UploadsTable } from './schema';
import type { ExpiringUpload, ExpiryPosition } from './types';
import { releaseBytes } from './upload-usage';

type ListedRow = Pick<UploadsTable, 'tenant_id' | 'upload_id' | 'created_at' | 'bytes' | 'import_workflow_id' | 'referenced_at'>;

function toExpiring(row: ListedRow): ExpiringUpload {
  return {
    tenant: row.tenant_id,
    uploadId: row.upload_id,
    createdAt: row.created_at,
    bytes: Number(row.bytes),
    reference: row.import_workflow_id && row.referenced_at ? { workflowId: row.import_workflow_id, at: row.referenced_at } : null,
  };
}

/** Records that the import `workflowId` is about to read the upload; `false` when it is not `userId`'s. */
export async function referenceUpload(
  db: Kysely<StoreDatabase>,
  tenant: string,
  uploadId: string,
  importOf: { userId: string; workflowId: string },
): Promise<boolean> {
  const updated = await db
    .updateTable('uploads')
    .set({ import_workflow_id: importOf.workflowId, referenced_at: new Date().toISOString() })
    .where('tenant_id', '=', tenant)
    .where('upload_id', '=', uploadId)
    .where('user_id', '=', importOf.userId)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/** Uploads created before `before`, oldest first, after `after` in (created_at, tenant, upload id) order. */
export async function listExpiring(
  db: Kysely<StoreDatabase>,
  before: string,
  after: ExpiryPosition | null,
  limit: number,
): Promise<ExpiringUpload[]> {
  let query = db
    .selectFrom('uploads')
    .select(['tenant_id', 'upload_id', 'created_at', 'bytes', 'import_workflow_id', 'referenced_at'])
    .where('created_at', '<', before);
  if (after) {
    query = query.where((eb) =>
      eb(eb.refTuple('created_at', 'tenant_id', 'upload_id'), '>', eb.tuple(after.createdAt, after.tenant, after.uploadId)),
    );
  }
  const rows = await query.orderBy('created_at').orderBy('tenant_id').orderBy('upload_id').limit(limit).execute();
  return rows.map(toExpiring);
}

/**
 * Deletes the upload's row, chunks and count if its reference is still `upload.reference`, in one
 * transaction; then `removeFile` deletes its file, if it has one. In that order, because the
 * condition may keep the row: a crash between the two leaves a file no row names, never a row
 * without its bytes.
 */
export async function deleteIfUnreferenced(
  db: Kysely<StoreDatabase>,
  upload: ExpiringUpload,
  removeFile: (storage: string) => Promise<void>,
): Promise<boolean> {
  const storage = await writeTransaction(db, async (trx) => {
    let query = trx.deleteFrom('uploads').where('tenant_id', '=', upload.tenant).where('upload_id', '=', upload.uploadId);
    query = upload.reference
      ? query.where('import_workflow_id', '=', upload.reference.workflowId).where('referenced_at', '=', upload.reference.at)
      : query.where('referenced_at', 'is', null);
    const deleted = await query.returning(['storage', 'bytes']).executeTakeFirst();
    if (!deleted) return null;
    await trx.deleteFrom('upload_chunks').where('tenant_id', '=', upload.tenant).where('upload_id', '=', upload.uploadId).execute();
    await releaseBytes(trx, upload.tenant, Number(deleted.bytes));
    return deleted.storage;
  });
  if (storage === null) return false;
  await removeFile(storage);
  return true;
}
