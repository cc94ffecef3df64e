/**
 * Google People sync tokens in the client (`fetchConnectionsPage` with `sync`), against the demo
 * provider over HTTP: a token only on a full read's last page, changes and deletions since it,
 * and an expired token told apart from every other refusal. No Temporal, no store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { fetchConnectionsPage, type FetchPageOptions } from '../providers/google-people/client';
import { SyncTokenExpiredError } from '../providers/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { FAILURE_TYPES } from '../workflows/contract';

const PEOPLE = 25;

/** Every page of one read from the first, as `fetchConnectionsPage` returns them. */
async function readAll(options: Omit<FetchPageOptions, 'pageToken'>) {
  const pages = [];
  let pageToken: string | null = null;
  do {
    const page = await fetchConnectionsPage({ ...options, pageToken });
    pages.push(page);
    pageToken = page.nextPageToken;
  } while (pageToken !== null);
  return pages;
}

describe('Google People sync tokens', () => {
  let provider: DemoProvider;
  const base = () => ({ baseUrl: provider.url, accessToken: 'demo-token', pageSize: 10 });

  before(async () => {
    provider = await startDemoProvider({ contacts: PEOPLE });
  });
  after(() => provider.close());

  it('hands out a token on the last page of a full read that asks for one, and only then', async () => {
    const pages = await readAll({ ...base(), sync: { requestToken: true } });
    assert.equal(pages.length, 3);
    assert.deepEqual(
      pages.map((page) => page.nextSyncToken !== undefined),
      [false, false, true],
    );
    const plain = await readAll(base());
    assert.ok(plain.every((page) => page.nextSyncToken === undefined), 'no token unless asked for');
  });

  it('reads the changes since a token: edited and added people, deleted ones by name only, and a new token', async () => {
    const [, , last] = await readAll({ ...base(), sync: { requestToken: true } });
    const token = last?.nextSyncToken;
    assert.ok(token);
    provider.sync.change({ edit: [3], delete: [4, 5], add: 1 });
    const changes = await readAll({ ...base(), sync: { since: token } });
    assert.equal(changes.length, 1);
    const [page] = changes;
    assert.ok(page);
    assert.deepEqual(
      page.contacts.map((contact) => contact.externalId),
      ['people/c3', `people/c${PEOPLE}`],
    );
    assert.deepEqual(page.deleted, ['people/c4', 'people/c5']);
    assert.equal(page.rejected.length, 0, 'a deleted person is no malformed one');
    assert.ok(page.nextSyncToken && page.nextSyncToken !== token, 'a newer token');
    const none = await readAll({ ...base(), sync: { since: page.nextSyncToken } });
    assert.deepEqual(none[0]?.contacts, []);
    assert.equal(none[0]?.deleted, undefined);
  });

  it('throws SyncTokenExpiredError for an expired token, as 400 EXPIRED_SYNC_TOKEN or 410', async () => {
    const [, , last] = await readAll({ ...base(), sync: { requestToken: true } });
    const token = last?.nextSyncToken;
    assert.ok(token);
    provider.sync.change({ expireSyncTokens: true });
    try {
      for (const status of [400, 410] as const) {
        provider.sync.expiredStatus = status;
        await assert.rejects(fetchConnectionsPage({ ...base(), pageToken: null, sync: { since: token } }), SyncTokenExpiredError);
      }
    } finally {
      provider.sync.expiredStatus = 400;
    }
  });

  it('keeps any other refusal of a request with a token what it was: a non-retryable invalid request', async () => {
    const error: unknown = await fetchConnectionsPage({ ...base(), pageToken: null, sync: { since: 'bm90LWEtdG9rZW4' } }).then(
      () => assert.fail('a token the provider never issued was accepted'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error)}`);
    assert.equal(error.type, FAILURE_TYPES.providerInvalidRequest);
    assert.equal(error.nonRetryable, true);
  });
});
