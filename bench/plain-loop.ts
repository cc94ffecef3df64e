/**
 * The plain loop: the simplest import a user could write without this service, and what
 * the service is measured against. It imports NOTHING from the project on purpose: its own `fetch`,
 * `JSON.parse`, one prepared `INSERT … ON CONFLICT … DO UPDATE … WHERE etag changed` per row, one
 * transaction per page, strictly in sequence. Its own table (`plain_loop_contacts`), in its own
 * SQLite file or in the PostgreSQL database, dropped at the end.
 *
 * Run by the bench as a process of its own (the demo provider runs in another). Environment:
 * `PLAIN_LOOP_PROVIDER_URL` (the demo provider), `PLAIN_LOOP_SQLITE_FILE` or `PLAIN_LOOP_POSTGRES_URL`,
 * `PLAIN_LOOP_PAGE_SIZE` (default 1000). Prints one JSON line: {@link PlainLoopResult}.
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

const COLUMNS = ['external_id', 'etag', 'display_name', 'email', 'phone', 'organization', 'raw', 'created_at', 'updated_at'] as const;
const FIELDS = 'names,emailAddresses,phoneNumbers,organizations,metadata';

/** The row of one person, in {@link COLUMNS} order. */
function row(person: Person, now: string): unknown[] {
  return [
    person.resourceName,
    person.etag,
    person.names?.[0]?.displayName ?? null,
    person.emailAddresses?.[0]?.value ?? null,
    person.phoneNumbers?.[0]?.value ?? null,
    person.organizations?.[0]?.name ?? null,
    JSON.stringify(person),
    now,
    now,
  ];
}

/** What a loop needs from its database: save one page in one transaction, count, clean up. */
interface PlainStore {
  savePage(people: Person[]): Promise<void>;
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
  const savePage = db.transaction((people: Person[]) => {
    const now = new Date().toISOString();
    for (const person of people) insert.run(row(person, now));
  });
  return {
    savePage: (people) => Promise.resolve(savePage(people)),
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
    async savePage(people) {
      const now = new Date().toISOString();
      await client.query('BEGIN');
      try {
        for (const person of people) await client.query({ name: 'plain-loop-upsert', text, values: row(person, now) });
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
    let pageToken: string | undefined;
    let contacts = 0;
    let pages = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    do {
      const url = new URL('/v1/people/me/connections', providerUrl);
      url.searchParams.set('personFields', FIELDS);
      url.searchParams.set('pageSize', String(pageSize));
      if (pageToken) url.searchParams.set('pageToken', pageToken);
      const response = await fetch(url, { headers: { authorization: 'Bearer plain-loop' } });
      if (!response.ok) throw new Error(`provider answered ${response.status}`);
      const page = JSON.parse(await response.text()) as PeoplePage;
      const people = page.connections ?? [];
      await store.savePage(people);
      contacts += people.length;
      pages += 1;
      pageToken = page.nextPageToken;
      peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    } while (pageToken);
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
