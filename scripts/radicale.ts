/**
 * A real CardDAV server for tests and for `npm run demo-carddav`: Debian's Radicale
 * (`apt-get install -y radicale`), started on a free loopback port with htpasswd authentication,
 * its config and storage in a temporary directory, one user's address book created and seeded
 * with N cards over HTTP. Tests import it as `test/support/radicale.ts`.
 *
 * Seeding: by default one `PUT` of the whole address book (a multi-card `.vcf`), which Radicale
 * stores as one file per card named after its UID. `seed: 'cards'` PUTs one `.vcf` per card, in
 * bounded parallel; that is how clients write, but Radicale 3.1 checks each new card's UID against
 * the whole collection under a global write lock, so it is quadratic and far slower (measured in
 * bench/README.md).
 *
 * `/usr/bin/radicale` runs with Debian's `/usr/bin/python3` (its shebang), whatever `python3` comes
 * first on `PATH`; `PYTHON*` variables are not passed on, so a pyenv or venv cannot interfere.
 * Radicale binds port 0 and we read the port it got from its log: no race for a port.
 *
 * Always `stop()` it (in `after`/`finally`); a process exit kills it too, so a crashed test run
 * leaves no Radicale behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';

/** Where Debian's package puts the server. */
export const RADICALE_BIN = '/usr/bin/radicale';

/** Why the Radicale tests cannot run on this machine, or `null` when they can. Use as `skip` reason. */
export function radicaleMissing(): string | null {
  if (fs.existsSync(RADICALE_BIN)) return null;
  return `Radicale is not installed (no ${RADICALE_BIN}). Install Debian's package: sudo apt-get install -y radicale (.ci/run does).`;
}

/** One seeded card and the values a reader should find in it. */
export interface SeedCard {
  /** Path of the card on the server, e.g. `/alice/contacts/card-00042.vcf`. */
  href: string;
  uid: string;
  displayName: string;
  email: string;
  phone: string;
  organization: string;
  /** The vCard 3.0 text that was PUT. */
  vcard: string;
}

const GIVEN = ['Ana', 'Zoë', 'Björn', 'Chloé', 'José', 'Łukasz', '美咲', 'Søren', 'Amélie', 'Dmitri'];
const FAMILY = ['García', 'Müller', "O'Brien", 'Nguyễn', 'Smith', '山田', 'Kowalski', 'Øster'];

function escapeText(value: string): string {
  return value.replace(/[\\,;]/g, (c) => `\\${c}`);
}

/** The card seeded at `index` (1-based) into the address book at `bookPath`: deterministic, some non-ASCII. */
export function seedCard(index: number, bookPath: string): SeedCard {
  const id = String(index).padStart(5, '0');
  const given = GIVEN[index % GIVEN.length] as string;
  const family = FAMILY[index % FAMILY.length] as string;
  const displayName = `${given} ${family} ${id}`;
  // Every 10th organization has a comma, escaped in the card: readers must unescape it.
  const organization = index % 10 === 0 ? `Acme, Inc. ${index % 7}` : `Org ${index % 7}`;
  const card: SeedCard = {
    href: `${bookPath}card-${id}.vcf`,
    uid: `card-${id}`,
    displayName,
    email: `contact${id}@example.org`,
    phone: `+1 555 01${id}`,
    organization,
    vcard: '',
  };
  card.vcard = [
    'BEGIN:VCARD',
    'VERSION:3.0',
    `UID:${card.uid}`,
    `FN:${escapeText(displayName)}`,
    `N:${escapeText(family)};${escapeText(given)};;;`,
    `EMAIL;TYPE=INTERNET:${card.email}`,
    `TEL;TYPE=CELL:${card.phone}`,
    `ORG:${escapeText(organization)}`,
    'END:VCARD',
    '',
  ].join('\r\n');
  return card;
}

/** A running Radicale; see {@link startRadicale}. */
export interface RadicaleServer {
  /** The server root, e.g. `http://127.0.0.1:40657/`. */
  url: string;
  username: string;
  password: string;
  /** The seeded address book, e.g. `http://127.0.0.1:40657/alice/contacts/`. */
  addressBookUrl: string;
  /** The seeded cards, in href order. */
  cards: SeedCard[];
  /** The Radicale process id (to check it is gone after {@link RadicaleServer.stop}). */
  pid: number;
  /** Resolves when the Radicale process ends, however it ends (with its log tail, for a message). */
  exited: Promise<string>;
  /** Kills Radicale (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRadicaleOptions {
  /** Cards to seed (default 0). */
  cards?: number;
  /** Default `alice`. */
  username?: string;
  /** `collection` (default): one PUT of all cards; `cards`: one PUT per card (slow beyond a few hundred). */
  seed?: 'collection' | 'cards';
  /** Parallel PUTs when seeding with `cards` (default 8: Radicale's `max_connections`). */
  concurrency?: number;
}

function configText(dir: string): string {
  return [
    '[server]',
    // Port 0: the kernel picks a free port, and Radicale logs which ("Listening on …").
    'hosts = 127.0.0.1:0',
    '[auth]',
    'type = htpasswd',
    `htpasswd_filename = ${path.join(dir, 'users')}`,
    // Plain keeps the test free of passlib/bcrypt; the file is private to this run.
    'htpasswd_encryption = plain',
    // Radicale waits this long before answering a wrong password (default 1 s).
    'delay = 0.05',
    '[rights]',
    'type = owner_only',
    '[storage]',
    `filesystem_folder = ${path.join(dir, 'collections')}`,
    '[web]',
    'type = none',
    '[logging]',
    // "info" is the level that logs the port; the log is drained and only its tail kept.
    'level = info',
    '',
  ].join('\n');
}

/**
 * Radicale fsyncs every card it writes, and its config file cannot turn that off: on tmpfs
 * (`/dev/shm`) an fsync costs nothing. Falls back to the OS temp directory.
 */
function scratchRoot(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('PYTHON')) env[key] = value;
  return { ...env, LANG: 'C.UTF-8' };
}

/** Resolves with the port Radicale logs, rejects when it exits or is silent for 20 s. */
function portFromLog(child: ChildProcess, tail: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`Radicale did not report a port within 20 s.\n${tail()}`)), 20_000);
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-4096);
      const match = /Listening on '\[?127\.0\.0\.1\]?:(\d+)'/.exec(seen);
      if (match) done(null, Number(match[1]));
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`Radicale exited (${signal ?? `code ${code}`}) before listening.\n${tail()}`));
    function done(error: Error | null, port?: number) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(port as number);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

async function request(url: string, init: RequestInit & { auth: string }, expect: number[]): Promise<Response> {
  const { auth, ...rest } = init;
  const response = await fetch(url, { ...rest, headers: { Authorization: auth, ...(rest.headers as Record<string, string>) } });
  await response.arrayBuffer();
  if (!expect.includes(response.status)) {
    throw new Error(`Radicale answered ${init.method ?? 'GET'} ${url} with ${response.status}; expected ${expect.join(' or ')}`);
  }
  return response;
}

/** Runs `work` over `items` with at most `limit` at a time; rejects with the first failure. */
async function boundedParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Starts Radicale with one user and one address book (`/{username}/contacts/`) holding
 * `options.cards` cards ({@link seedCard}). Throws, with Radicale's log tail, when it cannot
 * start; Radicale is killed on every failure path.
 */
export async function startRadicale(options: StartRadicaleOptions = {}): Promise<RadicaleServer> {
  const missing = radicaleMissing();
  if (missing) throw new Error(missing);
  const username = options.username ?? 'alice';
  const password = randomBytes(12).toString('hex');
  const dir = fs.mkdtempSync(path.join(scratchRoot(), 'radicale-'));
  fs.writeFileSync(path.join(dir, 'users'), `${username}:${password}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'config'), configText(dir));

  const child = spawn(RADICALE_BIN, ['--config', path.join(dir, 'config')], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const tail = () => `Radicale log (last lines):\n${lines.join('\n')}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killNow = () => child.kill('SIGKILL');
  process.once('exit', killNow);

  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(killNow, 5000);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', killNow);
      fs.rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    if (child.pid === undefined) {
      const [spawnError] = (await once(child, 'error')) as [Error];
      throw spawnError;
    }
    const port = await portFromLog(child, tail);
    const url = `http://127.0.0.1:${port}/`;
    const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    // It listens once it logs the port; still, wait for a first answer before going on.
    for (let attempt = 0; ; attempt++) {
      try {
        await request(url, { method: 'OPTIONS', auth }, [200]);
        break;
      } catch (error) {
        if (attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const bookPath = `/${username}/contacts/`;
    const addressBookUrl = new URL(bookPath, url).href;
    // The PROPFIND makes Radicale create the user's principal collection, then the address book.
    await request(new URL(`/${username}/`, url).href, { method: 'PROPFIND', auth, headers: { Depth: '0' } }, [207]);
    const mkcol =
      '<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">' +
      '<d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>' +
      '<d:displayname>Contacts</d:displayname></d:prop></d:set></d:mkcol>';
    await request(addressBookUrl, { method: 'MKCOL', auth, body: mkcol, headers: { 'Content-Type': 'application/xml' } }, [201]);

    const cards = Array.from({ length: options.cards ?? 0 }, (_, i) => seedCard(i + 1, bookPath));
    const vcard = { 'Content-Type': 'text/vcard; charset=utf-8' };
    if (options.seed === 'cards') {
      await boundedParallel(cards, options.concurrency ?? 8, (card) =>
        request(new URL(card.href, url).href, { method: 'PUT', auth, body: card.vcard, headers: { ...vcard, 'If-None-Match': '*' } }, [201]),
      );
    } else if (cards.length > 0) {
      // Replaces the collection's content; Radicale names each card `{UID}.vcf`, the same href as above.
      await request(addressBookUrl, { method: 'PUT', auth, body: cards.map((card) => card.vcard).join(''), headers: vcard }, [201]);
    }
    const ended = exited.then(() => `Radicale exited (${child.signalCode ?? `code ${child.exitCode}`}).\n${tail()}`);
    return { url, username, password, addressBookUrl, cards, pid: child.pid as number, exited: ended, stop };
  } catch (error) {
    await stop();
    if (error instanceof Error) error.message += `\n${tail()}`;
    throw error;
  }
}
