/** A minimal contact record for store-level tests: an id, an etag, and nothing personal. */
import type { ContactRecord } from '../../db/types';

export const plainContact = (n: number): ContactRecord => ({
  externalId: `people/${n}`,
  etag: `e${n}`,
  displayName: null,
  email: null,
  phone: null,
  organization: null,
  raw: { n },
});
