/**
 * A contacts row as the API shows it: the listing (`db/contact-store.ts`) and the change feed's
 * upserts (`db/changes.ts`) both answer with this shape, so it is built in one place.
 */
import type { ContactsTable } from './schema';
import type { StoredContact } from './contact-shapes';

/** The columns {@link storedContact} reads. */
export const STORED_CONTACT_COLUMNS = [
  'external_id',
  'etag',
  'display_name',
  'email',
  'phone',
  'phone_e164',
  'organization',
  'raw',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof ContactsTable>;

export type StoredContactRow = Pick<ContactsTable, (typeof STORED_CONTACT_COLUMNS)[number]>;

/** The contact of `provider` (its owner's) that `row` holds. */
export function storedContact(provider: string, row: StoredContactRow): StoredContact {
  return {
    provider,
    externalId: row.external_id,
    etag: row.etag,
    displayName: row.display_name,
    email: row.email,
    phone: row.phone,
    phoneE164: row.phone_e164,
    organization: row.organization,
    raw: JSON.parse(row.raw) as unknown,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
