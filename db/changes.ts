/**
 * Deletions and the change feed.
 *
 * Deleted contacts stay as tombstones: `deleted_at` set, their personal fields cleared, hidden from
 * the listing and the counts, and listed by the change feed so a web app's copy can drop them.
 *
 * Every write of a user's contacts (a page upsert, a batch of tombstones, a sweep) takes the next
 * number of that user's change counter (`change_counters`) in its transaction and stamps the rows
 * it changes with it (`change_seq`). The counter row is updated first, so in PostgreSQL it is
 * locked until commit: two writers of one user queue on it, and the numbers follow commit order.
 * A reader that sees number n has therefore seen every change numbered below n, which is what lets
 * `changedSince` resume from a cursor without missing anything. (SQLite has one writer anyway.)
 */
import { sql, SqliteAdapter, type Kysely } from 'kysely';
import type { StoreDatabase } from './schema';
import { compareText, ownerIdOf, ownersOf, type Owner } from './owners';
import { STORED_CONTACT_COLUMNS, storedContact } from './stored-contact';
import { InvalidCursorError, type ChangePage, type ContactChange } from './contact-shapes';

/** How many ids one `IN (…)` lists: far below both dialects' parameter limits. */
const IDS_PER_STATEMENT = 500;
/** The cursor before every change: `changedSince=0`. */
export const CHANGES_START = '0';

interface ChangePosition {
  seq: number;
  provider: string;
  externalId: string;
}

/** The SQLite write transactions of this process, one after the other (see {@link writeTransaction}). */
let sqliteWrites: Promise<unknown> = Promise.resolve();

/**
 * Runs `write` in a transaction that writes. In SQLite:
 * - `BEGIN IMMEDIATE`, so another process's writer (the API and the worker share the file) waits
 *   the busy timeout for the lock instead of failing with SQLITE_BUSY on its first write;
 * - one at a time per process: better-sqlite3 waits for a lock synchronously, so a second store on
 *   the same file in this process, waiting, would block the very thread the holder needs to commit.
 */
export async function writeTransaction<T>(db: Kysely<StoreDatabase>, write: (trx: Kysely<StoreDatabase>) => Promise<T>): Promise<T> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return db.transaction().execute(write);
  return oneSqliteWriterAtATime(db, () => immediateTransaction(db, write));
}

/** Runs `write` (a transaction) after this process's other SQLite write transactions; PostgreSQL at once. */
export function oneSqliteWriterAtATime<T>(db: Kysely<StoreDatabase>, write: () => Promise<T>): Promise<T> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return write();
  const turn = sqliteWrites.then(write);
  sqliteWrites = turn.catch(() => undefined);
  return turn;
}

async function immediateTransaction<T>(db: Kysely<StoreDatabase>, write: (trx: Kysely<StoreDatabase>) => Promise<T>): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql`BEGIN IMMEDIATE`.execute(connection);
    try {
      const result = await write(connection);
      await sql`COMMIT`.execute(connection);
      return result;
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => undefined);
      throw error;
    }
  });
}

/**
 * The next change number of `userId`, in `trx`. Also what serialises the user's writers in
 * PostgreSQL: the counter row stays locked until `trx` ends.
 */
export async function nextChangeSeq(trx: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<number> {
  const row = await takeChangeSeq(trx, tenant, userId).executeTakeFirstOrThrow();
  return Number(row.seq);
}

/**
 * The statement {@link nextChangeSeq} runs, returning `seq`: for a statement that takes the number
 * itself (PostgreSQL's one-statement page save, db/contact-upsert.ts).
 */
export function takeChangeSeq(db: Kysely<StoreDatabase>, tenant: string, userId: string) {
  return db
    .insertInto('change_counters')
    .values({ tenant_id: tenant, user_id: userId, seq: 1 })
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'user_id']).doUpdateSet((eb) => ({ seq: eb(eb.ref('change_counters.seq'), '+', 1) })),
    )
    .returning('seq');
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IDS_PER_STATEMENT) out.push(items.slice(i, i + IDS_PER_STATEMENT));
  return out;
}

/** What a tombstone keeps: its ids, etag and times. Its personal fields go. */
function tombstoneColumns(seq: number, now: string) {
  return {
    deleted_at: now,
    updated_at: now,
    change_seq: seq,
    display_name: null,
    email: null,
    phone: null,
    phone_e164: null,
    organization: null,
    raw: 'null',
  };
}

/**
 * Marks the user's contacts `externalIds` of `provider` deleted; resolves to how many were live.
 * Idempotent: a tombstone stays as it is.
 */
export async function tombstoneContacts(
  db: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  externalIds: readonly string[],
): Promise<number> {
  if (externalIds.length === 0) return 0;
  return writeTransaction(db, (trx) => tombstoneIn(trx, tenant, userId, provider, externalIds));
}

/** {@link tombstoneContacts} in the caller's transaction `trx` (a page's, db/contact-upsert.ts). */
export async function tombstoneIn(
  trx: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  externalIds: readonly string[],
): Promise<number> {
  if (externalIds.length === 0) return 0;
  const tombstone = await tombstoneLive(trx, tenant, userId, provider);
  let deleted = 0;
  for (const ids of chunks([...new Set(externalIds)])) {
    const result = await tombstone.where('external_id', 'in', ids).executeTakeFirst();
    deleted += Number(result.numUpdatedRows);
  }
  return deleted;
}

/**
 * The update that tombstones the user's live contacts of `provider`, stamped with their next change
 * number (taken now, in `trx`): the caller narrows it to the contacts it deletes.
 */
async function tombstoneLive(trx: Kysely<StoreDatabase>, tenant: string, userId: string, provider: string) {
  const columns = tombstoneColumns(await nextChangeSeq(trx, tenant, userId), new Date().toISOString());
  return trx
    .updateTable('contacts')
    .set(columns)
    .where('owner_id', '=', ownerIdOf(trx, tenant, userId, provider))
    .where('deleted_at', 'is', null);
}

/**
 * Marks the contacts `externalIds` as seen by the full listing `mark` (an import), so
 * {@link sweepUnseen} keeps them. Only imports that will sweep call it: a first import does not pay.
 */
export async function markSeen(
  db: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  externalIds: readonly string[],
  mark: string,
): Promise<void> {
  for (const ids of chunks(externalIds)) {
    await db
      .updateTable('contacts')
      .set({ sync_mark: mark })
      .where('owner_id', '=', ownerIdOf(db, tenant, userId, provider))
      .where('external_id', 'in', ids)
      .execute();
  }
}

/** The user's change number now (0 before their first write). */
export async function currentChangeSeq(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<number> {
  const row = await db
    .selectFrom('change_counters')
    .select('seq')
    .where('tenant_id', '=', tenant)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row ? Number(row.seq) : 0;
}

/**
 * After a full listing that began at change number `upTo`: tombstones the user's live contacts of
 * `provider` not written since and not marked by it; resolves to how many. Idempotent: a second
 * sweep with the same mark finds nothing left to do.
 */
export async function sweepUnseen(
  db: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  mark: string,
  upTo: number,
): Promise<number> {
  return writeTransaction(db, (trx) => sweepIn(trx, tenant, userId, provider, mark, upTo));
}

/** {@link sweepUnseen} in the caller's transaction `trx` (a page's, db/contact-upsert.ts). */
export async function sweepIn(
  trx: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  provider: string,
  mark: string,
  upTo: number,
): Promise<number> {
  const result = await (await tombstoneLive(trx, tenant, userId, provider))
    // Written since the listing began: the listing's own pages wrote it (one import per user and provider).
    .where('change_seq', '<=', upTo)
    .where((eb) => eb.or([eb('sync_mark', 'is', null), eb('sync_mark', '<>', mark)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The user's contacts changed after `since` (a cursor, or {@link CHANGES_START}), in commit order. */
export async function listChanges(
  db: Kysely<StoreDatabase>,
  tenant: string,
  userId: string,
  options: { limit: number; since: string },
): Promise<ChangePage> {
  const { limit, since } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new RangeError(`listChanges limit must be an integer from 1 to 1000 (got ${limit})`);
  }
  const after = decodeChangeCursor(since);
  // A range of each owner's (owner_id, change_seq, external_id) index, merged here in the feed's
  // order (change_seq, provider, external_id): a user has an owner per provider, a handful at most.
  const rows: ChangedRow[] = [];
  for (const owner of await ownersOf(db, tenant, userId)) {
    for (const row of await ownerChanges(db, owner, after, limit + 1)) rows.push({ ...row, provider: owner.provider });
  }
  // Stable: rows of one change and provider keep their owner's order, which the next cursor continues.
  rows.sort((a, b) => Number(a.change_seq) - Number(b.change_seq) || compareText(a.provider, b.provider));
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const items = page.map((row): ContactChange => {
    if (row.deleted_at !== null) {
      return { change: 'delete', provider: row.provider, externalId: row.external_id, deletedAt: row.deleted_at };
    }
    return { change: 'upsert', ...storedContact(row.provider, row) };
  });
  return {
    items,
    cursor: last ? encodeChangeCursor({ seq: Number(last.change_seq), provider: last.provider, externalId: last.external_id }) : since,
    hasMore: rows.length > limit,
  };
}

type ChangedRow = Awaited<ReturnType<typeof ownerChanges>>[number] & { provider: string };

/** The first `count` changes of `owner` after the position `after`, in (change_seq, external_id) order. */
function ownerChanges(db: Kysely<StoreDatabase>, owner: Owner, after: ChangePosition, count: number) {
  let query = db
    .selectFrom('contacts')
    .select([...STORED_CONTACT_COLUMNS, 'deleted_at', 'change_seq'])
    .where('owner_id', '=', owner.ownerId)
    // The first test helps planners find the range of the index.
    .where('change_seq', '>=', after.seq);
  // The feed's order puts providers within a change: this owner's rows of the cursor's change come
  // after it only when its provider does, or, of the cursor's provider, past its external id.
  const side = compareText(owner.provider, after.provider);
  if (side < 0) query = query.where('change_seq', '>', after.seq);
  if (side === 0) {
    query = query.where(({ eb, refTuple, tuple }) => eb(refTuple('change_seq', 'external_id'), '>', tuple(after.seq, after.externalId)));
  }
  return query.orderBy('change_seq').orderBy('external_id').limit(count).execute();
}

/** Erasure: the user's change counter goes with their contacts. */
export async function deleteUserChanges(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('change_counters').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}

function encodeChangeCursor(position: ChangePosition): string {
  return Buffer.from(JSON.stringify(['c', position.seq, position.provider, position.externalId])).toString('base64url');
}

/** The position a cursor names; {@link CHANGES_START} is before every row, those of number 0 (the column's default) too. */
function decodeChangeCursor(cursor: string): ChangePosition {
  if (cursor === CHANGES_START) return { seq: -1, provider: '', externalId: '' };
  if (/^[A-Za-z0-9_-]+$/.test(cursor)) {
    try {
      const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      const text = (part: unknown): part is string => typeof part === 'string' && !part.includes('\u0000');
      if (Array.isArray(key) && key.length === 4 && key[0] === 'c' && Number.isSafeInteger(key[1]) && text(key[2]) && text(key[3])) {
        return { seq: key[1] as number, provider: key[2], externalId: key[3] };
      }
    } catch {
      // Not JSON: reported below like any other malformed cursor.
    }
  }
  throw new InvalidCursorError('changedSince is not a cursor this API returned: pass back `cursor` unchanged, or 0 to start from the beginning');
}
