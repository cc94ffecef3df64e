/**
 * Import checkpoints (issue 12): where an import stands, written in the same transaction as the
 * contacts of the page that moved it there. After a crash the database, not the last heartbeat,
 * says which pages are saved: a retried batch resumes from here when this is ahead of its heartbeat.
 *
 * One row per import (`import_key`, as rejects are filed), overwritten by every page. `writes`
 * counts the page transactions that committed, so `writes > pages` means a page was written twice.
 */
import type { Kysely, Transaction } from 'kysely';
import type { StoreDatabase } from './schema';
import type { CheckpointSync, PageCheckpoint, StoredCheckpoint } from './types';

/** The sync fields of `checkpoint` as stored: JSON, or `null` when it has no mode. */
function syncColumn({ mode, deleted, sweepAt, syncToken }: CheckpointSync): string | null {
  return mode === undefined ? null : JSON.stringify({ mode, deleted, sweepAt, syncToken });
}

/** The stored sync fields, keeping only values of the right type (a row is read back, not trusted). */
function readSyncColumn(text: string | null | undefined): CheckpointSync {
  if (!text) return {};
  const value = JSON.parse(text) as Record<string, unknown>;
  const sync: CheckpointSync = {};
  if (value.mode === 'full' || value.mode === 'incremental') sync.mode = value.mode;
  if (typeof value.deleted === 'number') sync.deleted = value.deleted;
  if (typeof value.sweepAt === 'number') sync.sweepAt = value.sweepAt;
  if (typeof value.syncToken === 'string' && value.syncToken) sync.syncToken = value.syncToken;
  return sync;
}

/** Files `checkpoint` in `trx`, the transaction that saved its page's contacts. */
export async function writeCheckpoint(
  trx: Transaction<StoreDatabase>,
  tenant: string,
  userId: string,
  checkpoint: PageCheckpoint,
): Promise<void> {
  const row = {
    cursor: checkpoint.cursor,
    fetched: checkpoint.fetched,
    saved: checkpoint.saved,
    rejected: checkpoint.rejected,
    pages: checkpoint.pages,
    total: checkpoint.total,
    sync: syncColumn(checkpoint),
    updated_at: new Date().toISOString(),
  };
  await trx
    .insertInto('import_checkpoints')
    .values({ tenant_id: tenant, import_key: checkpoint.importKey, user_id: userId, writes: 1, ...row })
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'import_key']).doUpdateSet((eb) => ({
        ...row,
        writes: eb(eb.ref('import_checkpoints.writes'), '+', 1),
      })),
    )
    .execute();
}

/** The import's stored checkpoint, or `null` before its first saved page. */
export async function readCheckpoint(db: Kysely<StoreDatabase>, tenant: string, importKey: string): Promise<StoredCheckpoint | null> {
  const row = await db
    .selectFrom('import_checkpoints')
    .selectAll()
    .where('tenant_id', '=', tenant)
    .where('import_key', '=', importKey)
    .executeTakeFirst();
  if (!row) return null;
  return {
    importKey: row.import_key,
    cursor: row.cursor,
    // PostgreSQL's driver returns integers as numbers; bigint columns would come back as strings.
    fetched: Number(row.fetched),
    saved: Number(row.saved),
    rejected: Number(row.rejected),
    pages: Number(row.pages),
    total: row.total === null ? null : Number(row.total),
    writes: Number(row.writes),
    updatedAt: row.updated_at,
    ...readSyncColumn(row.sync),
  };
}

/** Erasure: the user's checkpoints go with their contacts (a cursor is theirs too). */
export async function deleteUserCheckpoints(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('import_checkpoints').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}
