/**
 * Writes large contact files for tests: a vCard file and a Google Contacts CSV of any size, with
 * about 1% malformed records at known positions and a few repeated ids, and says exactly what an
 * import of each must save and reject.
 *
 * Every 100th record (the 50th, 150th, …) is malformed, cycling through three kinds; every 1000th
 * (999th, 1999th, …) repeats the id of the record before it, so it replaces it.
 */
import fs from 'node:fs';

/** What reading a generated file must give. */
export interface ContactFileExpectation {
  path: string;
  /** Records written, malformed and repeated ones included. */
  records: number;
  /** Distinct ids saved once every batch is upserted. */
  saved: number;
  /** Records rejected, and the `position` of each, in file order. */
  rejected: number;
  rejectedPositions: string[];
  /** Records replaced by a later one with the same id. */
  duplicates: number;
}

const GIVEN = ['Zoë', 'José', 'Ångström', 'Renée', 'Łukasz', 'Søren', 'Anaïs', 'Chloé', 'Mateo', 'Amélie'];
const FAMILY = ['Müller', 'Ångström', 'Dupont', 'Nowak', 'García', 'Øberg', 'Smith', 'Kowalski', 'Rossi', 'Brontë'];
const CJK = [
  ['李', '小龙'],
  ['王', '芳'],
  ['김', '민수'],
  ['山田', '太郎'],
] as const;

/** The malformed kind of record `n` (1-based), or `null` for a good one. */
function malformedKind(n: number): 0 | 1 | 2 | null {
  return n % 100 === 50 ? (((n - 50) / 100) % 3 as 0 | 1 | 2) : null;
}

/** Record `n` repeats the id of record `n - 1`. */
function repeatsPrevious(n: number): boolean {
  return n % 1000 === 999;
}

function nameOf(n: number): { given: string; family: string } {
  if (n % 10 === 3) {
    const [family, given] = CJK[n % CJK.length] as readonly [string, string];
    return { given: `${given}${n}`, family };
  }
  return { given: GIVEN[n % GIVEN.length] as string, family: `${FAMILY[(n * 7) % FAMILY.length]}-${n}` };
}

/** A valid US number that differs for every `n` (area code 202, exchange 2xx–9xx). */
function phoneOf(n: number): string {
  const exchange = 200 + (n % 800);
  return `(202) ${exchange}-${String(n % 10_000).padStart(4, '0')}`;
}

/** Base64-looking photo data no output may contain. */
export const GENERATED_PHOTO_MARKER = 'R0VORVJBVEVELVBIT1RPLURBVEE';

/** Writes a file by appending lines, counting them. */
class LineWriter {
  private readonly fd: number;
  line = 1;
  private chunks: string[] = [];

  constructor(path: string) {
    this.fd = fs.openSync(path, 'w');
  }

  write(lines: readonly string[]): void {
    for (const line of lines) this.chunks.push(`${line}\r\n`);
    this.line += lines.length;
    if (this.chunks.length > 5000) this.flush();
  }

  /** Counts line breaks inside a line written with {@link write} (a quoted CSV field). */
  addLines(count: number): void {
    this.line += count;
  }

  private flush(): void {
    fs.writeSync(this.fd, this.chunks.join(''));
    this.chunks = [];
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}

/** The lines of good card `n` in vCard version 2.1, 3.0 or 4.0 (by `n`). */
function cardLines(n: number, uid: string | null): string[] {
  const { given, family } = nameOf(n);
  const version = ['2.1', '3.0', '4.0'][n % 3] as string;
  const lines = ['BEGIN:VCARD', `VERSION:${version}`];
  if (version === '2.1') {
    const qp = Buffer.from(`${family};${given};;;`).toString('hex').toUpperCase().replace(/(..)/g, '=$1');
    lines.push(`N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:${qp.slice(0, 30)}=`, qp.slice(30), `TEL;HOME;VOICE:${phoneOf(n)}`);
  } else {
    lines.push(`N:${family};${given};;;`, `FN:${given} ${family}`, `TEL;TYPE=CELL:${phoneOf(n)}`);
  }
  lines.push(`EMAIL;TYPE=INTERNET:person.${n}@Example${n % 7}.COM`);
  if (n % 4 === 0) lines.push('NOTE:A note long enough to be folded over more than one line by a writ', ' er that folds.');
  if (n % 10 === 0) lines.push(`PHOTO;ENCODING=b;TYPE=JPEG:${GENERATED_PHOTO_MARKER}${n}`, ` ${GENERATED_PHOTO_MARKER.repeat(3)}`);
  if (uid) lines.push(`UID:${uid}`);
  lines.push('END:VCARD');
  return lines;
}

/**
 * Writes `count` vCards to `path`. Malformed kinds: a card without `END:VCARD` (the next card
 * starts), a card with a line that is not a property, a card with nothing but a note.
 */
export function writeVCardFile(path: string, count: number): ContactFileExpectation {
  const out = new LineWriter(path);
  const rejectedPositions: string[] = [];
  let duplicates = 0;
  try {
    for (let n = 1; n <= count; n++) {
      const kind = malformedKind(n);
      if (kind !== null) rejectedPositions.push(`record ${n} (line ${out.line})`);
      if (kind === 0) out.write(['BEGIN:VCARD', 'VERSION:3.0', `FN:Unfinished ${n}`]);
      else if (kind === 1) out.write(['BEGIN:VCARD', 'VERSION:3.0', `FN:Garbled ${n}`, 'this is not a property', 'END:VCARD']);
      else if (kind === 2) out.write(['BEGIN:VCARD', 'VERSION:3.0', `NOTE:only a note ${n}`, 'END:VCARD']);
      else {
        const repeated = repeatsPrevious(n);
        if (repeated) duplicates++;
        // Even cards carry a UID, odd ones are identified by their content.
        const uid = repeated ? `uid-${n - 1}` : n % 2 === 0 ? `uid-${n}` : null;
        out.write(cardLines(n, uid));
      }
    }
  } finally {
    out.close();
  }
  const rejected = rejectedPositions.length;
  return { path, records: count, saved: count - rejected - duplicates, rejected, rejectedPositions, duplicates };
}

/** The columns of the generated Google Contacts CSV. */
const CSV_HEADER = [
  'First Name', 'Middle Name', 'Last Name', 'Name Prefix', 'Name Suffix', 'Nickname', 'Organization Name', 'Notes',
  'Labels', 'E-mail 1 - Label', 'E-mail 1 - Value', 'Phone 1 - Label', 'Phone 1 - Value',
];

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function csvRow(n: number): { line: string; breaks: number } {
  const { given, family } = nameOf(n);
  const notes = n % 7 === 0 ? `Met in 2019, "${given}".\r\nSecond line, with a comma.` : '';
  const emails = n % 5 === 0 ? `person.${n}@Example.COM ::: other.${n}@Example.COM` : `person.${n}@Example.COM`;
  const fields = [given, '', family, '', '', '', n % 9 === 0 ? `Firma ${n} GmbH` : '', notes, '* myContacts', '* Work', emails, 'Mobile', phoneOf(n)];
  return { line: fields.map(csvField).join(','), breaks: notes ? 1 : 0 };
}

/**
 * Writes a Google Contacts CSV with `count` rows to `path`. Malformed kinds: a quote inside an
 * unquoted field, more fields than the header, a row with nothing but labels. A repeated row is an
 * exact copy of the row before, so its content hash, its id, is the same.
 */
export function writeCsvFile(path: string, count: number): ContactFileExpectation {
  const out = new LineWriter(path);
  const rejectedPositions: string[] = [];
  let duplicates = 0;
  const blank = Array<string>(CSV_HEADER.length).fill('');
  try {
    out.write([CSV_HEADER.map(csvField).join(',')]);
    for (let n = 1; n <= count; n++) {
      const kind = malformedKind(n);
      if (kind !== null) rejectedPositions.push(`row ${n} (line ${out.line})`);
      if (kind === 0) out.write([[`Jo"e${n}`, ...blank.slice(1)].join(',')]);
      else if (kind === 1) out.write([[...blank, 'one too many', 'and two'].join(',')]);
      else if (kind === 2) out.write([blank.map((_, i) => (CSV_HEADER[i] === 'Labels' ? '* myContacts' : '')).join(',')]);
      else {
        if (repeatsPrevious(n)) duplicates++;
        const row = csvRow(repeatsPrevious(n) ? n - 1 : n);
        out.write([row.line]);
        out.addLines(row.breaks);
      }
    }
  } finally {
    out.close();
  }
  const rejected = rejectedPositions.length;
  return { path, records: count, saved: count - rejected - duplicates, rejected, rejectedPositions, duplicates };
}
