/**
 * One Graph `contact` of a delta page: whether it is a removal, whether it is the documented shape,
 * and the contact row it maps to, normalised like every source's (`kit/normalize.ts`).
 */
import { normalizeContact, cleanId, DEFAULT_PHONE_REGION, type NormalizedContact, type PhoneRegion } from '../kit/normalize';
import { rejectRecord } from '../kit/records';
import type { RejectedRecord } from '../types';
import { API_NAME } from './client';

/** The fields we ask for (`$select`): what {@link toContactRecord} maps, and `changeKey`, the contact's version. */
export const CONTACT_FIELDS = [
  'displayName',
  'givenName',
  'surname',
  'emailAddresses',
  'mobilePhone',
  'businessPhones',
  'homePhones',
  'companyName',
  'changeKey',
] as const;

/** A Graph contact as far as we read it; every other property is kept in `raw` as received. */
export interface GraphContact {
  id: string;
  changeKey?: string | null;
  '@odata.etag'?: string | null;
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  emailAddresses?: Array<{ name?: string | null; address?: string | null }> | null;
  mobilePhone?: string | null;
  businessPhones?: Array<string | null> | null;
  homePhones?: Array<string | null> | null;
  companyName?: string | null;
  [key: string]: unknown;
}

const TEXT_FIELDS = ['changeKey', '@odata.etag', 'displayName', 'givenName', 'surname', 'mobilePhone', 'companyName'] as const;
const PHONE_LISTS = ['businessPhones', 'homePhones'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What `value` is, in a problem's words. */
function kind(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

const optionalText = (value: unknown) => value === undefined || value === null || typeof value === 'string';

/** The id of an `@removed` entry (a contact deleted from, or moved out of, the folder), else `null`. */
export function removedId(entry: unknown): string | null {
  if (!isRecord(entry) || entry['@removed'] === undefined) return null;
  return typeof entry.id === 'string' && entry.id !== '' ? entry.id : null;
}

/** `null` when `value` is a contact we can read (a non-empty `id`, the fields we map of their documented types), else where and why not. */
export function contactProblem(value: unknown): string | null {
  if (!isRecord(value)) return `(contact): expected an object, got ${kind(value)}`;
  if (typeof value.id !== 'string' || value.id === '') return `id: expected a non-empty string, got ${kind(value.id)}`;
  for (const field of TEXT_FIELDS) {
    if (!optionalText(value[field])) return `${field}: expected a string, got ${kind(value[field])}`;
  }
  for (const field of PHONE_LISTS) {
    const phones = value[field];
    if (phones === undefined || phones === null) continue;
    if (!Array.isArray(phones)) return `${field}: expected an array, got ${kind(phones)}`;
    const at = phones.findIndex((phone) => !optionalText(phone));
    if (at >= 0) return `${field}.${at}: expected a string, got ${kind(phones[at])}`;
  }
  const emails = value.emailAddresses;
  if (emails === undefined || emails === null) return null;
  if (!Array.isArray(emails)) return `emailAddresses: expected an array, got ${kind(emails)}`;
  for (let i = 0; i < emails.length; i++) {
    const email: unknown = emails[i];
    if (!isRecord(email)) return `emailAddresses.${i}: expected an object, got ${kind(email)}`;
    for (const key of ['name', 'address'] as const) {
      if (!optionalText(email[key])) return `emailAddresses.${i}.${key}: expected a string, got ${kind(email[key])}`;
    }
  }
  return null;
}

/** The first value of `values` with something in it. */
function firstFilled(values: ReadonlyArray<string | null | undefined> | null | undefined): string | null {
  return values?.find((value): value is string => typeof value === 'string' && value.trim() !== '') ?? null;
}

/**
 * The row we store for `contact`: its `id` as `externalId`, its `changeKey` as the etag (a hash of
 * the row when Graph sent none), the display name (else given name and surname), the first email
 * address, the mobile phone (else the first business, then home phone) and the company.
 */
export function toContactRecord(contact: GraphContact, defaultRegion: PhoneRegion = DEFAULT_PHONE_REGION): NormalizedContact {
  return normalizeContact(
    {
      externalId: contact.id,
      etag: contact.changeKey ?? contact['@odata.etag'] ?? null,
      displayName: contact.displayName,
      name: { given: contact.givenName, family: contact.surname },
      email: firstFilled(contact.emailAddresses?.map((email) => email.address)),
      phone: firstFilled([contact.mobilePhone, ...(contact.businessPhones ?? []), ...(contact.homePhones ?? [])]),
      organization: contact.companyName,
      raw: contact,
    },
    { defaultRegion },
  );
}

/** A delta page's entries, read: contacts, rejects (with where and why) and the ids removed. */
export interface ReadEntries {
  contacts: NormalizedContact[];
  rejected: RejectedRecord[];
  removed: string[];
}

/**
 * Reads the entries of one delta page. A contact that is not the documented shape is set aside with
 * its id as position (so a sweep still counts it as present), or, without an id, its place on the page.
 */
export function readEntries(entries: readonly unknown[], where: string, defaultRegion: PhoneRegion): ReadEntries {
  const read: ReadEntries = { contacts: [], rejected: [], removed: [] };
  entries.forEach((entry, index) => {
    const removed = removedId(entry);
    if (removed !== null) {
      read.removed.push(cleanId(removed));
      return;
    }
    const problem = contactProblem(entry);
    if (problem === null) {
      read.contacts.push(toContactRecord(entry as GraphContact, defaultRegion));
      return;
    }
    const id = isRecord(entry) && typeof entry.id === 'string' && entry.id !== '' ? cleanId(entry.id) : null;
    read.rejected.push(
      rejectRecord(
        id ?? `${where} item ${index}`,
        id === null ? 'no_identity' : 'invalid_record',
        `${API_NAME} sent a contact that is not the documented shape (${problem})`,
        JSON.stringify(entry) ?? String(entry),
      ),
    );
  });
  return read;
}
