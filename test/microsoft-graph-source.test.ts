/**
 * The Microsoft Graph source on its own (`providers/microsoft-graph`), against the tests' Graph
 * look-alike over HTTP: folders and paging, the fields it asks for and how it maps them, delta links
 * as sync tokens, what it does with expired links and vanished folders, how it classifies Graph's
 * refusals, and the mailbox's concurrency budget (the one test with a governor, over SQLite). No
 * Temporal.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GOVERNOR_DEFAULTS } from '../config/defaults';
import { ConfigError } from '../config/parse';
import type { Store } from '../db/types';
import { readProviderSettings, type ContactSource, type SourcePage } from '../providers';
import { createRequestGovernor } from '../providers/kit/governor';
import { DEFAULT_MICROSOFT_GRAPH_BASE_URL, DEFAULT_MICROSOFT_TOKEN_URL } from '../providers/microsoft-graph/settings';
import { MAILBOX_CONCURRENCY } from '../providers/microsoft-graph/budgets';
import { SyncTokenExpiredError } from '../providers/types';
import { FAILURE_TYPES } from '../workflows/contract';
import { graphContact, startGraphLookalike, type GraphLookalike } from './support/graph-lookalike';
import { readAll, rejectsWith, sourceAt } from './support/graph-source';
import { storeCases, uniqueId } from './support/harness';

const ids = (pages: SourcePage[]) => pages.flatMap((page) => page.contacts.map((contact) => contact.externalId)).sort();
const deleted = (pages: SourcePage[]) => pages.flatMap((page) => page.deleted ?? []).sort();
const tokenOf = (pages: SourcePage[]) => pages.at(-1)?.syncToken;

describe('the Microsoft Graph settings', () => {
  it('read MICROSOFT_GRAPH_BASE_URL, the OAuth client, MICROSOFT_AUTH_URL and the budgets, with Graph, the common v2.0 endpoints and Graph\'s published limits as defaults', () => {
    assert.deepEqual(readProviderSettings({})['microsoft-graph'], {
      baseUrl: DEFAULT_MICROSOFT_GRAPH_BASE_URL,
      oauth: { clientId: undefined, clientSecret: undefined, tokenUrl: DEFAULT_MICROSOFT_TOKEN_URL },
      budgets: {
        mailbox: { rate: { count: 10_000, perMs: 600_000 }, concurrency: 4 },
        app: { rate: { count: 130_000, perMs: 10_000 }, concurrency: null },
      },
      connectUrls: { authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize', revocationUrl: null },
    });
    const env = {
      MICROSOFT_GRAPH_BASE_URL: 'http://127.0.0.1:8090/',
      MICROSOFT_CLIENT_ID: 'id',
      MICROSOFT_CLIENT_SECRET: 'secret',
      MICROSOFT_TOKEN_URL: 'http://127.0.0.1:8090/t',
      MICROSOFT_AUTH_URL: 'http://127.0.0.1:8090/authorize',
      // Microsoft offers no revocation of refresh tokens: a revocation URL is not read.
      MICROSOFT_REVOKE_URL: 'http://127.0.0.1:8090/revoke',
    };
    assert.deepEqual(readProviderSettings(env)['microsoft-graph'], {
      baseUrl: 'http://127.0.0.1:8090',
      oauth: { clientId: 'id', clientSecret: 'secret', tokenUrl: 'http://127.0.0.1:8090/t' },
      // Not Graph itself: the rates are learned, the mailbox's concurrency holds.
      budgets: { mailbox: { rate: 'learn', concurrency: 4 }, app: { rate: 'learn', concurrency: null } },
      connectUrls: { authorizationUrl: 'http://127.0.0.1:8090/authorize', revocationUrl: null },
    });
    const set = readProviderSettings({ MICROSOFT_GRAPH_MAILBOX_RATE: '600/min', MICROSOFT_GRAPH_MAILBOX_CONCURRENCY: '2', MICROSOFT_GRAPH_APP_RATE: 'off' })['microsoft-graph'];
    assert.deepEqual(set.budgets, { mailbox: { rate: { count: 600, perMs: 60_000 }, concurrency: 2 }, app: { rate: null, concurrency: null } });
  });

  it('refuse a budget that does not parse, naming its variable', () => {
    assert.throws(() => readProviderSettings({ MICROSOFT_GRAPH_MAILBOX_CONCURRENCY: 'four' }), (err: unknown) => err instanceof ConfigError && /MICROSOFT_GRAPH_MAILBOX_CONCURRENCY/.test(err.message));
    assert.throws(() => readProviderSettings({ MICROSOFT_GRAPH_MAILBOX_RATE: '10000/fortnight' }), (err: unknown) => err instanceof ConfigError && /MICROSOFT_GRAPH_MAILBOX_RATE/.test(err.message));
  });

  it('refuse a client id without its secret and a base URL that is not http(s)', () => {
    assert.throws(() => readProviderSettings({ MICROSOFT_CLIENT_ID: 'id' }), (err: unknown) => err instanceof ConfigError && /MICROSOFT_CLIENT_SECRET/.test(err.message));
    assert.throws(
      () => readProviderSettings({ MICROSOFT_GRAPH_BASE_URL: 'ftp://graph.example.com' }),
      (err: unknown) => err instanceof ConfigError && /MICROSOFT_GRAPH_BASE_URL must be an http/.test(err.message),
    );
  });

  it('take the base URL with or without a trailing slash or the version path, as the one form requests are built on', () => {
    const baseUrl = (value: string) => readProviderSettings({ MICROSOFT_GRAPH_BASE_URL: value })['microsoft-graph'].baseUrl;
    for (const value of ['https://graph.microsoft.com', 'https://graph.microsoft.com/', 'https://graph.microsoft.com/v1.0', 'https://graph.microsoft.com/v1.0/', 'https://graph.microsoft.com/V1.0//']) {
      assert.equal(baseUrl(value), 'https://graph.microsoft.com', value);
    }
    assert.equal(baseUrl('http://127.0.0.1:8090/graph/v1.0/'), 'http://127.0.0.1:8090/graph', 'a path prefix (a proxy) stays');
  });
});

describe('the Microsoft Graph source', () => {
  let graph: GraphLookalike;
  let mailbox: string;
  let source: ContactSource;

  before(async () => {
    graph = await startGraphLookalike();
  });
  after(() => graph.close());
  beforeEach(async () => {
    mailbox = uniqueId('mbx');
    graph.addMailbox(mailbox);
    graph.addFolder(mailbox, 'work');
    graph.addFolder(mailbox, 'team', 'work');
    for (let i = 0; i < 6; i++) graph.put(mailbox, 'contacts', graphContact(`d${i}`, 'Ada', `Default${i}`));
    for (let i = 0; i < 5; i++) graph.put(mailbox, 'work', graphContact(`w${i}`, 'Alan', `Work${i}`));
    graph.put(mailbox, 'team', graphContact('t0', 'Grace', 'Team'));
    graph.faults = [];
    graph.resetStats();
    source = await sourceAt(graph.url, `at-${mailbox}`);
  });

  it('reads the same at a base URL given with the version path and a trailing slash', async () => {
    const pages = await readAll(await sourceAt(`${graph.url}/v1.0/`, `at-${mailbox}`));
    assert.deepEqual(ids(pages), ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 't0', 'w0', 'w1', 'w2', 'w3', 'w4']);
  });

  it('reads every folder, a page per request, asking for the fields it stores, and hands a token back on the last page only', async () => {
    const pages = await readAll(source, { requestToken: true });
    assert.deepEqual(ids(pages), ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 't0', 'w0', 'w1', 'w2', 'w3', 'w4']);
    assert.ok([...graph.stats.served.values()].every((times) => times === 1), 'each contact served once');
    assert.deepEqual(pages.map((page) => page.syncToken !== undefined), [...pages.slice(1).map(() => false), true]);
    for (const { prefer } of graph.stats.deltaRequests) assert.equal(prefer, 'odata.maxpagesize=4');
    const first = graph.stats.deltaRequests[0]?.query ?? '';
    assert.match(first, /\$select=displayName,givenName,surname,emailAddresses,mobilePhone,businessPhones,homePhones,companyName,changeKey/);
    const plain = await readAll(await sourceAt(graph.url, `at-${mailbox}`));
    assert.equal(tokenOf(plain), undefined, 'no token unless asked for');
  });

  it('maps and normalises a contact like every source: name parts, first email, mobile before business and home phones', async () => {
    graph.put(mailbox, 'work', { id: 'n1', changeKey: 'v1', displayName: null, givenName: 'Zoë', surname: 'Ångström', emailAddresses: [{ address: '' }, { name: 'Z', address: ' zoe@Example.ORG ' }], mobilePhone: null, businessPhones: [], homePhones: ['(202) 555-0143'], companyName: ' Acme ' });
    const contact = (await readAll(source)).flatMap((page) => page.contacts).find((c) => c.externalId === 'n1');
    assert.deepEqual(
      { ...contact, raw: undefined },
      { externalId: 'n1', etag: 'v1', displayName: 'Zoë Ångström', email: 'zoe@example.org', phone: '(202) 555-0143', phoneE164: '+12025550143', organization: 'Acme', raw: undefined },
    );
    assert.equal((contact?.raw as { id?: string }).id, 'n1', 'raw is the contact as received');
  });

  it('reads the changes since its token: edits and additions, @removed entries as deletions, a new folder from its start', async () => {
    const token = tokenOf(await readAll(source, { requestToken: true }));
    assert.ok(token);
    graph.put(mailbox, 'contacts', graphContact('d1', 'Ada', 'Default1', 1));
    graph.remove(mailbox, 'work', 'w2');
    graph.remove(mailbox, 'team', 't0');
    graph.addFolder(mailbox, 'fresh');
    graph.put(mailbox, 'fresh', graphContact('f0', 'Hedy', 'Fresh'));
    graph.resetStats();
    const changes = await readAll(source, { since: token });
    assert.deepEqual(ids(changes), ['d1', 'f0']);
    assert.deepEqual(deleted(changes), ['t0', 'w2']);
    const next = tokenOf(changes);
    assert.ok(next && next !== token);
    const nothing = await readAll(source, { since: next });
    assert.deepEqual([ids(nothing), deleted(nothing)], [[], []]);
  });

  it('gives up a token it cannot follow: an expired delta link (410 SyncStateNotFound), a folder gone, a token not its own', async () => {
    const token = tokenOf(await readAll(source, { requestToken: true }));
    assert.ok(token);
    graph.expire(mailbox, 'work');
    await assert.rejects(readAll(source, { since: token }), SyncTokenExpiredError);
    const fresh = tokenOf(await readAll(source, { requestToken: true }));
    assert.ok(fresh);
    graph.removeFolder(mailbox, 'team');
    await assert.rejects(readAll(source, { since: fresh }), SyncTokenExpiredError);
    await assert.rejects(readAll(source, { since: 'bm90LW91cnM' }), SyncTokenExpiredError);
  });

  it('passes over a folder deleted during a full read, and starts a folder again whose next link expired', async () => {
    const first = await source.fetchPage({ cursor: null, pageSize: 4, signal: new AbortController().signal });
    graph.expire(mailbox, 'contacts');
    graph.removeFolder(mailbox, 'team');
    let cursor = first.nextCursor;
    const rest: SourcePage[] = [];
    while (cursor !== null) {
      const page = await source.fetchPage({ cursor, pageSize: 4, signal: new AbortController().signal });
      rest.push(page);
      cursor = page.nextCursor;
    }
    assert.deepEqual([...new Set(ids([first, ...rest]))], ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'w0', 'w1', 'w2', 'w3', 'w4'], 'the team folder is passed over');
    assert.equal(graph.stats.served.get('d0'), 2, 'the default folder was read again from its start');
  });

  it("sets aside contacts that are not Graph's shape, by id when they have one, and reads the rest of the page", async () => {
    graph.put(mailbox, 'work', { id: 'bad1', emailAddresses: 'ada@example.com' });
    graph.put(mailbox, 'work', { id: 'bad2', businessPhones: [42] });
    const pages = await readAll(source);
    const rejected = pages.flatMap((page) => page.rejected ?? []);
    assert.deepEqual(
      rejected.map((reject) => [reject.position, reject.reason]),
      [['bad1', 'invalid_record'], ['bad2', 'invalid_record']],
    );
    assert.match(rejected[0]?.message ?? '', /emailAddresses: expected an array, got string/);
    assert.equal(ids(pages).length, 12);
  });

  it("classifies Graph's refusals: 429 and 503 retry after Retry-After, 401 fails for good", async () => {
    graph.faults = ['429'];
    const throttled = await rejectsWith(readAll(source), FAILURE_TYPES.providerThrottled);
    assert.equal(throttled.nextRetryDelay, 1000);
    graph.faults = ['503'];
    const unavailable = await rejectsWith(readAll(source), FAILURE_TYPES.providerUnavailable);
    assert.equal(unavailable.nextRetryDelay, 1000);
    graph.revoked.add(`at-${mailbox}`);
    const refused = await rejectsWith(readAll(source), FAILURE_TYPES.providerUnauthenticated);
    assert.equal(refused.nonRetryable, true);
    assert.doesNotMatch(refused.message, new RegExp(`at-${mailbox}`), 'the token is not echoed');
  });

  it('never has more than 4 requests of one mailbox in flight, across two batches in two workers listing many folders at once', async () => {
    for (let i = 0; i < 12; i++) {
      graph.addFolder(mailbox, `top${i}`);
      graph.addFolder(mailbox, `child${i}`, `top${i}`);
    }
    const sqlite = storeCases()[0]!;
    const stores: Store[] = [await sqlite.open(), await sqlite.open()];
    graph.delayMs = 30;
    try {
      // Two governors on two connections stand for two workers; each reads the mailbox in a batch of its own.
      const [a, b] = await Promise.all(stores.map((store) => sourceAt(graph.url, `at-${mailbox}`, createRequestGovernor({ state: store.budgets, ...GOVERNOR_DEFAULTS }))));
      const [first, second] = await Promise.all([readAll(a as ContactSource), readAll(b as ContactSource)]);
      assert.equal(ids(first).length, 12);
      assert.equal(ids(second).length, 12);
    } finally {
      graph.delayMs = 5;
      for (const store of stores) await store.close();
    }
    assert.equal(graph.maxInFlight(mailbox), MAILBOX_CONCURRENCY, 'the listings of both overlapped, up to the budget and no further');
  });

  it('follows no link that leads away from Graph, and sends the token nowhere else', async () => {
    let strayRequests = 0;
    const stray = http.createServer((req, res) => {
      strayRequests += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":[]}');
    });
    await new Promise<void>((resolve) => stray.listen(0, '127.0.0.1', resolve));
    const elsewhere = `http://127.0.0.1:${(stray.address() as AddressInfo).port}`;
    const lying = http.createServer((req, res) => {
      const body = req.url?.includes('/contacts/delta')
        ? { value: [], '@odata.nextLink': `${elsewhere}/v1.0/me/contactFolders/contacts/contacts/delta?$skiptoken=x` }
        : { value: [] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => lying.listen(0, '127.0.0.1', resolve));
    try {
      const failure = await rejectsWith(readAll(await sourceAt(`http://127.0.0.1:${(lying.address() as AddressInfo).port}`, 'secret')), FAILURE_TYPES.providerBadResponse);
      assert.equal(failure.nonRetryable, true);
      assert.equal(strayRequests, 0);
    } finally {
      lying.closeAllConnections();
      stray.closeAllConnections();
      await Promise.all([new Promise((resolve) => lying.close(resolve)), new Promise((resolve) => stray.close(resolve))]);
    }
  });
});
