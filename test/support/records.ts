/** Contact records for store-level tests. */
import type { ContactRecord } from '../../db/types';

/** A minimal record: an id, an etag, and nothing personal. */
export const plainContact = (n: number): ContactRecord => ({
  externalId: `people/${n}`,
  etag: `e${n}`,
  displayName: null,
  email: null,
  phone: null,
  organization: null,
  raw: { n },
});

/** A record with every field filled (organization on two in three), its id and phone derived from `n`. */
export function contact(n: number, overrides: Partial<ContactRecord> = {}): ContactRecord {
  const externalId = `people/c${String(n).padStart(7, '0')}`;
  return {
    externalId,
    etag: 'etag-1',
    displayName: `Contact ${n}`,
    email: `contact${n}@example.com`,
    phone: `+1555${String(n).padStart(7, '0')}`,
    organization: n % 3 === 0 ? null : 'Example Ltd',
    raw: { resourceName: externalId, names: [{ displayName: `Contact ${n}` }], tags: ['a', n] },
    ...overrides,
  };
}

/** `count` records of {@link contact}, numbered from `from`. */
export function contacts(from: number, count: number): ContactRecord[] {
  return Array.from({ length: count }, (_, i) => contact(from + i));
}
