/**
 * Schema migrations, in code so they ship with the build and need no migrations folder at run time.
 * Kysely runs them in name order and records each in `kysely_migration`; never edit one that has
 * shipped, add the next (`0002_…`) instead.
 */
import type { Migration, MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_create_contacts': {
    async up(db) {
      // Plain text columns in both dialects keep one set of queries (see db/schema.ts).
      // The primary key doubles as the index for upserts, per-user counts and keyset pages.
      await db.schema
        .createTable('contacts')
        .ifNotExists()
        .addColumn('user_id', 'text', (col) => col.notNull())
        .addColumn('provider', 'text', (col) => col.notNull())
        .addColumn('external_id', 'text', (col) => col.notNull())
        .addColumn('etag', 'text', (col) => col.notNull())
        .addColumn('display_name', 'text')
        .addColumn('email', 'text')
        .addColumn('phone', 'text')
        .addColumn('organization', 'text')
        .addColumn('raw', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('contacts_pkey', ['user_id', 'provider', 'external_id'])
        .execute();
    },
    async down(db) {
      await db.schema.dropTable('contacts').ifExists().execute();
    },
  },
};

/** Hands Kysely's `Migrator` the migrations above. */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
