/**
 * Schema migrations, in code so they ship with the build and need no migrations folder at run time.
 * Kysely runs them in name order and records each in `kysely_migration`; never edit one that has
 * shipped, add the next (`0002_…`) instead.
 */
import { sql, type CreateTableBuilder, type Migration, type MigrationProvider } from 'kysely';

/** A contact's columns after its key's owner columns, as every version of the table has them. */
function contactColumns<T extends string, C extends string>(table: CreateTableBuilder<T, C>) {
  return table
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
    .addColumn('updated_at', 'text', (col) => col.notNull());
}

/** Adds `names` as NOT NULL text columns: most of our columns (see db/schema.ts). */
function requiredText<N extends string>(...names: N[]) {
  return <T extends string, C extends string>(table: CreateTableBuilder<T, C>): CreateTableBuilder<T, C | N> =>
    names.reduce<CreateTableBuilder<T, C | N>>(
      (builder, name) => builder.addColumn(name, 'text', (col) => col.notNull()),
      table as CreateTableBuilder<T, C | N>,
    );
}

const migrations: Record<string, Migration> = {
  '0001_create_contacts': {
    async up(db) {
      // Plain text columns in both dialects keep one set of queries (see db/schema.ts).
      // The primary key doubles as the index for upserts, per-user counts and keyset pages.
      await db.schema
        .createTable('contacts')
        .ifNotExists()
        .$call(contactColumns)
        .addPrimaryKeyConstraint('contacts_pkey', ['user_id', 'provider', 'external_id'])
        .execute();
    },
    async down(db) {
      await db.schema.dropTable('contacts').ifExists().execute();
    },
  },
  '0002_tenants_and_api_keys': {
    async up(db) {
      // Neither dialect can change a primary key in place the same way, so rebuild the table:
      // rows from before tenants belong to the `default` tenant (the loopback-only embedded mode).
      await db.schema
        .createTable('contacts_v2')
        .addColumn('tenant_id', 'text', (col) => col.notNull())
        .$call(contactColumns)
        // Tenant first: every query of a tenant is a range of the key.
        .addPrimaryKeyConstraint('contacts_v2_tenant_pkey', ['tenant_id', 'user_id', 'provider', 'external_id'])
        .execute();
      await sql`INSERT INTO contacts_v2 (tenant_id, user_id, provider, external_id, etag, display_name, email, phone,
        organization, raw, created_at, updated_at)
        SELECT 'default', user_id, provider, external_id, etag, display_name, email, phone, organization, raw,
        created_at, updated_at FROM contacts`.execute(db);
      await db.schema.dropTable('contacts').execute();
      await db.schema.alterTable('contacts_v2').renameTo('contacts').execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('scope', 'text', (col) => col.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('secret_hash', 'text', (col) => col.notNull().unique())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
    },
    async down(db) {
      await db.schema.dropTable('api_keys').ifExists().execute();
    },
  },
  '0003_uploads_rejects_e164': {
    async up(db) {
      await db.schema.alterTable('contacts').addColumn('phone_e164', 'text').execute();

      // Uploaded files (vCard, CSV): metadata here; the bytes in `upload_chunks` (PostgreSQL) or a
      // file under DATA_DIR (SQLite), as `storage` says.
      await db.schema
        .createTable('uploads')
        .$call(requiredText('tenant_id', 'upload_id', 'user_id', 'format', 'bytes', 'sha256', 'storage', 'created_at'))
        .addPrimaryKeyConstraint('uploads_pkey', ['tenant_id', 'upload_id'])
        .execute();
      // The bytes of an upload kept in the database, in order; `data` is base64 text, so both
      // dialects keep one text-only schema (see db/schema.ts).
      await db.schema
        .createTable('upload_chunks')
        .$call(requiredText('tenant_id', 'upload_id'))
        .addColumn('seq', 'integer', (col) => col.notNull())
        .$call(requiredText('byte_offset', 'data'))
        .addPrimaryKeyConstraint('upload_chunks_pkey', ['tenant_id', 'upload_id', 'seq'])
        .execute();

      // Records an import set aside: one row per (import, position); a retried page rewrites its own.
      await db.schema
        .createTable('rejects')
        .$call(requiredText('tenant_id', 'import_key', 'user_id', 'position', 'reason', 'message', 'excerpt', 'created_at'))
        .addPrimaryKeyConstraint('rejects_pkey', ['tenant_id', 'import_key', 'position'])
        .execute();
      await db.schema.createIndex('rejects_by_user').on('rejects').columns(['tenant_id', 'user_id']).execute();
    },
    async down(db) {
      await db.schema.dropTable('rejects').ifExists().execute();
      await db.schema.dropTable('upload_chunks').ifExists().execute();
      await db.schema.dropTable('uploads').ifExists().execute();
    },
  },
};

/** Hands Kysely's `Migrator` the migrations above. */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
