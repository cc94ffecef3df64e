/** Each tenant's connect settings: the origins a connect session may send its user back to. */
import type { Kysely } from 'kysely';
import type { StoreDatabase } from './schema';

export interface ConnectSettings {
  redirectOrigins: string[];
  updatedAt: string;
}

export interface ConnectSettingsStore {
  /** The tenant's settings, or `null` before its first `PUT /v1/connect-settings`. */
  get(tenant: string): Promise<ConnectSettings | null>;
  /** Creates or replaces them. */
  put(tenant: string, redirectOrigins: readonly string[]): Promise<ConnectSettings>;
}

export function createConnectSettingsStore(db: Kysely<StoreDatabase>): ConnectSettingsStore {
  return {
    async get(tenant) {
      const row = await db.selectFrom('connect_settings').selectAll().where('tenant_id', '=', tenant).executeTakeFirst();
      if (!row) return null;
      const origins: unknown = JSON.parse(row.redirect_origins);
      return { redirectOrigins: Array.isArray(origins) ? origins.filter((o): o is string => typeof o === 'string') : [], updatedAt: row.updated_at };
    },
    async put(tenant, redirectOrigins) {
      const updatedAt = new Date().toISOString();
      const origins = JSON.stringify([...redirectOrigins]);
      await db
        .insertInto('connect_settings')
        .values({ tenant_id: tenant, redirect_origins: origins, updated_at: updatedAt })
        .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ redirect_origins: origins, updated_at: updatedAt }))
        .execute();
      return { redirectOrigins: [...redirectOrigins], updatedAt };
    },
  };
}
