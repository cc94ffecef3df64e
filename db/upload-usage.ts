/**
 * What each tenant's uploads take, in `upload_usage`: added to in the transaction that records an
 * upload, taken from in the one that deletes it. The addition is one conditional `UPDATE`
 * (`bytes + n <= quota`): PostgreSQL locks the tenant's row until commit and re-checks the
 * condition on the row a concurrent upload left, and SQLite has one writer at a time, so two
 * uploads at once can never both pass the quota.
 */
import type { Kysely } from 'kysely';
import type { StoreDatabase } from './schema';
import { UploadQuotaExceededError } from './types';

/** Bytes the tenant's uploads take now (0 for a tenant that never uploaded). */
export async function usedBytes(db: Kysely<StoreDatabase>, tenant: string): Promise<number> {
  const row = await db.selectFrom('upload_usage').select('bytes').where('tenant_id', '=', tenant).executeTakeFirst();
  return Number(row?.bytes ?? 0);
}

/**
 * Adds `bytes` to the tenant's total in `trx`, or throws {@link UploadQuotaExceededError} (and the
 * caller rolls back) when that would pass `quotaBytes`. Run it last in the transaction: from here
 * to commit, the tenant's other uploads wait on its row.
 */
export async function reserveBytes(trx: Kysely<StoreDatabase>, tenant: string, bytes: number, quotaBytes: number): Promise<void> {
  await trx.insertInto('upload_usage').values({ tenant_id: tenant, bytes: 0 }).onConflict((oc) => oc.column('tenant_id').doNothing()).execute();
  const updated = await trx
    .updateTable('upload_usage')
    .set((eb) => ({ bytes: eb(eb.ref('bytes'), '+', bytes) }))
    .where('tenant_id', '=', tenant)
    .where((eb) => eb(eb(eb.ref('bytes'), '+', bytes), '<=', quotaBytes))
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) throw new UploadQuotaExceededError(await usedBytes(trx, tenant), quotaBytes, bytes);
}

/** Takes `bytes` (of uploads deleted in `trx`) from the tenant's total. */
export async function releaseBytes(trx: Kysely<StoreDatabase>, tenant: string, bytes: number): Promise<void> {
  if (bytes <= 0) return;
  await trx
    .updateTable('upload_usage')
    .set((eb) => ({ bytes: eb(eb.ref('bytes'), '-', bytes) }))
    .where('tenant_id', '=', tenant)
    .execute();
}
