/**
 * The plain loop: the best simple import a user could write without this service, and what the
 * service is measured against. It imports NOTHING from the project on purpose: its own `fetch`,
 * `JSON.parse`, and one write per page, strictly in sequence, into its own table
 * (`plain_loop_contacts`, keyed by user and id), in its own SQLite file or in the PostgreSQL database:
 * - SQLite: one prepared `INSERT … ON CONFLICT … DO UPDATE … WHERE etag changed` per row, the page in
 *   one transaction (SQLite is in-process: a statement costs a call, not a round trip);
 * - PostgreSQL: one `INSERT … SELECT … FROM unnest(…)` per page, a text array per column (a page is
 *   one round trip and one statement, so its own transaction).
 *
 * It reads the People API's `connections.list` page after page, or with `PLAIN_LOOP_API=graph`
 * Microsoft Graph's contact folders (the default one, `/me/contactFolders` and their child folders)
 * each with the contact delta query, following `@odata.nextLink` to the folder's `@odata.deltaLink`.
 *
 * Run by the bench as a process of its own (the demo provider runs in another), once per round, each
 * round for another user, so its table grows as the service's does. Environment:
 * `PLAIN_LOOP_PROVIDER_URL` (the demo provider), `PLAIN_LOOP_SQLITE_FILE` or `PLAIN_LOOP_POSTGRES_URL`,
 * `PLAIN_LOOP_USER`, `PLAIN_LOOP_PAGE_SIZE` (default 1000), `PLAIN_LOOP_API` (`people`, the default,
 * or `graph`), and `PLAIN_LOOP_PROFILE`: a file to write the loop's CPU profile to (the bench splits
 * it into stages). Prints one JSON line: {@link PlainLoopResult}.
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import Database from 'better-sqlite3';
import pg from 'pg';

export interface PlainLoopResult {
  store: 'sqlite' | 'postgres';
  contacts: number;
  pages: number;
  /** This user's rows in its table at the end: must equal `contacts`. */
  rows: number;
  seconds: number;
  peakRssBytes: number;
  /** CPU seconds of this process, user + system, during the loop. */
  cpuSeconds: number;
  /** CPU seconds of its JavaScript thread alone, during the loop (the rest: V8's and libuv's helper threads). */
  mainThreadCpuSeconds: number;
  /** CPU seconds of V8's profiler thread, with `PLAIN_LOOP_PROFILE` (included in `cpuSeconds`). */
  profilerThreadCpuSeconds: number;
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

const FIELDS = 'names,emailAddresses,phoneNumbers,organizations,metadata';
const GRAPH_FIELDS = 'displayName,givenName,surname,emailAddresses,mobilePhone,businessPhones,homePhones,companyName,changeKey';

/** What the loop keeps of a contact; `contact` is written whole as `raw`. */
interface Row {
  id: string;
  etag: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  organization: string | null;
  contact: Person | GraphContact;
}

/** A person's columns: the first entry of each field. */
function personRow(person: Person): Row {
  return {
    id: person.resourceName,
    etag: person.etag,
    name: person.names?.[0]?.displayName ?? null,
    email: person.emailAddresses?.[0]?.value ?? null,
    phone: person.phoneNumbers?.[0]?.value ?? null,
    organization: person.organizations?.[0]?.name ?? null,
    contact: person,
  };
}

/** A Graph contact's columns: its display name or given name and surname, its first email and phone. */
function graphRow(contact: GraphContact): Row {
  return {
    id: contact.id,
    etag: contact.changeKey ?? '',
    name: contact.displayName || [contact.givenName, contact.surname].filter(Boolean).join(' ') || null,
    email: contact.emailAddresses?.[0]?.address ?? null,
    phone: contact.mobilePhone || contact.businessPhones?.[0] || contact.homePhones?.[0] || null,
    organization: contact.companyName ?? null,
    contact,
  };
}

/** One response from the provider, parsed. */
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

/** What a loop needs from its database: save one page, count a user's rows, close. */
interface PlainStore {
  savePage(userId: string, rows: readonly Row[]): Promise<void>;
  count(userId: string): Promise<number>;
  close(): Promise<void>;
}

const UPSERT_TAIL = `ON CONFLICT (user_id, external_id) DO UPDATE SET etag = excluded.etag, display_name = excluded.display_name,
  email = excluded.email, phone = excluded.phone, organization = excluded.organization, raw = excluded.raw,
  updated_at = excluded.updated_at WHERE plain_loop_contacts.etag <> excluded.etag`;
const CREATE = `CREATE TABLE IF NOT EXISTS plain_loop_contacts (user_id text NOT NULL, external_id text NOT NULL, etag text NOT NULL,
  display_name text, email text, phone text, organization text, raw text NOT NULL, created_at text NOT NULL, updated_at text NOT NULL,
  PRIMARY KEY (user_id, external_id))`;
function openSqlite(file: string): PlainStore {
  const db = new Database(file);
  // The service's settings (db/index.ts), so both sides pay the same durability.
  db.pragma('page_size = 16384');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(CREATE);
  const columns = ['user_id', 'external_id', 'etag', 'display_name', 'email', 'phone', 'organization', 'raw', 'created_at', 'updated_at'];
  const insert = db.prepare(`INSERT INTO plain_loop_contacts (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ${UPSERT_TAIL}`);
  const savePage = db.transaction((userId: string, rows: readonly Row[]) => {
    const now = new Date().toISOString();
    for (const r of rows) insert.run(userId, r.id, r.etag, r.name, r.email, r.phone, r.organization, JSON.stringify(r.contact), now, now);
  });
  return {
    savePage: (userId, rows) => Promise.resolve(savePage(userId, rows)),
    count: (userId) =>
      Promise.resolve((db.prepare('SELECT count(*) AS n FROM plain_loop_contacts WHERE user_id = ?').get(userId) as { n: number }).n),
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}

/**
 * A text array as a PostgreSQL array literal, for values that are JSON text: JSON escapes a quote
 * and a backslash exactly as an array literal does, and JSON text holds no control character, so
 * only the brackets differ. pg would escape each element with two regular expressions instead,
 * which for 1 KiB texts costs more than the insert.
 */
function jsonTextArray(texts: readonly string[]): string {
  return `{${JSON.stringify(texts).slice(1, -1)}}`;
}

async function openPostgres(url: string): Promise<PlainStore> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(CREATE);
  const text = `INSERT INTO plain_loop_contacts (user_id, external_id, etag, display_name, email, phone, organization, raw, created_at, updated_at)
    SELECT $1, u.*, $9, $9 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    AS u(external_id, etag, display_name, email, phone, organization, raw) ${UPSERT_TAIL}`;
  return {
    async savePage(userId, rows) {
      const raws = jsonTextArray(rows.map((r) => JSON.stringify(r.contact)));
      const values = [userId, rows.map((r) => r.id), rows.map((r) => r.etag), rows.map((r) => r.name), rows.map((r) => r.email)];
      values.push(rows.map((r) => r.phone), rows.map((r) => r.organization), raws, new Date().toISOString());
      // A named query is parsed and planned once per connection.
      await client.query({ name: 'plain-loop-page', text, values });
    },
    async count(userId) {
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM plain_loop_contacts WHERE user_id = $1', [userId]);
      return Number(rows[0]?.n ?? 0);
    },
    close: () => client.end(),
  };
}

/**
 * CPU seconds so far of this process's JavaScript thread (its thread id is the process id) and of
 * V8's profiler thread, from /proc.
 */
function threadCpu(): { main: number; profiler: number } {
  const seconds = { main: 0, profiler: 0 };
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const used = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      if (Number(tid) === process.pid) seconds.main = used;
      else if (fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'v8:ProfEvntProc') seconds.profiler += used;
    }
  } catch {
    // Not Linux: the split is not reported.
  }
  return seconds;
}

/** Drops the loop's table: the bench calls it once a run is over. */
export async function dropPlainLoopTable(target: { sqliteFile?: string; postgresUrl?: string }): Promise<void> {
  if (target.postgresUrl) {
    const client = new pg.Client({ connectionString: target.postgresUrl });
    await client.connect();
    await client.query('DROP TABLE IF EXISTS plain_loop_contacts').finally(() => client.end());
  } else if (target.sqliteFile && fs.existsSync(target.sqliteFile)) {
    const db = new Database(target.sqliteFile);
    db.exec('DROP TABLE IF EXISTS plain_loop_contacts');
    db.close();
  }
}

async function main(): Promise<void> {
  const providerUrl = process.env.PLAIN_LOOP_PROVIDER_URL;
  const userId = process.env.PLAIN_LOOP_USER;
  if (!providerUrl || !userId) throw new Error('PLAIN_LOOP_PROVIDER_URL must name the demo provider, PLAIN_LOOP_USER the user');
  const pageSize = Number(process.env.PLAIN_LOOP_PAGE_SIZE ?? 1000);
  const postgresUrl = process.env.PLAIN_LOOP_POSTGRES_URL;
  const sqliteFile = process.env.PLAIN_LOOP_SQLITE_FILE;
  if (!postgresUrl && !sqliteFile) throw new Error('set PLAIN_LOOP_SQLITE_FILE or PLAIN_LOOP_POSTGRES_URL');
  const store = postgresUrl ? await openPostgres(postgresUrl) : openSqlite(sqliteFile as string);
  const profileFile = process.env.PLAIN_LOOP_PROFILE;
  const session = profileFile ? new Session() : undefined;
  try {
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      // The worker's interval (observability/cpu-stages.ts), so both pay the same for being measured.
      await session.post('Profiler.setSamplingInterval', { interval: 5000 });
      await session.post('Profiler.start');
    }
    let peakRssBytes = process.memoryUsage.rss();
    let contacts = 0;
    let pages = 0;
    const cpu = process.cpuUsage();
    const threadsBefore = threadCpu();
    const started = performance.now();
    const read = process.env.PLAIN_LOOP_API === 'graph' ? graphPages(providerUrl, pageSize) : peoplePages(providerUrl, pageSize);
    for await (const rows of read) {
      await store.savePage(userId, rows);
      contacts += rows.length;
      pages += 1;
      peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    }
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const threadsAfter = threadCpu();
    if (session && profileFile) {
      const { profile } = await session.post('Profiler.stop');
      fs.writeFileSync(profileFile, JSON.stringify(profile));
    }
    const result: PlainLoopResult = {
      store: postgresUrl ? 'postgres' : 'sqlite',
      contacts,
      pages,
      rows: await store.count(userId),
      seconds,
      peakRssBytes,
      cpuSeconds: (used.user + used.system) / 1e6,
      mainThreadCpuSeconds: threadsAfter.main - threadsBefore.main,
      profilerThreadCpuSeconds: threadsAfter.profiler - threadsBefore.profiler,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    session?.disconnect();
    await store.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`plain-loop: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
