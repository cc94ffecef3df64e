/**
 * Owners: one integer per (tenant, user, provider), the first column of the contacts key and of the
 * change feed's index. A contacts row carries that integer instead of the three text columns, so
 * every key entry is an integer and an id, not three strings repeated per contact (the figures are
 * in bench/README.md, "Levers").
 *
 * An owner is filed on its first write and never changes; erasure deletes it with the user's
 * contacts, and a later write files it again under a new number.
 */
import type { Kysely } from 'kysely';
import type { StoreDatabase } from './schema';

/** An owner of contacts: its number and the provider it stands for (the user's are read together). */
export interface Owner {
  ownerId: number;
  provider: string;
}

/** The query for the number of (`tenant`, `userId`, `provider`): no row before its first write. */
export function ownerIdOf(db: Kysely<StoreDatabase>, tenant: string, userId: string, provider: string) {
  return db
    .selectFrom('owners')
    .select('owner_id')
    .where('tenant_id', '=', tenant)
    .where('user_id', '=', userId)
    .where('provider', '=', provider);
}

/** The query for every owner number of a user, whatever the provider. */
export function ownerIdsOf(db: Kysely<StoreDatabase>, tenant: string, userId: string) {
  return db.selectFrom('owners').select('owner_id').where('tenant_id', '=', tenant).where('user_id', '=', userId);
}

/** The user's owners in provider order ({@link compareText}): the order of their listing and of their changes within one change. */
export async function ownersOf(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<Owner[]> {
  const rows = await db.selectFrom('owners').select(['owner_id', 'provider']).where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
  return rows.map((row) => ({ ownerId: Number(row.owner_id), provider: row.provider })).sort((a, b) => compareText(a.provider, b.provider));
}

/**
 * The order of providers in listings and cursors, the same in both dialects: JavaScript's, not the
 * database's collation, since the rows of several owners are merged here.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The number of (`tenant`, `userId`, `provider`), filed in `trx` if it has none yet. Idempotent: a
 * concurrent first write waits on the unique key and then reads the other's number.
 */
export async function fileOwner(trx: Kysely<StoreDatabase>, tenant: string, userId: string, provider: string): Promise<number> {
  const found = await ownerIdOf(trx, tenant, userId, provider).executeTakeFirst();
  if (found) return Number(found.owner_id);
  await trx
    .insertInto('owners')
    .values({ tenant_id: tenant, user_id: userId, provider })
    .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'provider']).doNothing())
    .execute();
  const filed = await ownerIdOf(trx, tenant, userId, provider).executeTakeFirstOrThrow();
  return Number(filed.owner_id);
}

/** Erasure: the user's owners go after their contacts. */
export async function deleteUserOwners(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('owners').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}
