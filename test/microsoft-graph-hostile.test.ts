/**
 * The Microsoft Graph source against a Graph that lies (the tests' look-alike, answering chosen
 * requests in a test's own words): next links without end, listings past every bound, links that
 * lead elsewhere, cursors edited by hand. Each read ends, with the failure that says which.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ContactSource } from '../providers';
import { encodeCursor } from '../providers/microsoft-graph/cursor';
import { MAX_PAGES_PER_FOLDER } from '../providers/microsoft-graph/source';
import { FAILURE_TYPES } from '../workflows/contract';
import { graphContact, startGraphLookalike, type GraphLookalike } from './support/graph-lookalike';
import { readAll, rejectsWith, sourceAt } from './support/graph-source';
import { uniqueId } from './support/harness';

const isDelta = (path: string) => path.endsWith('/contacts/delta');
const signal = () => new AbortController().signal;

describe('the Microsoft Graph source against a lying Graph', () => {
  let graph: GraphLookalike;
  let mailbox: string;
  let source: ContactSource;

  before(async () => {
    graph = await startGraphLookalike();
  });
  after(() => graph.close());
  beforeEach(() => {
    graph.hostile = undefined;
    mailbox = uniqueId('mbx');
    graph.addMailbox(mailbox);
    graph.put(mailbox, 'contacts', graphContact('d0', 'Ada', 'Default'));
    graph.resetStats();
    source = sourceAt(graph.url, `at-${mailbox}`);
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
});
