/**
 * A deliberately small vCard reader, the CardDAV source's default until the full vCard module
 * (`providers/formats/vcard.ts`: 2.1 quoted-printable and charsets, groups, photos,
 * normalisation) is passed in as `parseCard`. It reads what CardDAV servers store, vCard 3.0 and
 * 4.0 in UTF-8: unfolds lines, takes FN (else N), the preferred-or-first EMAIL and TEL, ORG and
 * UID, and unescapes `\n \, \; \\`.
 */
import type { ContactRecord } from '../../db/types';
import { rejectRecord } from '../kit/records';
import type { RejectedRecord } from '../types';

/** What a card parser makes of one card: a contact, or a record set aside with why. */
export type CardResult = { contact: ContactRecord } | { rejected: RejectedRecord };

/**
 * Turns one card's text into a contact or a reject, at once or as a promise. The CardDAV source
 * then sets the contact's `externalId` to the card's href and its `etag` to the DAV etag, and a
 * reject's `position` to the href, whatever the parser put there. The text comes out of XML, so
 * its line breaks are LF (XML parsers normalise CRLF).
 */
export type ParseCard = (text: string, href: string) => CardResult | Promise<CardResult>;

interface CardLine {
  name: string;
  params: string[];
  value: string;
}

function unescapeValue(value: string): string {
  return value.replace(/\\([nN,;\\:])/g, (_, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

/** `item1.EMAIL;TYPE=work:a@b` → name EMAIL, params [TYPE=work], value. The first `:` outside quotes ends the params. */
function readLine(line: string): CardLine | null {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) {
      const [rawName = '', ...params] = line.slice(0, i).split(';');
      const name = rawName.slice(rawName.lastIndexOf('.') + 1).toUpperCase();
      return { name, params: params.map((p) => p.toUpperCase()), value: line.slice(i + 1) };
    }
  }
  return null;
}

function text(value: string | undefined): string | null {
  const clean = value?.replaceAll('\u0000', '').trim();
  return clean ? clean : null;
}

function preferred(lines: readonly CardLine[], name: string): CardLine | undefined {
  const all = lines.filter((line) => line.name === name);
  const isPref = (line: CardLine) => line.params.some((p) => p === 'PREF' || /^PREF=1$/.test(p) || /^TYPE=.*\bPREF\b/.test(p));
  return all.find(isPref) ?? all[0];
}

/** Splits a structured value (`N`, `ORG`) on unescaped `;`. */
function components(value: string): string[] {
  return value.split(/(?<!\\);/).map(unescapeValue);
}

/** The default {@link ParseCard}: see the module comment for what it reads. */
export const parseBasicCard = (card: string, href: string): CardResult => {
  const unfolded = card.replace(/\r\n?/g, '\n').replace(/\n[ \t]/g, '');
  const rawLines = unfolded.split('\n').filter((line) => line.trim() !== '');
  const begin = rawLines.findIndex((line) => line.trim().toUpperCase() === 'BEGIN:VCARD');
  const end = rawLines.findIndex((line) => line.trim().toUpperCase() === 'END:VCARD');
  if (begin < 0 || end < begin) {
    return { rejected: rejectRecord(href, 'unparseable', 'The card is not a vCard (no BEGIN:VCARD … END:VCARD).', card) };
  }
  const lines = rawLines.slice(begin + 1, end).flatMap((line) => readLine(line) ?? []);
  const n = components(preferred(lines, 'N')?.value ?? '');
  const joinedName = [n[3], n[1], n[2], n[0], n[4]].map((part) => text(part)).filter(Boolean).join(' ');
  const displayName = text(unescapeValue(preferred(lines, 'FN')?.value ?? '')) ?? text(joinedName);
  const email = text(unescapeValue(preferred(lines, 'EMAIL')?.value ?? '').replace(/^mailto:/i, ''));
  const phone = text(unescapeValue(preferred(lines, 'TEL')?.value ?? '').replace(/^tel:/i, ''));
  const organization = text(components(preferred(lines, 'ORG')?.value ?? '')[0]);
  const uid = text(unescapeValue(preferred(lines, 'UID')?.value ?? ''));
  if (!displayName && !email && !phone && !uid) {
    return { rejected: rejectRecord(href, 'no_identity', 'The card has no name, email, phone or UID.', card) };
  }
  return {
    contact: { externalId: href, etag: '', displayName, email, phone, organization, raw: { uid, vcard: card } },
  };
};
