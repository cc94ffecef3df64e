/**
 * Records an import set aside (quarantine): filed per import and position, listed a page at a
 * time. A retried page files the same rejects again under the same keys, so nothing doubles.
 */
import type { Kysely } from 'kysely';
import type { RejectsTable, StoreDatabase } from './schema';
import { InvalidCursorError, type RejectedRecord, type RejectPage } from './types';

/** Enough to keep one statement under SQLite's bound-parameter limit (8 columns a row). */
const ROWS_PER_STATEMENT = 1000;
const MAX_PAGE_SIZE = 1000;
/** Excerpts are cut to this many bytes of UTF-8 (the quarantine keeps at most 2 KiB of a record). */
export const MAX_EXCERPT_BYTES = 2048;

/** `text` cut to at most `maxBytes` of UTF-8, at a character boundary, without NUL. */
export function cutUtf8(text: string, maxBytes: number = MAX_EXCERPT_BYTES): string {
  const clean = text.replaceAll('\u0000', '');
  const bytes = Buffer.from(clean, 'utf8');
  if (bytes.length <= maxBytes) return clean;
  // Back off continuation bytes (10xxxxxx) so the cut lands on the start of a character.
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

export async function recordRejects(
  db: Kysely<StoreDatabase>,
  tenant: string,
  importKey: string,
  userId: string,
  rejects: readonly RejectedRecord[],
): Promise<void> {
  if (rejects.length === 0) return;
  const now = new Date().toISOString();
  // One row per position: within a page the last record at a position wins, as with contacts.
  const byPosition = new Map<string, RejectsTable>();
  for (const reject of rejects) {
    const position = cutUtf8(reject.position, 512);
    byPosition.set(position, {
      tenant_id: tenant,
      import_key: importKey,
      user_id: userId,
      position,
      reason: reject.reason,
      message: cutUtf8(reject.message, 1024),
      excerpt: cutUtf8(reject.excerpt),
      created_at: now,
    });
  }
  const rows = [...byPosition.values()];
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
      await trx
        .insertInto('rejects')
        .values(rows.slice(start, start + ROWS_PER_STATEMENT))
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'import_key', 'position']).doUpdateSet((eb) => ({
            reason: eb.ref('excluded.reason'),
            message: eb.ref('excluded.message'),
            excerpt: eb.ref('excluded.excerpt'),
          })),
        )
        .execute();
    }
  });
}

export async function listRejects(
  db: Kysely<StoreDatabase>,
  tenant: string,
  importKey: string,
  { limit, cursor }: { limit: number; cursor?: string | null },
): Promise<RejectPage> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new RangeError(`listRejects limit must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${limit})`);
  }
  let query = db
    .selectFrom('rejects')
    .select(['position', 'reason', 'message', 'excerpt', 'created_at'])
    .where('tenant_id', '=', tenant)
    .where('import_key', '=', importKey);
  if (cursor) query = query.where('position', '>', decodeCursor(cursor));
  const rows = await query.orderBy('position').limit(limit + 1).execute();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => ({
      position: row.position,
      reason: row.reason as RejectedRecord['reason'],
      message: row.message,
      excerpt: row.excerpt,
      createdAt: row.created_at,
    })),
    nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify(['r', last.position])).toString('base64url') : null,
  };
}

function decodeCursor(cursor: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(cursor)) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (Array.isArray(parsed) && parsed[0] === 'r' && typeof parsed[1] === 'string' && !parsed[1].includes('\u0000')) {
        return parsed[1];
      }
    } catch {
      // Not JSON: reported below like any other malformed cursor.
    }
  }
  throw new InvalidCursorError('cursor is not one this API returned: pass back nextCursor unchanged, or omit it to start over');
}

/** Erasure: every reject filed for the user, in every import of the tenant. */
export async function deleteUserRejects(db: Kysely<StoreDatabase>, tenant: string, userId: string): Promise<void> {
  await db.deleteFrom('rejects').where('tenant_id', '=', tenant).where('user_id', '=', userId).execute();
}
