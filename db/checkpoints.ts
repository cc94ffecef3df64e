/**
 * Import checkpoints: where an import stands, written in the same transaction as the contacts of
 * the page that moved it there. After a crash the database, not the last heartbeat, says which
 * pages are saved: a retried batch resumes from here when this is ahead of its heartbeat.
 *
 * One row per import (`import_key`, as rejects are filed), overwritten by every page: the whole
 * checkpoint as JSON, read back with the schema that declares it (workflows/checkpoint.ts). `writes`
 * counts the page transactions that committed, so `writes > pages` means a page was written twice.
 */
import type { Kysely, Transaction } from 'kysely';
import { ImportCheckpoint } from '../workflows/checkpoint';
import { parseOrNull } from '../workflows/parse';
import type { StoreDatabase } from './schema';
import type { PageSave, StoredCheckpoint } from './types';

/** Files `saved.checkpoint` in `trx`, the transaction that saved its page's contacts. */
export async function writeCheckpoint(trx: Transaction<StoreDatabase>, tenant: string, userId: string, saved: PageSave): Promise<void> {
  await fileCheckpoint(trx, tenant, userId, saved).execute();
}

/**
 * The statement {@link writeCheckpoint} runs: for a statement that saves the page's contacts too
 * (PostgreSQL's one-statement page save, db/contact-upsert.ts).
 */
export function fileCheckpoint(db: Kysely<StoreDatabase>, tenant: string, userId: string, saved: PageSave) {
  const row = { checkpoint: JSON.stringify(saved.checkpoint), updated_at: new Date().toISOString() };
  return db
    .insertInto('import_checkpoints')
    .values({ tenant_id: tenant, import_key: saved.importKey, user_id: userId, writes: 1, ...row })
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'import_key']).doUpdateSet((eb) => ({
        ...row,
        writes: eb(eb.ref('import_checkpoints.writes'), '+', 1),
      })),
    );
}

/**
 * The import's stored checkpoint, or `null` before its first saved page. A row that does not parse
 * is no checkpoint (a warning says why): the batch then resumes from its heartbeat or its input.
 */
export async function readCheckpoint(db: Kysely<StoreDatabase>, tenant: string, importKey: string): Promise<StoredCheckpoint | null> {
  const row = await db
    .selectFrom('import_checkpoints')
    .select(['checkpoint', 'writes', 'updated_at'])
    .where('tenant_id', '=', tenant)
    .where('import_key', '=', importKey)
    .executeTakeFirst();
  return row ? storedCheckpointOf(row, importKey) : null;
}

/** A checkpoint row read back (see {@link readCheckpoint}): `null` when its JSON does not parse. */
export function storedCheckpointOf(
  row: { checkpoint: string; writes: number | string; updated_at: string },
  importKey: string,
): StoredCheckpoint | null {
  const checkpoint = parseOrNull(ImportCheckpoint, jsonOrText(row.checkpoint));
  if (checkpoint.value === null) {
    console.warn(`store: ignoring the stored checkpoint of import ${importKey}, which does not parse (${checkpoint.problem})`);
    return null;
  }
  // PostgreSQL's driver returns integers as numbers; bigint columns would come back as strings.
  return { checkpoint: checkpoint.value, writes: Number(row.writes), updatedAt: row.updated_at };
}

/** `text` parsed as JSON, or the text itself when it is not JSON (the schema then says what is wrong). */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Erasure: the user's checkpoints go with their contacts (a cursor is theirs too). */
export async function deleteUserCheckpoints(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('import_checkpoints').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}
