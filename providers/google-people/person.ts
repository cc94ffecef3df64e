/**
 * One People API `Person`: whether it is the documented shape, and the contact row it maps to.
 *
 * A page brings up to 1,000 people, and every import reads each of them once, so this is the
 * worker's hottest code after the database. The check walks the person as `JSON.parse` left it and
 * allocates nothing when it passes (a schema library returns a parsed copy, which costs about as
 * much as parsing the page's JSON); the contact's `raw` is the person itself, unchanged.
 */
import { cutUtf8 } from '../../db/rejects';
import type { ContactRecord, RejectedRecord } from '../../db/types';
import { buildDisplayName, DEFAULT_PHONE_REGION, normalizeEmail, normalizePhone, withoutNul, type PhoneRegion } from '../kit/normalize';

const API_NAME = 'Google People API';

/** An entry of a repeated People field, with its metadata; other keys are kept as received. */
type Entry<K extends string> = { [key in K]?: string } & { metadata?: { primary?: boolean; [key: string]: unknown }; [key: string]: unknown };

/** A People API `Person` as far as we read it; every other field is kept as received. */
export interface Person {
  resourceName: string;
  etag: string;
  names?: Array<Entry<'displayName' | 'givenName' | 'familyName'>>;
  emailAddresses?: Array<Entry<'value'>>;
  phoneNumbers?: Array<Entry<'value' | 'canonicalForm'>>;
  organizations?: Array<Entry<'name'>>;
  [key: string]: unknown;
}

/** The repeated fields we read, and the string keys of their entries. */
const REPEATED_FIELDS = [
  ['names', ['displayName', 'givenName', 'familyName']],
  ['emailAddresses', ['value']],
  ['phoneNumbers', ['value', 'canonicalForm']],
  ['organizations', ['name']],
] as const;

/** What `value` is, in a problem's words. */
function kind(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where `field` of a repeated field's entry is not the documented shape, or `null`. */
function entryProblem(entry: unknown, path: string, keys: readonly string[]): string | null {
  if (!isRecord(entry)) return `${path}: expected an object, got ${kind(entry)}`;
  for (const key of keys) {
    const value = entry[key];
    if (value !== undefined && typeof value !== 'string') return `${path}.${key}: expected a string, got ${kind(value)}`;
  }
  const metadata = entry.metadata;
  if (metadata === undefined) return null;
  if (!isRecord(metadata)) return `${path}.metadata: expected an object, got ${kind(metadata)}`;
  const primary = metadata.primary;
  if (primary !== undefined && typeof primary !== 'boolean') return `${path}.metadata.primary: expected a boolean, got ${kind(primary)}`;
  return null;
}

/**
 * `null` when `value` is a person we can read (a non-empty `resourceName` and `etag`; the repeated
 * fields, when present, lists of entries whose strings are strings), else where and why it is not.
 */
export function personProblem(value: unknown): string | null {
  if (!isRecord(value)) return `(person): expected an object, got ${kind(value)}`;
  for (const key of ['resourceName', 'etag'] as const) {
    const id = value[key];
    if (typeof id !== 'string') return `${key}: expected a string, got ${kind(id)}`;
    if (id === '') return `${key}: expected a non-empty string`;
  }
  for (const [field, keys] of REPEATED_FIELDS) {
    const entries = value[field];
    if (entries === undefined) continue;
    if (!Array.isArray(entries)) return `${field}: expected an array, got ${kind(entries)}`;
    for (let i = 0; i < entries.length; i++) {
      const problem = entryProblem(entries[i], `${field}.${i}`, keys);
      if (problem !== null) return problem;
    }
  }
  return null;
}

/** The primary entry of a repeated People field: the one marked `primary`, else the first. */
function primary<T extends { metadata?: { primary?: boolean } | undefined }>(items: readonly T[] | undefined): T | undefined {
  if (!items) return undefined;
  return items.find((item) => item.metadata?.primary === true) ?? items[0];
}

function text(value: string | undefined): string | null {
  if (value === undefined) return null;
  // PostgreSQL text cannot hold NUL; a provider that sends one must not stall the import.
  const trimmed = withoutNul(value).trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * The people of one page: those that are the documented shape become contacts, the others rejects
 * with where they were (their `resourceName` when they have one, else their place on the page) and why.
 */
export function readPeople(
  people: readonly unknown[],
  pageToken: string | null,
  defaultRegion: PhoneRegion = DEFAULT_PHONE_REGION,
): { contacts: ContactRecord[]; rejected: RejectedRecord[] } {
  const contacts: ContactRecord[] = [];
  const rejected: RejectedRecord[] = [];
  for (let index = 0; index < people.length; index++) {
    const person = people[index];
    const problem = personProblem(person);
    if (problem === null) {
      contacts.push(toContactRecord(person as Person, defaultRegion));
      continue;
    }
    const name = (person as { resourceName?: unknown } | null)?.resourceName;
    const named = typeof name === 'string' && name !== '';
    rejected.push({
      position: named ? name : `page ${pageToken ?? 'first'} item ${index}`,
      reason: named ? 'invalid_record' : 'no_identity',
      message: `${API_NAME} sent a person that is not the documented shape (${problem})`,
      excerpt: cutUtf8(JSON.stringify(person) ?? String(person)),
    });
  }
  return { contacts, rejected };
}

/**
 * Maps a People API `Person` to the row we store. Each column takes the primary entry of its field
 * (`metadata.primary`, else the first); a missing field is `null`. `raw` is the person unchanged.
 */
export function toContactRecord(person: Person, defaultRegion: PhoneRegion = DEFAULT_PHONE_REGION): ContactRecord {
  const name = primary(person.names);
  const phone = primary(person.phoneNumbers);
  const canonical = text(phone?.canonicalForm);
  const raw = text(phone?.value) ?? canonical;
  // Google already gives E.164 as `canonicalForm` for numbers it understood; only the others need
  // the (much slower) phone-number library.
  const phoneE164 = canonical?.startsWith('+') ? canonical : normalizePhone(raw, defaultRegion).phoneE164;
  return {
    externalId: person.resourceName,
    etag: person.etag,
    displayName: text(name?.displayName) ?? (name ? buildDisplayName({ given: name.givenName, family: name.familyName }) : null),
    email: normalizeEmail(primary(person.emailAddresses)?.value),
    phone: raw,
    phoneE164,
    organization: text(primary(person.organizations)?.name),
    raw: person,
  };
}
