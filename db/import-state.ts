/**
 * What an import's status reads from the store, in one statement: the checkpoint stored with its
 * last saved page, when one of its batch attempts last failed, and the latest closure among the
 * budget keys its requests count against. The API reads it on every status; the workflow and
 * Temporal are asked only for what the store cannot say (api/imports/status-reader.ts).
 *
 * A failure is noted on the import's checkpoint row as the count of page writes it came after
 * (`failed_writes`) and never cleared: page writes leave the column alone and count `writes` up, so
 * "a batch failed since the last saved page" is `failed_writes = writes`, with no clock to compare
 * across machines and at no cost to the hot path of writing pages. Before the first saved page there is no row to note
 * it on, and no checkpoint: the status asks Temporal then anyway.
 */
import { sql, type Kysely } from 'kysely';
import { storedCheckpointOf } from './checkpoints';
import { oneSqliteWriterAtATime } from './changes';
import { budgetWaitOf, latestClosure, type ClosureRow } from './rate-budgets';
import type { StoreDatabase } from './schema';
import type { ImportStateStore, StoredImportState } from './types';

export function createImportStateStore(db: Kysely<StoreDatabase>, kind: 'sqlite' | 'postgres'): ImportStateStore {
  return {
    async read(tenant, importKey): Promise<StoredImportState> {
      // A one-row source, so the closure is read even when the import has no checkpoint yet.
      const { rows } = await sql<{ checkpoint: string | null; writes: number | null; updated_at: string | null; failed_writes: number | string | null } & ClosureRow>`
        SELECT c.checkpoint, c.writes, c.updated_at, c.failed_writes, w.closed_until, w.closed_by
        FROM (SELECT 1 AS one) o
        LEFT JOIN import_checkpoints c ON c.tenant_id = ${tenant} AND c.import_key = ${importKey}
        LEFT JOIN (${latestClosure(kind, tenant, importKey)}) w ON 1 = 1`.execute(db);
      const row = rows[0];
      if (!row) return { progress: null, wait: null };
      const { checkpoint, writes, updated_at, failed_writes } = row;
      const stored = checkpoint !== null && updated_at !== null ? storedCheckpointOf({ checkpoint, writes: writes ?? 0, updated_at }, importKey) : null;
      const failedSinceSave = stored !== null && failed_writes !== null && Number(failed_writes) === stored.writes;
      return { progress: stored && { ...stored, failedSinceSave }, wait: budgetWaitOf(row) };
    },

    async noteBatchFailure(tenant, importKey) {
      await oneSqliteWriterAtATime(db, () =>
        db.updateTable('import_checkpoints').set((eb) => ({ failed_writes: eb.ref('writes') })).where('tenant_id', '=', tenant).where('import_key', '=', importKey).execute(),
      );
    },
  };
}
