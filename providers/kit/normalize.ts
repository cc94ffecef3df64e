/**
 * Normalisation every source applies before a contact is saved, whatever it came from (the People
 * API, CardDAV, a vCard or CSV file): one place decides what an email, a phone, a display name and
 * a stored string look like, so the same person imported twice from two sources looks the same.
 *
 * Bounds (all in characters, i.e. UTF-16 code units, never splitting a surrogate pair):
 * - {@link FIELD_MAX_CHARS} for each shown field (display name, email, phone, organization);
 * - {@link RAW_STRING_MAX_CHARS} for each string inside `raw` (a long NOTE keeps its start);
 * - {@link ID_MAX_CHARS} for `externalId` and `etag`: a longer one is replaced by a hash of it,
 *   never cut, because two long ids sharing a prefix must stay two contacts.
 * Every string, `raw` included, loses its NUL characters: PostgreSQL `text` and `jsonb` refuse them.
 *
 * Phones use libphonenumber-js with its **max** metadata (`libphonenumber-js/max`). The default
 * (min) metadata only checks a number's length, so it calls `+1 800 123 4567` valid; max checks the
 * real numbering plan. We promise E.164 "when the number is valid", so we pay the ~70 KB more.
 */
import { DEFAULT_PHONE_REGION as DEFAULT_REGION } from '../../config/defaults';
import crypto from 'node:crypto';
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type { ContactRecord } from '../../db/types';

/** Longest display name, email, phone or organization we keep. */
export const FIELD_MAX_CHARS = 1000;
/** Longest string kept anywhere inside `raw`. */
export const RAW_STRING_MAX_CHARS = 4000;
/** Longest `externalId` or `etag` kept as it is; a longer one becomes `sha256:` plus its hash. */
export const ID_MAX_CHARS = 255;
/** The service's default region for phone numbers written without a country code. */
export const DEFAULT_PHONE_REGION = DEFAULT_REGION satisfies PhoneRegion;

/** An ISO 3166-1 alpha-2 region libphonenumber-js knows (`US`, `GB`, `DE`, …). */
export type PhoneRegion = CountryCode;

/** A contact as every source saves it: the store's record, with the phone in E.164. */
export type NormalizedContact = ContactRecord & {
  /** `phone` as E.164 (`+12025550123`) when it is a valid number, else `null`. */
  phoneE164: string | null;
};

/** The parts of a person's name, as vCard `N` and the CSV exports split it. */
export interface NameParts {
  prefix?: string | null;
  given?: string | null;
  middle?: string | null;
  family?: string | null;
  suffix?: string | null;
  /** Used only when every other part is empty. */
  nickname?: string | null;
}

/** What a source hands over: raw values, before any trimming or bounding. */
export interface ContactInput {
  externalId: string;
  /** The source's version tag; when absent, a hash of the normalised record is used. */
  etag?: string | null;
  displayName?: string | null;
  /** Used to build the display name when `displayName` is empty. */
  name?: NameParts;
  email?: string | null;
  phone?: string | null;
  organization?: string | null;
  /** The record as it came, JSON-serialisable; cleaned of NULs and bounded, not otherwise changed. */
  raw: unknown;
}

export interface NormalizeOptions {
  /** Region for numbers without a country code; the service default is {@link DEFAULT_PHONE_REGION}. */
  defaultRegion: PhoneRegion;
}

/** Type guard for configuration: is `value` a region libphonenumber-js knows (`'US'`, `'GB'`)? */
export function isPhoneRegion(value: string): value is PhoneRegion {
  return isSupportedCountry(value);
}

/** Hex SHA-256 of a value's JSON (or of the string itself), shortened to 32 digits (128 bits). */
export function contentHash(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return sha256Hex(text).slice(0, 32);
}

/** One-shot `crypto.hash` (Node 20.12+) is several times faster for small inputs; older Nodes use a Hash. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** Cuts `text` to at most `maxChars` UTF-16 units without leaving half a surrogate pair. */
function cutAt(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const code = text.charCodeAt(maxChars - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? maxChars - 1 : maxChars;
  return text.slice(0, end);
}

/**
 * `value` without its NUL characters (PostgreSQL `text` and `jsonb` refuse them). Looked for first:
 * the search is a fast builtin, while `replaceAll` takes its slower path even when there is none,
 * and this runs for every string of every contact.
 */
export function withoutNul(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
}

/**
 * A field value as we store it: NULs removed, whitespace trimmed, at most `maxChars` long;
 * `null` for a missing or blank value.
 */
export function cleanText(value: string | null | undefined, maxChars: number = FIELD_MAX_CHARS): string | null {
  if (value == null) return null;
  const text = cutAt(withoutNul(value).trim(), maxChars).trim();
  return text === '' ? null : text;
}

/**
 * An id or etag as stored: NUL-free and trimmed; longer than {@link ID_MAX_CHARS} it becomes
 * `sha256:<hash>`. A source that names contacts by id outside {@link normalizeContact} (deletions,
 * rejects) names them with this, so the names match.
 */
export function cleanId(value: string): string {
  const text = withoutNul(value).trim();
  return text.length <= ID_MAX_CHARS ? text : `sha256:${contentHash(text)}`;
}

/** `raw` with every string NUL-free and bounded; keys, numbers, booleans and structure unchanged. */
export function cleanRaw(value: unknown): unknown {
  if (typeof value === 'string') return cutAt(withoutNul(value), RAW_STRING_MAX_CHARS);
  if (Array.isArray(value)) return value.map(cleanRaw);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [withoutNul(key), cleanRaw(item)]));
  }
  return value;
}

/**
 * An email as we store it: trimmed, a `mailto:` prefix dropped, the domain lower-cased. The local
 * part keeps its case: RFC 5321 lets a server tell `Ann@` from `ann@`.
 */
export function normalizeEmail(value: string | null | undefined): string | null {
  const text = cleanText(value)?.replace(/^mailto:/i, '').trim();
  if (!text) return null;
  const at = text.lastIndexOf('@');
  return at < 0 ? text : text.slice(0, at + 1) + text.slice(at + 1).toLowerCase();
}

/** A phone as we store it: the raw value (cleaned, `tel:` dropped) and its E.164 form when valid. */
export function normalizePhone(
  value: string | null | undefined,
  defaultRegion: PhoneRegion,
): { phone: string | null; phoneE164: string | null } {
  const phone = cleanText(value)?.replace(/^tel:/i, '').trim() || null;
  if (!phone) return { phone: null, phoneE164: null };
  const parsed = parsePhoneNumberFromString(phone, { defaultCountry: defaultRegion });
  return { phone, phoneE164: parsed?.isValid() ? parsed.number : null };
}

/** Han, kana and Hangul: names in these scripts are written family name first, without spaces. */
const EAST_ASIAN_NAME = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u30fc]+$/u;

/**
 * A display name from name parts: `Dr. Zoë Marie Ångström, PhD`; `李小龙` for family `李` and
 * given `小龙` (East Asian names keep their order); the nickname when there is nothing else;
 * `null` when every part is empty.
 */
export function buildDisplayName(parts: NameParts): string | null {
  const [prefix, given, middle, family, suffix] = [parts.prefix, parts.given, parts.middle, parts.family, parts.suffix].map(
    (part) => cleanText(part),
  );
  const personal = [given, middle, family].filter((part): part is string => part !== null);
  if (personal.length > 1 && personal.every((part) => EAST_ASIAN_NAME.test(part))) {
    return cleanText([prefix ?? '', family ?? '', given ?? '', middle ?? ''].join('') + (suffix ? ` ${suffix}` : ''));
  }
  const name = [prefix, ...personal].filter((part) => part !== null).join(' ');
  const full = suffix ? (name ? `${name}, ${suffix}` : suffix) : name;
  return cleanText(full) ?? cleanText(parts.nickname);
}

/** True when a contact has something a person can recognise it by: a name, email, phone or organization. */
export function hasIdentity(contact: Pick<ContactRecord, 'displayName' | 'email' | 'phone' | 'organization'>): boolean {
  return [contact.displayName, contact.email, contact.phone, contact.organization].some((field) => field !== null);
}

/**
 * Turns a source's raw values into the contact we store (see the module comment for the rules).
 * Pure and deterministic: the same input always gives the same output, etag included.
 * Throws a `RangeError` when `options.defaultRegion` is not a region (a configuration mistake).
 */
export function normalizeContact(input: ContactInput, options: NormalizeOptions): NormalizedContact {
  if (!isPhoneRegion(options.defaultRegion)) {
    throw new RangeError(`defaultRegion must be an ISO 3166-1 region such as "US" (got ${JSON.stringify(options.defaultRegion)})`);
  }
  const { phone, phoneE164 } = normalizePhone(input.phone, options.defaultRegion);
  const fields = {
    externalId: cleanId(input.externalId),
    displayName: cleanText(input.displayName) ?? buildDisplayName(input.name ?? {}),
    email: normalizeEmail(input.email),
    phone,
    phoneE164,
    organization: cleanText(input.organization),
    raw: cleanRaw(input.raw),
  };
  const etag = input.etag ? cleanId(input.etag) : contentHash(fields);
  return { ...fields, etag };
}
