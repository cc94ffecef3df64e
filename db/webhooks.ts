/**
 * Each tenant's webhook settings: the default URL its imports' events go to, and the secret they
 * are signed with. The secret is stored sealed (the API seals it with the token key the workers
 * share; the delivery activity opens it), so a leaked database does not let anyone forge events.
 */
import type { Kysely } from 'kysely';
import type { StoreDatabase, WebhooksTable } from './schema';

/** A tenant's settings as the store keeps them: never the secret in clear. */
export interface WebhookSettings {
  tenant: string;
  /** Where events of imports started without `notify` go; `null`: only imports that name a URL notify. */
  url: string | null;
  /** The signing secret, sealed (`encryption/token-seal.ts`). */
  sealedSecret: string;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookStore {
  /** The tenant's settings, or `null` before its first `PUT /v1/webhook`. */
  get(tenant: string): Promise<WebhookSettings | null>;
  /**
   * Creates or replaces the tenant's settings. `sealedSecret` absent keeps the stored one (there
   * must be one then: the caller creates a secret for a tenant that has none).
   */
  put(tenant: string, settings: { url: string | null; sealedSecret?: string }): Promise<WebhookSettings>;
}

function toSettings(row: WebhooksTable): WebhookSettings {
  return { tenant: row.tenant_id, url: row.url, sealedSecret: row.sealed_secret, createdAt: row.created_at, updatedAt: row.updated_at };
}

export function createWebhookStore(db: Kysely<StoreDatabase>): WebhookStore {
  async function get(tenant: string): Promise<WebhookSettings | null> {
    const row = await db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenant).executeTakeFirst();
    return row ? toSettings(row) : null;
  }
  return {
    get,
    async put(tenant, { url, sealedSecret }) {
      const now = new Date().toISOString();
      if (sealedSecret === undefined) {
        await db.updateTable('webhooks').set({ url, updated_at: now }).where('tenant_id', '=', tenant).execute();
      } else {
        // One statement in both dialects: two concurrent PUTs leave one whole row, never a mix.
        await db
          .insertInto('webhooks')
          .values({ tenant_id: tenant, url, sealed_secret: sealedSecret, created_at: now, updated_at: now })
          .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ url, sealed_secret: sealedSecret, updated_at: now }))
          .execute();
      }
      const stored = await get(tenant);
      if (!stored) throw new Error(`No webhook settings for tenant ${tenant}: the first PUT must create a secret`);
      return stored;
    },
  };
}
