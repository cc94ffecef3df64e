/**
 * The demo provider's Microsoft Graph side (`demo-provider/graph.ts`), read by the service's own
 * Microsoft Graph source, as `npm start` reads it: the same people as its People API in three
 * folders, delta links, `@removed` after changes, `410` for expired links, faults in Graph's error
 * envelope, and Microsoft's token endpoint path. No Temporal, no store.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { DEMO_MICROSOFT_TOKEN_PATH, folderOfPerson } from '../demo-provider/graph';
import { DEMO_OAUTH_CLIENT } from '../demo-provider/oauth';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { openSource, readProviderSettings, type ContactSource, type SourcePage, type SyncRequest } from '../providers';
import { SyncTokenExpiredError } from '../providers/types';
import { FAILURE_TYPES } from '../workflows/contract';

const PEOPLE = 30;

describe("the demo provider's Microsoft Graph side", () => {
  let provider: DemoProvider;
  let source: ContactSource;

  before(async () => {
    provider = await startDemoProvider({ contacts: PEOPLE });
    const providers = readProviderSettings({ MICROSOFT_GRAPH_BASE_URL: provider.url });
    source = await openSource('microsoft-graph', JSON.stringify({ accessToken: 'demo-token', refreshToken: null }), { providers }, { tenant: 'default', userId: 'demo' });
  });
  beforeEach(() => provider.configure({ faults: {} }));
  after(() => provider.close());

  async function readAll(sync?: SyncRequest): Promise<SourcePage[]> {
    const pages: SourcePage[] = [];
    let cursor: string | null = null;
    do {
      const page = await source.fetchPage({ cursor, pageSize: 4, signal: new AbortController().signal, sync });
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return pages;
  }
  const idsOf = (pages: SourcePage[]) => pages.flatMap((page) => page.contacts.map((contact) => contact.externalId));
  const demoId = (i: number) => `AAMkAGdemo${i}AAA=`;

  it('serves its people in the default folder, a folder in it and a child folder, each once, pages of what the client prefers', async () => {
    provider.resetStats();
    const pages = await readAll({ requestToken: true });
    const ids = idsOf(pages);
    assert.equal(ids.length, PEOPLE);
    assert.equal(new Set(ids).size, PEOPLE);
    assert.deepEqual(ids.slice(0, 3), [demoId(0), demoId(1), demoId(4)], 'the default folder comes first');
    assert.deepEqual(new Set(Array.from({ length: PEOPLE }, (_, i) => folderOfPerson(i))), new Set([0, 1, 2]));
    assert.ok(pages.every((page) => page.contacts.length <= 4));
    const ada = pages.flatMap((page) => page.contacts).find((contact) => contact.externalId === demoId(0));
    assert.equal(ada?.displayName, 'Ada Lovelace 0');
    assert.equal(ada?.email, 'ada.lovelace.0@example.com');
    assert.ok(pages.at(-1)?.syncToken, 'the last page brings the delta links');
    assert.equal(provider.stats.contactsServed, PEOPLE);
  });

  it('lists the changes since its delta links: edited and added people, and deleted ones as @removed', async () => {
    const token = (await readAll({ requestToken: true })).at(-1)?.syncToken;
    assert.ok(token);
    const { contacts } = provider.sync.change({ edit: [2], delete: [5, 7], add: 2 });
    const changes = await readAll({ since: token });
    assert.deepEqual(idsOf(changes).sort(), [demoId(2), demoId(contacts - 2), demoId(contacts - 1)].sort());
    assert.deepEqual(changes.flatMap((page) => page.deleted ?? []).sort(), [demoId(5), demoId(7)].sort());
    assert.match(changes.flatMap((page) => page.contacts).find((c) => c.externalId === demoId(2))?.displayName ?? '', /\(edited 1\)$/);
  });

  it('answers an expired delta link 410 SyncStateNotFound, which the source reads as an expired token', async () => {
    const token = (await readAll({ requestToken: true })).at(-1)?.syncToken;
    assert.ok(token);
    provider.sync.change({ expireSyncTokens: true });
    await assert.rejects(readAll({ since: token }), SyncTokenExpiredError);
  });

  it("plays faults in Graph's envelope: a 429 with Retry-After, and a 401 for a revoked token", async () => {
    provider.configure({ faults: { script: ['429'], retryAfterSeconds: 2 } });
    const throttled: unknown = await readAll().catch((error: unknown) => error);
    assert.ok(throttled instanceof ApplicationFailure);
    assert.equal(throttled.type, FAILURE_TYPES.providerThrottled);
    assert.equal(throttled.nextRetryDelay, 2000);
    assert.match(throttled.message, /TooManyRequests/);
    provider.configure({ faults: { revokedTokens: ['demo-token'] } });
    const refused: unknown = await readAll().catch((error: unknown) => error);
    assert.ok(refused instanceof ApplicationFailure);
    assert.equal(refused.type, FAILURE_TYPES.providerUnauthenticated);
    assert.match(refused.message, /InvalidAuthenticationToken/);
  });

  it("issues access tokens at Microsoft's token endpoint path that its Graph side accepts", async () => {
    const res = await fetch(`${provider.url}${DEMO_MICROSOFT_TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'M.demo', client_id: DEMO_OAUTH_CLIENT.clientId, client_secret: DEMO_OAUTH_CLIENT.clientSecret }),
    });
    assert.equal(res.status, 200);
    const { access_token: accessToken } = (await res.json()) as { access_token: string };
    const folders = await fetch(`${provider.url}/v1.0/me/contactFolders`, { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal(folders.status, 200);
    assert.deepEqual(((await folders.json()) as { value: Array<{ displayName: string }> }).value.map((folder) => folder.displayName), ['Work']);
  });
});
