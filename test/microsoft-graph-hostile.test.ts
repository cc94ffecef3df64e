/**
 * The Microsoft Graph source against a Graph that lies (the tests' look-alike, answering chosen
 * requests in a test's own words): next links without end, listings past every bound, links that
 * lead elsewhere, cursors edited by hand. Each read ends, with the failure that says which.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ContactSource } from '../providers';
import { MAX_LINK_CHARS } from '../providers/microsoft-graph/client';
import { encodeCursor, MAX_ENCODED_BYTES } from '../providers/microsoft-graph/cursor';
import { MAX_FOLDERS, MAX_FOLDER_ID_CHARS, MAX_LISTING_PAGES } from '../providers/microsoft-graph/folders';
import { MAX_PAGES_PER_FOLDER } from '../providers/microsoft-graph/source';
import { SyncTokenExpiredError } from '../providers/types';
import { FAILURE_TYPES } from '../workflows/contract';
import { graphContact, startGraphLookalike, type GraphLookalike } from './support/graph-lookalike';
import { readAll, rejectsWith, sourceAt } from './support/graph-source';
import { uniqueId } from './support/harness';

const isDelta = (path: string) => path.endsWith('/contacts/delta');
const TOP_LISTING = '/v1.0/me/contactFolders';
/** A listing page naming `ids`, leading on to `next` when given. */
const listing = (ids: readonly string[], next?: string) => ({ body: { value: ids.map((id) => ({ id })), ...(next === undefined ? {} : { '@odata.nextLink': next }) } });
const signal = () => new AbortController().signal;
const KIB = MAX_ENCODED_BYTES / 1024;

/** Folder `i`'s id, as long as an id may be. */
const longId = (i: number) => `F${String(i).padStart(3, '0')}${'x'.repeat(MAX_FOLDER_ID_CHARS - 4)}`;
/** A delta link of folder `id` as long as a link may be, below `/v1.0`. */
const longRef = (id: string) => {
  const ref = `/v1.0/me/contactFolders/${id}/contacts/delta?$deltatoken=`;
  return ref.padEnd(MAX_LINK_CHARS - 100, 't');
};

/** A server that counts what reaches it and answers nothing useful: where a tampered link would lead. */
async function strayServer(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('the Microsoft Graph source against a lying Graph', () => {
  let graph: GraphLookalike;
  let mailbox: string;
  let source: ContactSource;

  before(async () => {
    graph = await startGraphLookalike();
  });
  after(() => graph.close());
  beforeEach(async () => {
    graph.hostile = undefined;
    mailbox = uniqueId('mbx');
    graph.addMailbox(mailbox);
    graph.put(mailbox, 'contacts', graphContact('d0', 'Ada', 'Default'));
    graph.resetStats();
    source = await sourceAt(graph.url, `at-${mailbox}`);
  });

  it('refuses a next link to the very page it came with, rather than save that page for ever', async () => {
    graph.hostile = ({ path, url }) => (isDelta(path) ? { body: { value: [graphContact('d0', 'Ada', 'Default')], '@odata.nextLink': url } } : undefined);
    const failure = await rejectsWith(readAll(source), FAILURE_TYPES.providerBadResponse);
    assert.equal(failure.nonRetryable, true, 'the same answer comes again: retrying will not help');
  });

  it(`ends a folder's endless chain of next links at its ${MAX_PAGES_PER_FOLDER}th page`, async () => {
    let link = 0;
    graph.hostile = ({ path }) => (isDelta(path) ? { body: { value: [], '@odata.nextLink': `${graph.url}${path}?$skiptoken=${++link}` } } : undefined);
    // Where a read of the default folder stands after `pages` pages, without making them all.
    const after = (pages: number) =>
      encodeCursor({ folders: ['contacts'], at: 0, next: '/v1.0/me/contactFolders/contacts/contacts/delta?$skiptoken=0', links: {}, pages });
    const last = await source.fetchPage({ cursor: after(MAX_PAGES_PER_FOLDER - 2), pageSize: 4, signal: signal() });
    assert.ok(last.nextCursor, `page ${MAX_PAGES_PER_FOLDER - 1} may still lead on`);
    const failure = await rejectsWith(source.fetchPage({ cursor: last.nextCursor, pageSize: 4, signal: signal() }), FAILURE_TYPES.providerBadResponse);
    assert.equal(failure.nonRetryable, true);
  });

  it('counts the pages of a folder whose next link keeps expiring, so starting it again cannot go on for ever', async () => {
    // Every first request of the folder leads on; every next link answers 410.
    let link = 0;
    graph.hostile = ({ path, query }) => {
      if (!isDelta(path)) return undefined;
      if (query.has('$skiptoken')) return { status: 410, body: { error: { code: 'SyncStateNotFound', message: 'expired' } } };
      return { body: { value: [], '@odata.nextLink': `${graph.url}${path}?$skiptoken=${++link}` } };
    };
    const start = encodeCursor({ folders: ['contacts'], at: 0, next: '/v1.0/me/contactFolders/contacts/contacts/delta?$skiptoken=x', links: {}, pages: MAX_PAGES_PER_FOLDER - 1 });
    const failure = await rejectsWith(source.fetchPage({ cursor: start, pageSize: 4, signal: signal() }), FAILURE_TYPES.providerBadResponse);
    assert.equal(failure.nonRetryable, true);
  });

  it(`refuses to carry a cursor past ${KIB} KiB, however many ids and links each within their bounds make it`, async () => {
    for (let i = 0; i < 60; i++) graph.addFolder(mailbox, longId(i));
    graph.hostile = ({ path }) => (isDelta(path) ? { body: { value: [], '@odata.deltaLink': `${graph.url}${path}?$deltatoken=${'t'.repeat(1200)}` } } : undefined);
    const failure = await rejectsWith(readAll(source), FAILURE_TYPES.providerBadResponse);
    assert.equal(failure.nonRetryable, true);
  });

  it('refuses a cursor edited by hand, asking nothing of Graph or anyone else: another host, a folder past the list, not JSON, too large', async () => {
    const stray = await strayServer();
    try {
      const cursor = { v: 1, folders: ['contacts'], at: 0, next: null, pages: 0, links: {} };
      const huge = { ...cursor, links: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [longId(i), longRef(longId(i))])) };
      assert.ok(JSON.stringify(huge).length > MAX_ENCODED_BYTES);
      const tampered = [
        JSON.stringify({ ...cursor, next: `${stray.url}/v1.0/me/contactFolders/contacts/contacts/delta?$skiptoken=1` }),
        JSON.stringify({ ...cursor, at: 1 }),
        'not a cursor',
        JSON.stringify(huge),
      ];
      for (const text of tampered) {
        const failure = await rejectsWith(source.fetchPage({ cursor: text, pageSize: 4, signal: signal() }), FAILURE_TYPES.invalidImportInput);
        assert.equal(failure.nonRetryable, true, text.slice(0, 80));
      }
      assert.equal(stray.requests(), 0, 'the token went nowhere else');
      assert.equal(graph.stats.requests, 0, 'and nothing was read');
    } finally {
      await stray.close();
    }
  });

  it(`reads everything again for a sync token past ${KIB} KiB, without following any of its links`, async () => {
    const links = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [longId(i), longRef(longId(i))]));
    await assert.rejects(source.fetchPage({ cursor: null, pageSize: 4, signal: signal(), sync: { since: JSON.stringify({ v: 1, links }) } }), SyncTokenExpiredError);
    assert.equal(graph.stats.requests, 0);
  });

  it(`refuses more than ${MAX_FOLDERS} folders on the listing page that names them, without listing further`, async () => {
    let page = 0;
    graph.hostile = ({ path }) => (path === TOP_LISTING ? listing(Array.from({ length: 60 }, () => `f${page}-${Math.random()}`), `${graph.url}${path}?$skiptoken=${++page}`) : undefined);
    await rejectsWith(readAll(source), FAILURE_TYPES.providerInvalidRequest);
    assert.equal(page, 2, 'the second page of 60 folders was the last one asked for');
  });

  it('refuses a listing page naming folders by the hundred thousand as too many, not with a crash', async () => {
    const ids = Array.from({ length: 150_000 }, (_, i) => i.toString(36));
    graph.hostile = ({ path }) => (path === TOP_LISTING ? listing(ids) : undefined);
    await rejectsWith(readAll(source), FAILURE_TYPES.providerInvalidRequest);
  });

  it('reads a folder listed twice once, and counts its contacts once', async () => {
    for (const folder of ['work', 'home', 'team']) {
      graph.addFolder(mailbox, folder);
      graph.put(mailbox, folder, graphContact(`${folder}0`, 'Ada', folder));
    }
    const children: Record<string, string[]> = { [TOP_LISTING]: ['work', 'work', 'home'], [`${TOP_LISTING}/work/childFolders`]: ['team'], [`${TOP_LISTING}/home/childFolders`]: ['team'] };
    graph.hostile = ({ path }) => (isDelta(path) ? undefined : listing(children[path] ?? []));
    const pages = await readAll(source);
    assert.deepEqual(pages.flatMap((page) => page.contacts.map((contact) => contact.externalId)).sort(), ['d0', 'home0', 'team0', 'work0']);
    assert.deepEqual([...graph.stats.served.values()], [1, 1, 1, 1], 'each folder was read once');
  });

  it(`gives up a folder listing after ${MAX_LISTING_PAGES} pages, or at a next link to the page it came with`, async () => {
    let page = 0;
    graph.hostile = ({ path }) => (path === TOP_LISTING ? listing([], `${graph.url}${path}?$skiptoken=${++page}`) : undefined);
    const endless = await rejectsWith(readAll(source), FAILURE_TYPES.providerBadResponse);
    assert.equal(endless.nonRetryable, true);
    assert.equal(page, MAX_LISTING_PAGES);
    graph.hostile = ({ path, url }) => (path === TOP_LISTING ? listing([], url) : undefined);
    const loop = await rejectsWith(readAll(source), FAILURE_TYPES.providerBadResponse);
    assert.equal(loop.nonRetryable, true);
  });

  it('follows no folder listing link that leads away from Graph, and sends the token nowhere else', async () => {
    const stray = await strayServer();
    try {
      graph.hostile = ({ path }) => (path === TOP_LISTING ? listing(['work'], `${stray.url}${TOP_LISTING}?$skiptoken=1`) : undefined);
      const failure = await rejectsWith(readAll(source), FAILURE_TYPES.providerBadResponse);
      assert.equal(failure.nonRetryable, true);
      assert.equal(stray.requests(), 0);
    } finally {
      await stray.close();
    }
  });

  it("puts Graph's error words into the failure without the access token, on one short line", async () => {
    const token = `at-${mailbox}`;
    const message = `The token ${token} is not valid for this request.\n${'Detail. '.repeat(2_000)}`;
    graph.hostile = ({ path }) => (isDelta(path) ? { status: 400, body: { error: { code: 'BadRequest', message } } } : undefined);
    const failure = await rejectsWith(readAll(source), FAILURE_TYPES.providerInvalidRequest);
    assert.equal(failure.nonRetryable, true);
    assert.ok(!failure.message.includes(token), failure.message);
    assert.match(failure.message, /\(400 BadRequest\): The token \[redacted\] is not valid/);
    assert.ok(failure.message.length < 500, `a short message (${failure.message.length} characters)`);
  });
});
