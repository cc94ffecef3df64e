import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { openSource, readProviderSettings } from '../providers';
import {
  CarddavCredentials,
  type CarddavSourceOptions,
  DavClient,
  createCarddavSource,
  decodeCursor,
  discoverAddressBook,
  encodeCursor,
  parseBasicCard,
} from '../providers/carddav';
import type { ContactSource, SourcePage } from '../providers/types';
import type { ContactRecord } from '../db/types';
import { FAILURE_TYPES } from '../workflows/contract';
import { type RadicaleServer, radicaleMissing, seedCard, startRadicale } from './support/radicale';
import { failureOf } from './support/failures';

const SOURCES = { providers: readProviderSettings({}), allowPrivateAddresses: true };
const OWNER = { tenant: 'default', userId: 'alice' };
const skip = radicaleMissing() ?? false;

function credentials(server: Pick<RadicaleServer, 'url' | 'username' | 'password'>, url = server.url): string {
  return JSON.stringify({ url, username: server.username, password: server.password });
}

function basicAuth({ username, password }: RadicaleServer): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** A source reading cards with the basic parser, or with `options` of the test's own. */
function sourceFor(json: string, options?: CarddavSourceOptions): ContactSource {
  return createCarddavSource(CarddavCredentials.parse(JSON.parse(json)), { allowPrivateAddresses: true, ...options });
}

interface Read {
  contacts: ContactRecord[];
  pages: SourcePage[];
  /** The cursors each page handed back, in order. */
  cursors: string[];
}

/** Reads pages from `cursor` until the source says there are no more (or `maxPages` were read). */
async function readPages(source: ContactSource, pageSize: number, cursor: string | null = null, maxPages = Infinity): Promise<Read> {
  const read: Read = { contacts: [], pages: [], cursors: [] };
  let next = cursor;
  do {
    const page = await source.fetchPage({ cursor: next, pageSize, signal: new AbortController().signal });
    read.pages.push(page);
    read.contacts.push(...page.contacts);
    next = page.nextCursor;
    if (next !== null) read.cursors.push(next);
  } while (next !== null && read.pages.length < maxPages);
  return read;
}

function assertGone(pid: number): void {
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `Radicale (pid ${pid}) is still running after stop()`);
}

const SIGNAL = new AbortController().signal;

void describe('CardDAV source against Radicale (2,000 cards)', { skip }, () => {
  const CARDS = 2000;
  let server: RadicaleServer;
  let hrefs: string[];

  before(async () => {
    server = await startRadicale({ cards: CARDS });
    hrefs = server.cards.map((card) => card.href).sort();
  });

  after(async () => {
    if (!server) return;
    await server.stop();
    assertGone(server.pid);
  });

  void it('discovers the address book from the server root, through /.well-known/carddav', async () => {
    const client = new DavClient(server, { timeoutMs: 10_000, allowPrivateAddresses: true });
    const book = await discoverAddressBook(client, server.url, SIGNAL);
    assert.deepEqual(book, { url: server.addressBookUrl, syncCollection: true });
    const fromPrincipal = await discoverAddressBook(client, new URL(`/${server.username}/`, server.url).href, SIGNAL);
    assert.equal(fromPrincipal.url, server.addressBookUrl, 'a principal URL leads to the same address book');
  });

  void it('uses an address book URL as it is', async () => {
    const book = await discoverAddressBook(new DavClient(server, { timeoutMs: 10_000, allowPrivateAddresses: true }), server.addressBookUrl, SIGNAL);
    assert.deepEqual(book, { url: server.addressBookUrl, syncCollection: true });
  });

  void it('reads every card once, in pages, with sync-collection and its fields', async () => {
    const read = await readPages(sourceFor(credentials(server)), 300);
    assert.equal(read.pages.length, 7, '2,000 cards in pages of 300');
    assert.deepEqual(read.pages.map((page) => page.contacts.length), [300, 300, 300, 300, 300, 300, 200]);
    assert.ok(read.pages.every((page) => page.total === CARDS && (page.rejected ?? []).length === 0));
    assert.deepEqual(read.contacts.map((contact) => contact.externalId), hrefs, 'each card once, in href order');

    const first = decodeCursor(read.cursors[0] as string);
    assert.equal(first.via, 'sync', 'Radicale supports sync-collection, so the listing uses it');
    assert.match(first.token ?? '', /^http:\/\/radicale\.org\/ns\/sync\//);
    assert.ok((read.cursors[0] as string).length < 300, `the cursor is small: ${read.cursors[0]}`);

    const byHref = new Map(read.contacts.map((contact) => [contact.externalId, contact]));
    for (const index of [1, 7, 10, 1234, 2000]) {
      const seeded = seedCard(index, new URL(server.addressBookUrl).pathname);
      const contact = byHref.get(seeded.href);
      assert.ok(contact, `card ${index} was read`);
      assert.deepEqual(
        { displayName: contact.displayName, email: contact.email, phone: contact.phone, organization: contact.organization },
        { displayName: seeded.displayName, email: seeded.email, phone: seeded.phone, organization: seeded.organization },
      );
      assert.match(contact.etag, /^"[0-9a-f]{64}"$/, 'the etag is the DAV etag');
    }
    assert.equal(byHref.get(`${new URL(server.addressBookUrl).pathname}card-00007.vcf`)?.displayName, 'Søren Øster 00007');
  });

  void it('resumes from a cursor in the middle and reads the rest exactly once', async () => {
    const json = credentials(server, server.addressBookUrl);
    const head = await readPages(sourceFor(json), 250, null, 3);
    const mid = head.cursors.at(-1) as string;
    assert.equal(decodeCursor(mid).after, 'card-00750.vcf');
    // A new source instance: what another worker (or a retried batch) starts from.
    const rest = await readPages(sourceFor(json), 250, mid);
    assert.equal(rest.contacts.length, CARDS - 750);
    const all = [...head.contacts, ...rest.contacts].map((contact) => contact.externalId);
    assert.deepEqual(all, hrefs, 'every card exactly once across the resume');
  });

  void it('lists with PROPFIND when told to, and finds the same cards and etags', async () => {
    const bySync = await readPages(sourceFor(credentials(server)), 1000);
    const byPropfind = await readPages(sourceFor(credentials(server), { listing: 'propfind' }), 1000);
    const cursor = decodeCursor(byPropfind.cursors[0] as string);
    assert.equal(cursor.via, 'propfind');
    assert.equal(cursor.token, undefined, 'no sync token without sync-collection');
    const etags = (read: Read) => read.contacts.map((contact) => [contact.externalId, contact.etag]);
    assert.deepEqual(etags(byPropfind), etags(bySync));
  });

  void it('falls back to a full PROPFIND listing when the server rejects the sync token (403 valid-sync-token)', async () => {
    const bogus = 'http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000';
    const raw = await fetch(server.addressBookUrl, {
      method: 'REPORT',
      headers: { Depth: '0', Authorization: basicAuth(server) },
      body: `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${bogus}</d:sync-token><d:sync-level>1</d:sync-level><d:prop/></d:sync-collection>`,
    });
    assert.equal(raw.status, 403, 'premise: Radicale refuses the bogus token');
    assert.match(await raw.text(), /valid-sync-token/);

    const cursor = encodeCursor({ book: server.addressBookUrl, phase: 'delta', via: 'sync', after: '', token: bogus });
    const read = await readPages(sourceFor(credentials(server)), 1000, cursor);
    assert.deepEqual(read.contacts.map((contact) => contact.externalId), hrefs, 'every card, read again in full');
    assert.equal(decodeCursor(read.cursors[0] as string).via, 'propfind');
  });

  void it('fails as ProviderUnauthenticated, not retryable, on a wrong password, and never says the password', async () => {
    const wrong = { ...server, password: 'not-the-password-42' };
    const failure = await failureOf(sourceFor(credentials(wrong)).fetchPage({ cursor: null, pageSize: 10, signal: SIGNAL }));
    assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
    assert.equal(failure.nonRetryable, true);
    assert.ok(!failure.message.includes(wrong.password), failure.message);
  });
});

void describe('CardDAV source against a Radicale that changes or stops', { skip }, () => {
  let server: RadicaleServer;
  before(async () => {
    // One PUT per card here: the path real clients take (and cheap for 20 cards).
    server = await startRadicale({ cards: 20, seed: 'cards' });
  });
  after(async () => {
    if (!server) return;
    await server.stop();
    assertGone(server.pid);
  });

  void it('reads cards changed during the import once more, from the sync token', async () => {
    const source = sourceFor(credentials(server));
    const head = await readPages(source, 5, null, 1);
    // Card 2 was read on the first page; change it before the import goes on.
    const target = server.cards[1];
    assert.ok(target);
    const put = await fetch(new URL(target.href, server.url), {
      method: 'PUT',
      headers: { Authorization: basicAuth(server) },
      body: target.vcard.replace(/^FN:.*$/m, 'FN:Changed Name'),
    });
    assert.equal(put.status, 201);
    const rest = await readPages(sourceFor(credentials(server)), 5, head.cursors[0] as string);
    assert.equal(head.contacts.length + rest.contacts.length, 21, 'the 20 cards, plus the changed one once more');
    const last = rest.contacts.at(-1);
    assert.deepEqual([last?.externalId, last?.displayName], [target.href, 'Changed Name']);
    assert.equal(decodeCursor(rest.cursors.at(-1) as string).phase, 'delta');
  });

  void it('hands each card to the injected parser and sets rejects aside under their href', async () => {
    const parseCard: CarddavSourceOptions['parseCard'] = async (text, href) =>
      href.endsWith('card-00003.vcf')
        ? { rejected: { position: 'record 1', reason: 'invalid_record', message: 'refused by the test', excerpt: text.slice(0, 20) } }
        : parseBasicCard(text, href);
    const read = await readPages(sourceFor(credentials(server), { parseCard }), 8);
    const rejected = read.pages.flatMap((page) => page.rejected ?? []);
    assert.equal(read.contacts.length, 19);
    assert.deepEqual(
      rejected.map((reject) => [reject.position, reject.reason]),
      [[server.cards[2]?.href, 'invalid_record']],
    );
  });

  void it('fails as ProviderUnavailable, retryable, when the server stops mid-listing', async () => {
    const head = await readPages(sourceFor(credentials(server)), 5, null, 1);
    await server.stop();
    assertGone(server.pid);
    const failure = await failureOf(sourceFor(credentials(server)).fetchPage({ cursor: head.cursors[0] as string, pageSize: 5, signal: SIGNAL }));
    assert.equal(failure.type, FAILURE_TYPES.providerUnavailable);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /ECONNREFUSED/);
  });
});

/** A server answering every request with `respond`, for what Radicale never does. */
async function cannedServer(respond: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const httpServer = http.createServer(respond);
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/dav/book/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        httpServer.closeAllConnections();
        httpServer.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

void describe('CardDAV source failures a canned server provokes', () => {
  const cases: { name: string; respond: http.RequestListener; type: string; nonRetryable: boolean }[] = [
    {
      name: 'a 207 that is not XML is a retryable ProviderBadResponse',
      respond: (_req, res) => res.writeHead(207, { 'Content-Type': 'text/html' }).end('<html><body>Proxy error'),
      type: FAILURE_TYPES.providerBadResponse,
      nonRetryable: false,
    },
    {
      name: 'a 503 is a retryable ProviderUnavailable',
      respond: (_req, res) => res.writeHead(503).end('down for maintenance'),
      type: FAILURE_TYPES.providerUnavailable,
      nonRetryable: false,
    },
    {
      name: 'a 404 for the address book is a non-retryable ProviderInvalidRequest',
      respond: (_req, res) => res.writeHead(404).end(),
      type: FAILURE_TYPES.providerInvalidRequest,
      nonRetryable: true,
    },
    {
      name: 'a server that never answers is a retryable ProviderTooSlow after the deadline',
      respond: () => undefined,
      type: FAILURE_TYPES.providerTooSlow,
      nonRetryable: false,
    },
    {
      name: 'a dropped connection is a retryable ProviderUnavailable',
      respond: (req) => req.socket.destroy(),
      type: FAILURE_TYPES.providerUnavailable,
      nonRetryable: false,
    },
  ];
  for (const { name, respond, type, nonRetryable } of cases) {
    void it(name, async () => {
      const canned = await cannedServer(respond);
      try {
        const json = JSON.stringify({ url: canned.url, username: 'u', password: 'secret-password' });
        const failure = await failureOf(sourceFor(json, { timeoutMs: 300 }).fetchPage({ cursor: null, pageSize: 10, signal: SIGNAL }));
        assert.equal(failure.type, type, failure.message);
        assert.equal(failure.nonRetryable, nonRetryable);
        assert.ok(!failure.message.includes('secret-password'));
      } finally {
        await canned.close();
      }
    });
  }

  void it('refuses credentials that are not {url, username, password} without quoting them', async () => {
    // Refused where a worker opens the source, before any request.
    const failure = await failureOf((async () => openSource('carddav', '{"url":"ftp://x","password":"hunter2"}', SOURCES, OWNER))());
    assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
    assert.ok(!failure.message.includes('hunter2'));
  });

  void it('refuses a cursor it did not issue', async () => {
    const json = JSON.stringify({ url: 'http://127.0.0.1:9/', username: 'u', password: 'p' });
    const failure = await failureOf(sourceFor(json).fetchPage({ cursor: 'people/c12', pageSize: 1, signal: SIGNAL }));
    assert.equal(failure.type, FAILURE_TYPES.invalidImportInput);
    assert.equal(failure.nonRetryable, true);
  });
});
