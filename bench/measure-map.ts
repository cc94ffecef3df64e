/**
 * Check and map, and phone normalisation, alone: CPU seconds per 100,000 contacts of the People
 * client's `readPeople` (each person checked and mapped to its row) and of `normalizePhone` over
 * Microsoft Graph's phones, whose every number goes through libphonenumber, directly and through
 * a cache per distinct raw value within a page.
 *
 *   npx tsx bench/measure-map.ts [--contacts 100000] [--rounds 5]
 *
 * The pages are the demo provider's (its own generator), 1,000 to a page, parsed before anything is
 * timed. The variants run interleaved, their order turning every round; the figures are medians.
 */
import { parseArgs } from 'node:util';
import { graphContactJson, personJson } from '../demo-provider/people';
import { readPeople } from '../providers/google-people/person';
import { DEFAULT_PHONE_REGION, normalizePhone } from '../providers/kit/normalize';
import { median } from './cpu-split';

const PAGE_SIZE = 1000;
const FIELDS = new Set(['names', 'emailAddresses', 'phoneNumbers', 'organizations', 'metadata']);

interface GraphPhones {
  mobilePhone: string | null;
  businessPhones: string[];
}

function pagesOf<T>(count: number, item: (i: number) => T): T[][] {
  const pages: T[][] = [];
  for (let start = 0; start < count; start += PAGE_SIZE) {
    pages.push(Array.from({ length: Math.min(PAGE_SIZE, count - start) }, (_, k) => item(start + k)));
  }
  return pages;
}

/** Each variant: work through every page once; returns a checksum so nothing is optimised away. */
function variants(people: unknown[][], phones: Array<Array<string | null>>): Record<string, () => number> {
  return {
    'check and map (People)': () => {
      let n = 0;
      for (const page of people) n += readPeople(page, null).contacts.length;
      return n;
    },
    'normalise phone (Graph)': () => {
      let n = 0;
      for (const page of phones) for (const phone of page) if (normalizePhone(phone, DEFAULT_PHONE_REGION).phoneE164 !== null) n++;
      return n;
    },
    'normalise phone (Graph), cached per page': () => {
      let n = 0;
      for (const page of phones) {
        const seen = new Map<string, string | null>();
        for (const phone of page) {
          if (phone === null) continue;
          let e164 = seen.get(phone);
          if (e164 === undefined) {
            e164 = normalizePhone(phone, DEFAULT_PHONE_REGION).phoneE164;
            seen.set(phone, e164);
          }
          if (e164 !== null) n++;
        }
      }
      return n;
    },
  };
}

function main(): void {
  const { values } = parseArgs({ options: { contacts: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' } } });
  const contacts = Number(values.contacts);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(contacts) || contacts < PAGE_SIZE) throw new Error(`--contacts must be an integer of at least ${PAGE_SIZE} (got "${values.contacts}")`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer (got "${values.rounds}")`);
  const people = pagesOf(contacts, (i) => JSON.parse(personJson(i, FIELDS)) as unknown);
  const phones = pagesOf(contacts, (i) => {
    const contact = JSON.parse(graphContactJson(i)) as GraphPhones;
    return contact.mobilePhone ?? contact.businessPhones[0] ?? null;
  });
  const distinct = phones.reduce((sum, page) => sum + new Set(page.filter((p) => p !== null)).size, 0);
  const all = variants(people, phones);
  const names = Object.keys(all);
  const seconds = new Map(names.map((name) => [name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length] as string;
      const start = process.cpuUsage();
      (all[name] as () => number)();
      const used = process.cpuUsage(start);
      seconds.get(name)?.push((used.user + used.system) / 1e6);
    }
  }
  console.log(`${contacts} contacts, ${rounds} rounds; Graph phones distinct within their page: ${distinct} of ${phones.flat().filter((p) => p !== null).length}`);
  for (const name of names) {
    const perHundredK = (median(seconds.get(name) ?? []) * 100_000) / contacts;
    console.log(`${name.padEnd(44)} ${perHundredK.toFixed(3)} CPU s per 100,000 (rounds: ${(seconds.get(name) ?? []).map((s) => s.toFixed(3)).join(', ')})`);
  }
}

main();
