/**
 * Schema migrations, in code so they ship with the build and need no migrations folder at run time.
 * Kysely runs them in name order and records each in `kysely_migration`. `0001_schema_by_owner` creates
 * the schema as it first shipped (a store made by an earlier, pre-release initial migration is
 * refused: `unknownMigrations`); each change since is the next migration (`0002_…`), never an edit of
 * one that shipped. Together they make the schema of db/schema.ts.
 */
import { DEFAULT_MIGRATION_TABLE, sql, SqliteAdapter, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { newConnectionId } from './connections';

/** Adds `names` as NOT NULL text columns: most of our columns (see db/schema.ts). */
function requiredText<N extends string>(...names: N[]) {
  return <T extends string, C extends string>(table: CreateTableBuilder<T, C>): CreateTableBuilder<T, C | N> =>
    names.reduce<CreateTableBuilder<T, C | N>>(
      (builder, name) => builder.addColumn(name, 'text', (col) => col.notNull()),
      table as CreateTableBuilder<T, C | N>,
    );
}

const migrations: Record<string, Migration> = {
  '0001_schema_by_owner': {
    async up(db) {
      // Plain text columns in both dialects keep one set of queries (see db/schema.ts).
      // Owners (db/owners.ts): the contacts key starts with an integer, not three text columns.
      // AUTOINCREMENT in SQLite so a number erasure freed is never given to another owner.
      const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
      await db.schema
        .createTable('owners')
        .addColumn('owner_id', 'integer', (col) => (sqlite ? col.primaryKey().autoIncrement() : col.primaryKey().generatedByDefaultAsIdentity()))
        .$call(requiredText('tenant_id', 'user_id', 'provider'))
        // Tenant first: a user's owners are a range of it.
        .addUniqueConstraint('owners_key', ['tenant_id', 'user_id', 'provider'])
        .execute();
      await db.schema
        .createTable('contacts')
        .addColumn('owner_id', 'integer', (col) => col.notNull())
        .$call(requiredText('external_id', 'etag'))
        .addColumn('display_name', 'text')
        .addColumn('email', 'text')
        .addColumn('phone', 'text')
        .addColumn('organization', 'text')
        .$call(requiredText('raw', 'created_at', 'updated_at'))
        .addColumn('phone_e164', 'text')
        // Tombstones, the change feed's order, and the mark a sweeping full listing leaves (db/changes.ts).
        .addColumn('deleted_at', 'text')
        .addColumn('change_seq', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('sync_mark', 'text')
        // Every query of contacts is a range of one owner's: the key doubles as the index for
        // upserts, per-user counts and keyset pages.
        .addPrimaryKeyConstraint('contacts_pkey', ['owner_id', 'external_id'])
        .execute();
      // The change feed's order within an owner, whole: a page is a range of it per owner,
      // however many rows share one change.
      await db.schema
        .createIndex('contacts_by_change')
        .on('contacts')
        .columns(['owner_id', 'change_seq', 'external_id'])
        .execute();
      await db.schema
        .createTable('change_counters')
        .$call(requiredText('tenant_id', 'user_id'))
        .addColumn('seq', 'integer', (col) => col.notNull())
        .addPrimaryKeyConstraint('change_counters_pkey', ['tenant_id', 'user_id'])
        .execute();
      await db.schema
        .createTable('sync_state')
        .$call(requiredText('tenant_id', 'user_id', 'provider', 'token', 'params', 'updated_at'))
        .addPrimaryKeyConstraint('sync_state_pkey', ['tenant_id', 'user_id', 'provider'])
        .execute();

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

      // One row per (tenant, user, provider): the refresh token and the last access token, sealed.
      // `0003_connections` moves its rows into `connections` and drops it.
      await db.schema
        .createTable('credentials')
        .$call(requiredText('tenant_id', 'user_id', 'provider'))
        .addColumn('sealed_refresh_token', 'text')
        .addColumn('sealed_access_token', 'text')
        .addColumn('access_expires_at', 'text')
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('credentials_pkey', ['tenant_id', 'user_id', 'provider'])
        .execute();

      // One row per tenant: its default webhook URL and sealed signing secret. Sync schedules live
      // in Temporal (Schedules), so they need no table.
      await db.schema
        .createTable('webhooks')
        .addColumn('tenant_id', 'text', (col) => col.primaryKey())
        .addColumn('url', 'text')
        .$call(requiredText('sealed_secret', 'created_at', 'updated_at'))
        .execute();

      // One row per import, written in the same transaction as each page's contacts (db/checkpoints.ts).
      await db.schema
        .createTable('import_checkpoints')
        .$call(requiredText('tenant_id', 'import_key', 'user_id', 'checkpoint'))
        .addColumn('writes', 'integer', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('import_checkpoints_pkey', ['tenant_id', 'import_key'])
        .execute();
      await db.schema.createIndex('import_checkpoints_by_user').on('import_checkpoints').columns(['tenant_id', 'user_id']).execute();
    },
  },
  '0002_upload_quota_and_expiry': {
    async up(db) {
      // The import an upload was last started for, so expiry leaves it alone while that import runs.
      await db.schema.alterTable('uploads').addColumn('import_workflow_id', 'text').execute();
      await db.schema.alterTable('uploads').addColumn('referenced_at', 'text').execute();
      // Expiry reads uploads oldest first.
      await db.schema.createIndex('uploads_by_created').on('uploads').columns(['created_at', 'tenant_id', 'upload_id']).execute();
      // Each tenant's total, counted as uploads are kept and deleted, so a quota check is one row.
      await db.schema
        .createTable('upload_usage')
        .addColumn('tenant_id', 'text', (col) => col.primaryKey())
        .addColumn('bytes', 'bigint', (col) => col.notNull())
        .execute();
      await sql`INSERT INTO upload_usage (tenant_id, bytes)
        SELECT tenant_id, SUM(CAST(bytes AS bigint)) FROM uploads GROUP BY tenant_id`.execute(db);
    },
    async down(db) {
      await db.schema.dropTable('upload_usage').ifExists().execute();
      await db.schema.dropIndex('uploads_by_created').ifExists().execute();
      await db.schema.alterTable('uploads').dropColumn('referenced_at').execute();
      await db.schema.alterTable('uploads').dropColumn('import_workflow_id').execute();
    },
  },

  '0003_connections': {
    async up(db) {
      // A user's account at a provider, named by its connection id: the one home of their secret
      // there (db/connections.ts). It takes over the rows of `credentials`.
      await db.schema
        .createTable('connections')
        .$call(requiredText('tenant_id', 'user_id', 'provider', 'connection_id', 'status', 'scopes'))
        .addColumn('sealed_secret', 'text')
        .addColumn('sealed_access_token', 'text')
        .addColumn('access_expires_at', 'text')
        .addColumn('generation', 'integer', (col) => col.notNull())
        .$call(requiredText('created_at', 'updated_at'))
        .addPrimaryKeyConstraint('connections_pkey', ['tenant_id', 'user_id', 'provider'])
        .execute();
      await db.schema.createIndex('connections_by_id').on('connections').columns(['tenant_id', 'connection_id']).unique().execute();
      const kept = await db
        .selectFrom('credentials')
        .select(['tenant_id', 'user_id', 'provider', 'sealed_refresh_token', 'sealed_access_token', 'access_expires_at', 'updated_at'])
        .where('sealed_refresh_token', 'is not', null)
        .execute();
      for (const row of kept) {
        await db
          .insertInto('connections')
          .values({
            tenant_id: row.tenant_id,
            user_id: row.user_id,
            provider: row.provider,
            connection_id: newConnectionId(),
            status: 'connected',
            scopes: '',
            sealed_secret: row.sealed_refresh_token,
            sealed_access_token: row.sealed_access_token,
            access_expires_at: row.access_expires_at,
            generation: 1,
            created_at: row.updated_at,
            updated_at: row.updated_at,
          })
          .execute();
      }
      await db.schema.dropTable('credentials').execute();

      // Connect sessions: single use and short lived (db/connect-sessions.ts).
      await db.schema
        .createTable('connect_sessions')
        .addColumn('session_id', 'text', (col) => col.primaryKey())
        .$call(requiredText('tenant_id', 'user_id', 'provider', 'redirect_url'))
        .addColumn('start_import', 'integer', (col) => col.notNull())
        .$call(requiredText('created_at', 'expires_at'))
        .addColumn('opened_at', 'text')
        .addColumn('state_hash', 'text')
        .addColumn('sealed_verifier', 'text')
        .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('finished_at', 'text')
        .addColumn('outcome', 'text')
        .addColumn('connection_id', 'text')
        .execute();
      await db.schema.createIndex('connect_sessions_by_user').on('connect_sessions').columns(['tenant_id', 'user_id']).execute();
      await db.schema.createIndex('connect_sessions_by_expiry').on('connect_sessions').column('expires_at').execute();

      // One row per tenant: the origins a connect session may send its user back to.
      await db.schema
        .createTable('connect_settings')
        .addColumn('tenant_id', 'text', (col) => col.primaryKey())
        .$call(requiredText('redirect_origins', 'updated_at'))
        .execute();
    },
  },
  '0004_rate_budgets': {
    async up(db) {
      // The rate governor's shared state (db/rate-budgets.ts). Times in ms since the epoch: double
      // precision holds them exactly in both dialects, and integer would overflow in PostgreSQL.
      const ms = 'double precision';
      await db.schema
        .createTable('rate_keys')
        .addColumn('key', 'text', (col) => col.primaryKey())
        .addColumn('tat', ms, (col) => col.notNull())
        .addColumn('closed_until', ms, (col) => col.notNull())
        .addColumn('closed_by', 'text')
        .addColumn('learned_interval', ms)
        .addColumn('learn_epoch', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('increase', ms)
        .addColumn('win_at', ms, (col) => col.notNull())
        .addColumn('win_count', 'integer', (col) => col.notNull())
        .addColumn('prev_count', 'integer', (col) => col.notNull())
        .addColumn('grant_id', 'text', (col) => col.notNull())
        .addColumn('granted_at', ms, (col) => col.notNull())
        .addColumn('seen_at', ms, (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('rate_slots')
        .addColumn('key', 'text', (col) => col.notNull())
        .addColumn('slot', 'integer', (col) => col.notNull())
        .addColumn('holder', 'text', (col) => col.notNull())
        .addColumn('expires_at', ms, (col) => col.notNull())
        .addPrimaryKeyConstraint('rate_slots_pkey', ['key', 'slot'])
        .execute();
      await db.schema
        .createTable('rate_slot_waiters')
        .addColumn('key', 'text', (col) => col.notNull())
        .addColumn('waiter', 'text', (col) => col.notNull())
        .addColumn('since', ms, (col) => col.notNull())
        .addColumn('seen_at', ms, (col) => col.notNull())
        .addPrimaryKeyConstraint('rate_slot_waiters_pkey', ['key', 'waiter'])
        .execute();
      await db.schema
        .createTable('import_budget_keys')
        .$call(requiredText('tenant_id', 'import_key', 'user_id', 'budget_key'))
        .addPrimaryKeyConstraint('import_budget_keys_pkey', ['tenant_id', 'import_key', 'budget_key'])
        .execute();
      await db.schema.createIndex('import_budget_keys_by_user').on('import_budget_keys').columns(['tenant_id', 'user_id']).execute();
    },
    async down(db) {
      for (const table of ['import_budget_keys', 'rate_slot_waiters', 'rate_slots', 'rate_keys']) await db.schema.dropTable(table).ifExists().execute();
    },
  },
  '0005_import_failed_writes': {
    async up(db) {
      // Nullable, no default: existing rows and every page write leave it empty (db/import-state.ts).
      await db.schema.alterTable('import_checkpoints').addColumn('failed_writes', 'integer').execute();
    },
    async down(db) {
      await db.schema.alterTable('import_checkpoints').dropColumn('failed_writes').execute();
    },
  },
};

/** Hands Kysely's `Migrator` the migrations above. */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};

/**
 * Migrations recorded in `db` that are not among the migrations above: those of a pre-release
 * version of the service, whose schema these migrations neither are nor upgrade. Empty for a new
 * database and for one these migrations made.
 */
export async function unknownMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((table) => table.name === DEFAULT_MIGRATION_TABLE)) return [];
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(DEFAULT_MIGRATION_TABLE)} order by name`.execute(db);
  const known = Object.keys(migrations);
  return rows.map((row) => row.name).filter((name) => !known.includes(name));
}
