/**
 * The CSV layouts we import, recognised by their header row, and how a row of each becomes a
 * contact: Google Contacts exports (the current headers and the older ones) and Outlook exports.
 * Headers are matched case-insensitively, ignoring surrounding blanks. In Google exports one cell
 * may hold several values separated by ` ::: `, and a label starting with `*` marks the primary one.
 */
import { contentHash, type ContactInput } from '../kit/normalize';

/** Google's separator between several values in one cell. */
export const MULTI_VALUE_SEPARATOR = ' ::: ';

/** Numbered columns: `E-mail 1 - Value`, `E-mail 2 - Value`, … with their `E-mail 1 - Label`. */
interface NumberedColumns {
  numbered: string;
  value: string;
  label: string;
}

/** Where one field comes from: named columns in order of preference, or numbered ones in number order. */
type ColumnSource = readonly string[] | NumberedColumns;

/** One CSV layout we recognise. */
export interface CsvLayout {
  id: string;
  /** For people: `Google Contacts (current)`. */
  label: string;
  /** How its header is known: it has every `required` column and at least one `oneOf` column (what tells layouts apart). */
  header: { required: readonly string[]; oneOf: readonly string[] };
  /** A column holding a stable id, when the layout has one; else rows are identified by content. */
  idColumn?: string;
  displayName?: string;
  name: { prefix?: string; given?: string; middle?: string; family?: string; suffix?: string; nickname?: string };
  emails: ColumnSource;
  phones: ColumnSource;
  organization: ColumnSource;
}

/** Google Contacts' export since 2024 (`First Name, Middle Name, Last Name, …`). */
const GOOGLE: CsvLayout = {
  id: 'google',
  label: 'Google Contacts',
  header: { required: ['First Name', 'Last Name'], oneOf: ['E-mail 1 - Value', 'Phone 1 - Value', 'Organization Name', 'Labels', 'File As'] },
  name: { prefix: 'Name Prefix', given: 'First Name', middle: 'Middle Name', family: 'Last Name', suffix: 'Name Suffix', nickname: 'Nickname' },
  emails: { numbered: 'E-mail', value: 'Value', label: 'Label' },
  phones: { numbered: 'Phone', value: 'Value', label: 'Label' },
  organization: ['Organization Name'],
};

/** Google Contacts' older export (`Name, Given Name, Additional Name, Family Name, …`). */
const GOOGLE_LEGACY: CsvLayout = {
  id: 'google-legacy',
  label: 'Google Contacts (older export)',
  header: { required: ['Given Name', 'Family Name'], oneOf: ['Name', 'E-mail 1 - Value', 'Phone 1 - Value', 'Organization 1 - Name', 'Group Membership'] },
  displayName: 'Name',
  name: { prefix: 'Name Prefix', given: 'Given Name', middle: 'Additional Name', family: 'Family Name', suffix: 'Name Suffix', nickname: 'Nickname' },
  emails: { numbered: 'E-mail', value: 'Value', label: 'Type' },
  phones: { numbered: 'Phone', value: 'Value', label: 'Type' },
  organization: { numbered: 'Organization', value: 'Name', label: 'Type' },
};

/** Outlook's export (`First Name, Last Name, E-mail Address, Mobile Phone, …`). `Title` is the prefix (`Dr.`). */
const OUTLOOK: CsvLayout = {
  id: 'outlook',
  label: 'Outlook',
  header: { required: ['First Name', 'Last Name'], oneOf: ['E-mail Address', 'Mobile Phone', 'Business Phone', 'Home Phone', 'Company'] },
  name: { prefix: 'Title', given: 'First Name', middle: 'Middle Name', family: 'Last Name', suffix: 'Suffix', nickname: 'Nickname' },
  emails: ['E-mail Address', 'E-mail 2 Address', 'E-mail 3 Address'],
  phones: [
    'Primary Phone', 'Mobile Phone', 'Business Phone', 'Home Phone', 'Business Phone 2', 'Home Phone 2',
    'Other Phone', 'Company Main Phone', 'Car Phone', 'Assistant\'s Phone',
  ],
  organization: ['Company'],
};

/** The layouts we recognise, tried in this order. */
export const CSV_LAYOUTS: readonly CsvLayout[] = [GOOGLE, GOOGLE_LEGACY, OUTLOOK];

/** Why a header row was refused, for a `422` at upload. */
export interface CsvLayoutProblem {
  code: 'unknown_csv_layout' | 'empty_csv';
  /** For a person: what was expected, by layout. */
  message: string;
  /** Each layout we know and the columns it needs. */
  expected: Array<{ layout: string; label: string; required: string[]; oneOf: string[] }>;
  /** The header's columns (the first 50). */
  found: string[];
}

/** A cell, and the column it may be labelled by (`E-mail 1 - Label`). */
interface Slot {
  value: number;
  label: number | null;
}

/** A layout bound to the column positions of one header row. */
export interface ResolvedLayout {
  layout: CsvLayout;
  header: readonly string[];
  column(name: string | undefined): number | null;
  emails: Slot[];
  phones: Slot[];
  organization: Slot[];
}

const key = (header: string) => header.replace(/^\uFEFF/, '').trim().toLowerCase();

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function resolve(layout: CsvLayout, header: readonly string[]): ResolvedLayout {
  const positions = new Map<string, number>();
  header.forEach((name, index) => {
    if (!positions.has(key(name))) positions.set(key(name), index);
  });
  const column = (name: string | undefined) => (name === undefined ? null : (positions.get(key(name)) ?? null));
  const slots = (source: ColumnSource): Slot[] => {
    if (!('numbered' in source)) {
      return source.flatMap((name) => {
        const value = column(name);
        return value === null ? [] : [{ value, label: null }];
      });
    }
    const { numbered, value, label } = source;
    const pattern = new RegExp(`^${escapeRegExp(key(numbered))} (\\d+) - ${escapeRegExp(key(value))}$`);
    return header
      .map((name, index) => ({ number: Number(pattern.exec(key(name))?.[1]), index }))
      .filter(({ number }) => !Number.isNaN(number))
      .sort((a, b) => a.number - b.number)
      .map(({ number, index }) => ({ value: index, label: column(`${numbered} ${number} - ${label}`) }));
  };
  return { layout, header, column, emails: slots(layout.emails), phones: slots(layout.phones), organization: slots(layout.organization) };
}

function describe(layout: CsvLayout): string {
  return `${layout.label} (${layout.header.required.join(', ')} and one of ${layout.header.oneOf.join(', ')})`;
}

/**
 * Which layout a header row is, or a problem naming the columns each layout expects. Accepts the
 * header's columns as parsed; `detectCsvHeader` in `./csv` takes the line as text.
 */
export function matchCsvLayout(
  header: readonly string[],
  layouts: readonly CsvLayout[] = CSV_LAYOUTS,
): { ok: true; layout: ResolvedLayout } | { ok: false; problem: CsvLayoutProblem } {
  const present = new Set(header.map(key));
  const match = layouts.find(
    ({ header: { required, oneOf } }) => required.every((name) => present.has(key(name))) && oneOf.some((name) => present.has(key(name))),
  );
  if (match) return { ok: true, layout: resolve(match, header) };
  const empty = header.every((name) => key(name) === '');
  return {
    ok: false,
    problem: {
      code: empty ? 'empty_csv' : 'unknown_csv_layout',
      message: empty
        ? 'The file has no header row; expected the header of a Google Contacts or Outlook CSV export.'
        : `The CSV header matches no layout we import. Expected ${layouts.map(describe).join('; or ')}.`,
      expected: layouts.map(({ id, label, header }) => ({ layout: id, label, required: [...header.required], oneOf: [...header.oneOf] })),
      found: header.slice(0, 50).map((name) => name.trim()),
    },
  };
}

/** The values of a slot's cell, split on ` ::: `. */
function values(fields: readonly string[], slot: Slot): string[] {
  return (fields[slot.value] ?? '')
    .split(MULTI_VALUE_SEPARATOR)
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

/** The primary value of a field: the first value of a slot labelled `* …`, else the first value. */
function primary(fields: readonly string[], slots: readonly Slot[]): string | null {
  const starred = slots.find((slot) => slot.label !== null && (fields[slot.label] ?? '').trim().startsWith('*'));
  const ordered = starred ? [starred, ...slots] : slots;
  for (const slot of ordered) {
    const [first] = values(fields, slot);
    if (first !== undefined) return first;
  }
  return null;
}

/** A row of a layout to the input of `normalizeContact`: id column or content hash, fields, and its cells as `raw`. */
export function rowToInput(resolved: ResolvedLayout, fields: readonly string[]): ContactInput {
  const { layout, header, column } = resolved;
  const cell = (name: string | undefined) => {
    const index = column(name);
    return index === null ? null : (fields[index] ?? null);
  };
  const firstOf = (name: string | undefined) => cell(name)?.split(MULTI_VALUE_SEPARATOR)[0] ?? null;
  const cells = header
    .map((name, index) => [name.replace(/^\uFEFF/, '').trim(), (fields[index] ?? '').trim()] as const)
    .filter(([, value]) => value !== '');
  const id = cell(layout.idColumn)?.trim();
  return {
    externalId: id || `csv:${contentHash([...cells].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`,
    displayName: cell(layout.displayName),
    name: Object.fromEntries(Object.entries(layout.name).map(([part, name]) => [part, firstOf(name)])),
    email: primary(fields, resolved.emails),
    phone: primary(fields, resolved.phones),
    organization: primary(fields, resolved.organization),
    raw: { format: 'csv', layout: layout.id, fields: Object.fromEntries(cells) },
  };
}
