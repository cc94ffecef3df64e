/**
 * The demo provider's people: person `i` is generated from its index, the same whatever the token,
 * so a million contacts cost no memory; as People API JSON and as a Microsoft Graph contact, and the
 * page tokens that point into the list.
 */

const GIVEN_NAMES = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Dennis', 'Frances', 'Ken', 'Radia', 'John', 'Hedy', 'Tim', 'Katherine', 'Linus', 'Sophie', 'Niklaus', 'Karen', 'Leslie'];
const FAMILY_NAMES = ['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Ritchie', 'Allen', 'Thompson', 'Perlman', 'McCarthy', 'Lamarr', 'Berners-Lee', 'Johnson', 'Torvalds', 'Wilson', 'Wirth', 'Sparck Jones', 'Lamport'];
const ORGANIZATIONS = ['Analytical Engines Ltd', 'Bletchley Park', 'Eckert-Mauchly', 'Mathematisch Centrum', 'MIT', 'Bell Labs', 'Xerox PARC', 'ETH Zurich'];
// Fixed, so every run produces byte-identical people.
const BASE_UPDATE_TIME_MS = Date.UTC(2024, 0, 1);

/** 8 hex digits from a 32-bit integer mix of `i` and `seed`: deterministic, cheap, well spread. */
function hash(i: number, seed: number): string {
  let h = Math.imul(i ^ seed, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0).toString(16).padStart(8, '0');
}

function pick<T>(list: readonly T[], n: number): T {
  return list[n % list.length] as T;
}

// Every generated string is built from these lists, digits and fixed ASCII, so none needs JSON
// escaping; checked once here so a future edit to the lists cannot produce broken JSON.
for (const value of [...GIVEN_NAMES, ...FAMILY_NAMES, ...ORGANIZATIONS]) {
  if (!/^[A-Za-z0-9 .,'-]+$/.test(value)) throw new Error(`demo-provider: name list entry needs JSON escaping: ${value}`);
}

/** Person `i`'s names, and the local part of their email address. */
function nameOf(i: number): { given: string; family: string; local: string } {
  const given = pick(GIVEN_NAMES, i);
  // A different stride for family names, so the pairs do not repeat every 20 contacts.
  const family = pick(FAMILY_NAMES, Math.floor(i / GIVEN_NAMES.length) + i * 7);
  return { given, family, local: `${given}.${family}.${i}`.toLowerCase().replace(/[^a-z0-9.]/g, '') };
}

/** The 7 digits of person `i`'s phone number after `+1 555`; some have none, as real address books go. */
function phoneDigits(i: number): string | null {
  return i % 7 === 3 ? null : String(i % 10_000_000).padStart(7, '0');
}

/** Some people have no organization. */
const hasOrganization = (i: number) => i % 5 !== 2;

/**
 * Person `i` as a Microsoft Graph `contact` with the fields an import asks for, at `version` (its
 * edits: a new `changeKey` and a marked display name). A mobile phone for some, a business phone
 * for the others, as Outlook address books have both.
 */
export function graphContactJson(i: number, version = 0): string {
  const { given, family, local } = nameOf(i);
  const digits = phoneDigits(i);
  const phone = digits === null ? null : `+1 555-${digits.slice(0, 3)}-${digits.slice(3)}`;
  const mobile = phone !== null && i % 2 === 0 ? `"${phone}"` : 'null';
  const business = phone !== null && i % 2 === 1 ? `["${phone}"]` : '[]';
  const company = hasOrganization(i) ? `"${pick(ORGANIZATIONS, i)}"` : 'null';
  const edited = version === 0 ? '' : ` (edited ${version})`;
  return (
    `{"@odata.etag":"W/\\"${hash(i, 0xe7a9)}${version}\\"","id":"AAMkAGdemo${i}AAA=","changeKey":"${hash(i, 0xe7a9)}v${version}",` +
    `"displayName":"${given} ${family} ${i}${edited}","givenName":"${given}","surname":"${family}",` +
    `"emailAddresses":[{"name":"${given} ${family}","address":"${local}@example.com"}],` +
    `"mobilePhone":${mobile},"businessPhones":${business},"homePhones":[],"companyName":${company}}`
  );
}

/**
 * Person `i` (0-based) as People API JSON, with only the fields the mask asks for. Built as a
 * string rather than an object for `JSON.stringify`: the benchmark pulls a million of these, and
 * this is most of the server's work.
 */
export function personJson(i: number, fields: ReadonlySet<string>): string {
  const { given, family, local } = nameOf(i);
  const sourceId = hash(i, 0x5eed);
  const source = `{"type":"CONTACT","id":"${sourceId}"}`;
  const fieldMeta = `{"primary":true,"sourcePrimary":true,"source":${source}}`;
  let json = `{"resourceName":"people/c${i}","etag":"%EgUBAi43PRoEAQIFByIM${hash(i, 0xe7a9)}"`;
  if (fields.has('metadata')) {
    const updateTime = new Date(BASE_UPDATE_TIME_MS + i * 1000).toISOString();
    json += `,"metadata":{"sources":[{"type":"CONTACT","id":"${sourceId}","etag":"#${hash(i, 0x5e7a)}","updateTime":"${updateTime}"}],"objectType":"PERSON"}`;
  }
  if (fields.has('names')) {
    json += `,"names":[{"metadata":${fieldMeta},"displayName":"${given} ${family} ${i}","familyName":"${family}","givenName":"${given}","displayNameLastFirst":"${family}, ${given} ${i}","unstructuredName":"${given} ${family} ${i}"}]`;
  }
  if (fields.has('emailAddresses')) {
    const primaryEmail = `{"metadata":${fieldMeta},"value":"${local}@example.com"}`;
    // Every fourth contact lists a work address first, so clients must honour `primary`.
    json +=
      i % 4 === 1
        ? `,"emailAddresses":[{"metadata":{"source":${source}},"value":"${local}@work.example.org","type":"work","formattedType":"Work"},${primaryEmail}]`
        : `,"emailAddresses":[${primaryEmail}]`;
  }
  const digits = phoneDigits(i);
  if (fields.has('phoneNumbers') && digits !== null) {
    json += `,"phoneNumbers":[{"metadata":${fieldMeta},"value":"+1 555-${digits.slice(0, 3)}-${digits.slice(3)}","canonicalForm":"+1555${digits}","type":"mobile","formattedType":"Mobile"}]`;
  }
  if (fields.has('organizations') && hasOrganization(i)) {
    json += `,"organizations":[{"metadata":${fieldMeta},"name":"${pick(ORGANIZATIONS, i)}","type":"work","formattedType":"Work"}]`;
  }
  return `${json}}`;
}

export function encodePageToken(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64url');
}

/** The offset a page token stands for, or `null` when the token is not one we issued. */
export function decodePageToken(token: string): number | null {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const match = /^offset:(\d{1,12})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match?.[1]) return null;
  const offset = Number(match[1]);
  // Re-encoding must give the same token, or it was doctored (leading zeros, trailing bits).
  return encodePageToken(offset) === token ? offset : null;
}

