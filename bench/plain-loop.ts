/**
 * The plain loop: the simplest import a user could write without this service, and what
 * the service is measured against. It imports NOTHING from the project on purpose: its own `fetch`,
 * `JSON.parse`, one prepared `INSERT … ON CONFLICT … DO UPDATE … WHERE etag changed` per row, one
 * transaction per page, strictly in sequence. Its own table (`plain_loop_contacts`), in its own
 * SQLite file or in the PostgreSQL database, dropped at the end.
 *
 * It reads the People API's `connections.list` page after page, or with `PLAIN_LOOP_API=graph`
 * Microsoft Graph's contact folders (the default one, `/me/contactFolders` and their child folders)
 * each with the contact delta query, following `@odata.nextLink` to the folder's `@odata.deltaLink`.
 *
 * Run by the bench as a process of its own (the demo provider runs in another). Environment:
 * `PLAIN_LOOP_PROVIDER_URL` (the demo provider), `PLAIN_LOOP_SQLITE_FILE` or `PLAIN_LOOP_POSTGRES_URL`,
 * `PLAIN_LOOP_PAGE_SIZE` (default 1000), `PLAIN_LOOP_API` (`people`, the default, or `graph`).
 * Prints one JSON line: {@link PlainLoopResult}.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

export interface PlainLoopResult {
  store: 'sqlite' | 'postgres';
  contacts: number;
  pages: number;
  /** Rows in its table at the end: must equal `contacts`. */
  rows: number;
  seconds: number;
  peakRssBytes: number;
  /** CPU seconds of this process, user + system, during the loop. */
  cpuSeconds: number;
}

interface Person {
  resourceName: string;
  etag: string;
  names?: Array<{ displayName?: string }>;
  emailAddresses?: Array<{ value?: string }>;
  phoneNumbers?: Array<{ value?: string }>;
  organizations?: Array<{ name?: string }>;
}

interface PeoplePage {
  connections?: Person[];
  nextPageToken?: string;
}

interface GraphContact {
  id: string;
  changeKey?: string;
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  emailAddresses?: Array<{ address?: string | null }>;
  mobilePhone?: string | null;
  businessPhones?: string[];
  homePhones?: string[];
  companyName?: string | null;
}

interface GraphPage<T> {
  value: T[];
  '@odata.nextLink'?: string;
}

const COLUMNS = ['external_id', 'etag', 'display_name', 'email', 'phone', 'organization', 'raw', 'created_at', 'updated_at'] as const;
const FIELDS = 'names,emailAddresses,phoneNumbers,organizations,metadata';
const GRAPH_FIELDS = 'displayName,givenName,surname,emailAddresses,mobilePhone,businessPhones,homePhones,companyName,changeKey';

/** A contact's row, in {@link COLUMNS} order but for the times, which the page's save adds. */
type Row = [string, string, string | null, string | null, string | null, string | null, string];

function personRow(person: Person): Row {
  return [
    person.resourceName,
    person.etag,
    person.names?.[0]?.displayName ?? null,
    person.emailAddresses?.[0]?.value ?? null,
    person.phoneNumbers?.[0]?.value ?? null,
    person.organizations?.[0]?.name ?? null,
    JSON.stringify(person),
  ];
}

function graphRow(contact: GraphContact): Row {
  const name = contact.displayName || [contact.givenName, contact.surname].filter(Boolean).join(' ') || null;
  const phone = contact.mobilePhone || contact.businessPhones?.[0] || contact.homePhones?.[0] || null;
  return [contact.id, contact.changeKey ?? '', name, contact.emailAddresses?.[0]?.address ?? null, phone, contact.companyName ?? null, JSON.stringify(contact)];
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers: { authorization: 'Bearer plain-loop', ...headers } });
  if (!response.ok) throw new Error(`provider answered ${response.status}`);
  return JSON.parse(await response.text()) as T;
}

/** The People API's connections, a page of rows at a time. */
async function* peoplePages(providerUrl: string, pageSize: number): AsyncGenerator<Row[]> {
  let pageToken: string | undefined;
  do {
    const url = new URL('/v1/people/me/connections', providerUrl);
    url.searchParams.set('personFields', FIELDS);
    url.searchParams.set('pageSize', String(pageSize));
    if (pageToken) url.searchParams.set('pageToken', pageToken);
    const page = await getJson<PeoplePage>(url.href);
    yield (page.connections ?? []).map(personRow);
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** Every item of a Graph listing, following its next links. */
async function graphListing<T>(url: string): Promise<T[]> {
  const items: T[] = [];
  for (let next: string | undefined = url; next; ) {
    const page: GraphPage<T> = await getJson<GraphPage<T>>(next);
    items.push(...page.value);
    next = page['@odata.nextLink'];
  }
  return items;
}

/** Every contact folder of the mailbox, then each folder's contacts, a delta page of rows at a time. */
async function* graphPages(providerUrl: string, pageSize: number): AsyncGenerator<Row[]> {
  const folderUrl = (id: string) => `${providerUrl}/v1.0/me/contactFolders/${encodeURIComponent(id)}`;
  const folders = ['contacts'];
  for (let level = await graphListing<{ id: string }>(`${providerUrl}/v1.0/me/contactFolders`); level.length > 0; ) {
    folders.push(...level.map((folder) => folder.id));
    level = (await Promise.all(level.map((folder) => graphListing<{ id: string }>(`${folderUrl(folder.id)}/childFolders`)))).flat();
  }
  for (const folder of folders) {
    for (let next: string | undefined = `${folderUrl(folder)}/contacts/delta?$select=${GRAPH_FIELDS}`; next; ) {
      const page: GraphPage<GraphContact> = await getJson<GraphPage<GraphContact>>(next, { prefer: `odata.maxpagesize=${pageSize}` });
      yield page.value.map(graphRow);
      next = page['@odata.nextLink'];
    }
  }
}

/** What a loop needs from its database: save one page in one transaction, count, clean up. */
interface PlainStore {
  savePage(rows: Row[]): Promise<void>;
  count(): Promise<number>;
  close(): Promise<void>;
}

const UPSERT_TAIL = `ON CONFLICT (external_id) DO UPDATE SET etag = excluded.etag, display_name = excluded.display_name,
  email = excluded.email, phone = excluded.phone, organization = excluded.organization, raw = excluded.raw,
  updated_at = excluded.updated_at WHERE plain_loop_contacts.etag <> excluded.etag`;
const CREATE = `CREATE TABLE plain_loop_contacts (external_id text PRIMARY KEY, etag text NOT NULL, display_name text,
  email text, phone text, organization text, raw text NOT NULL, created_at text NOT NULL, updated_at text NOT NULL)`;

function openSqlite(file: string): PlainStore {
  const db = new Database(file);
  // The service's settings (db/index.ts), so both sides pay the same durability.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('DROP TABLE IF EXISTS plain_loop_contacts');
  db.exec(CREATE);
  const insert = db.prepare(`INSERT INTO plain_loop_contacts (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ${UPSERT_TAIL}`);
  const savePage = db.transaction((rows: Row[]) => {
    const now = new Date().toISOString();
    for (const row of rows) insert.run([...row, now, now]);
  });
  return {
    savePage: (rows) => Promise.resolve(savePage(rows)),
    count: () => Promise.resolve((db.prepare('SELECT count(*) AS n FROM plain_loop_contacts').get() as { n: number }).n),
    close: () => {
      db.exec('DROP TABLE plain_loop_contacts');
      db.close();
      return Promise.resolve();
    },
  };
}

async function openPostgres(url: string): Promise<PlainStore> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('DROP TABLE IF EXISTS plain_loop_contacts');
  await client.query(CREATE);
  // A named query is prepared once per connection and reused for every row.
  const text = `INSERT INTO plain_loop_contacts (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ${UPSERT_TAIL}`;
  return {
    async savePage(rows) {
      const now = new Date().toISOString();
      await client.query('BEGIN');
      try {
        for (const row of rows) await client.query({ name: 'plain-loop-upsert', text, values: [...row, now, now] });
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    },
    async count() {
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM plain_loop_contacts');
      return Number(rows[0]?.n ?? 0);
    },
    async close() {
      await client.query('DROP TABLE plain_loop_contacts');
      await client.end();
    },
  };
}

async function main(): Promise<void> {
  const providerUrl = process.env.PLAIN_LOOP_PROVIDER_URL;
  if (!providerUrl) throw new Error('PLAIN_LOOP_PROVIDER_URL must name the demo provider');
  const pageSize = Number(process.env.PLAIN_LOOP_PAGE_SIZE ?? 1000);
  const postgresUrl = process.env.PLAIN_LOOP_POSTGRES_URL;
  const sqliteFile = process.env.PLAIN_LOOP_SQLITE_FILE;
  if (!postgresUrl && !sqliteFile) throw new Error('set PLAIN_LOOP_SQLITE_FILE or PLAIN_LOOP_POSTGRES_URL');
  const store = postgresUrl ? await openPostgres(postgresUrl) : openSqlite(sqliteFile as string);
  try {
    let peakRssBytes = process.memoryUsage.rss();
    let contacts = 0;
    let pages = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const read = process.env.PLAIN_LOOP_API === 'graph' ? graphPages(providerUrl, pageSize) : peoplePages(providerUrl, pageSize);
    for await (const rows of read) {
      await store.savePage(rows);
      contacts += rows.length;
      pages += 1;
      peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    }
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const result: PlainLoopResult = {
      store: postgresUrl ? 'postgres' : 'sqlite',
      contacts,
      pages,
      rows: await store.count(),
      seconds,
      peakRssBytes,
      cpuSeconds: (used.user + used.system) / 1e6,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(`plain-loop: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
