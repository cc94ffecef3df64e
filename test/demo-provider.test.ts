import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type DemoProvider, startDemoProvider } from '../demo-provider/server';
import { waitFor } from './support/harness';

const FIELDS = 'names,emailAddresses,phoneNumbers,organizations,metadata';

interface GoogleError {
  error: { code: number; message: string; status: string };
}

interface ConnectionsBody {
  connections?: Array<Record<string, unknown> & { resourceName: string; etag: string }>;
  nextPageToken?: string;
  totalPeople: number;
  totalItems: number;
}

void describe('demo provider', () => {
  let provider: DemoProvider;

  /** GET the connections endpoint with the given query (personFields defaulted) and token. */
  async function list(query: Record<string, string> = {}, token: string | null = 'demo-token'): Promise<Response> {
    const params = new URLSearchParams({ personFields: FIELDS, ...query });
    return fetch(`${provider.url}/v1/people/me/connections?${params.toString()}`, {
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    });
  }

  async function expectError(response: Response, code: number, status: string): Promise<GoogleError> {
    assert.equal(response.status, code);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await response.json()) as GoogleError;
    assert.equal(body.error.code, code);
    assert.equal(body.error.status, status);
    return body;
  }

  before(async () => {
    provider = await startDemoProvider({ contacts: 2345 });
  });

  after(async () => {
    await provider.close();
  });

  beforeEach(() => {
    provider.configure({ contacts: 2345, faults: {} });
    provider.resetStats();
  });

  void it('listens on a loopback URL', () => {
    assert.match(provider.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  void it('serves 100 contacts by default and links to the next page', async () => {
    const response = await list();
    assert.equal(response.status, 200);
    const body = (await response.json()) as ConnectionsBody;
    assert.equal(body.connections?.length, 100);
    assert.equal(body.connections?.[0]?.resourceName, 'people/c0');
    assert.equal(body.connections?.[99]?.resourceName, 'people/c99');
    assert.equal(body.totalPeople, 2345);
    assert.equal(body.totalItems, 2345);
    assert.equal(typeof body.nextPageToken, 'string');

    const second = (await (await list({ pageToken: body.nextPageToken ?? '' })).json()) as ConnectionsBody;
    assert.equal(second.connections?.[0]?.resourceName, 'people/c100');
  });

  void it('omits nextPageToken on the last page', async () => {
    const first = (await (await list({ pageSize: '1000' })).json()) as ConnectionsBody;
    const second = (await (await list({ pageSize: '1000', pageToken: first.nextPageToken ?? '' })).json()) as ConnectionsBody;
    const third = (await (await list({ pageSize: '1000', pageToken: second.nextPageToken ?? '' })).json()) as ConnectionsBody;
    assert.equal(third.connections?.length, 345);
    assert.equal(third.connections?.at(-1)?.resourceName, 'people/c2344');
    assert.ok(!('nextPageToken' in third), 'the last page must not carry a nextPageToken');
    assert.equal(provider.stats.pagesServed, 3);
    assert.equal(provider.stats.contactsServed, 2345);
  });

  void it('omits connections when the user has none', async () => {
    provider.configure({ contacts: 0 });
    const body = (await (await list()).json()) as ConnectionsBody;
    assert.deepEqual(body, { totalPeople: 0, totalItems: 0 });
  });

  void it('generates the same people whatever the token', async () => {
    const a = await (await list({ pageSize: '50' }, 'token-a')).text();
    const b = await (await list({ pageSize: '50' }, 'token-b')).text();
    assert.equal(a, b);
    const people = (JSON.parse(a) as ConnectionsBody).connections ?? [];
    assert.equal(new Set(people.map((p) => p.etag)).size, 50, 'etags must differ between people');
  });

  void it('returns only the fields the mask asks for', async () => {
    const body = (await (await list({ personFields: 'names', pageSize: '1' })).json()) as ConnectionsBody;
    assert.deepEqual(Object.keys(body.connections?.[0] ?? {}).sort(), ['etag', 'names', 'resourceName']);
  });

  void it('leaves out phone or organization for some contacts', async () => {
    const body = (await (await list({ pageSize: '10' })).json()) as ConnectionsBody;
    const people = body.connections ?? [];
    assert.ok(!('organizations' in (people[2] ?? {})), 'contact 2 should have no organization');
    assert.ok(!('phoneNumbers' in (people[3] ?? {})), 'contact 3 should have no phone');
    assert.ok('phoneNumbers' in (people[0] ?? {}) && 'organizations' in (people[0] ?? {}));
  });

  void it('answers 401 UNAUTHENTICATED without a bearer token', async () => {
    await expectError(await list({}, null), 401, 'UNAUTHENTICATED');
    await expectError(await list({}, ''), 401, 'UNAUTHENTICATED');
  });

  void it('answers 401 UNAUTHENTICATED for a revoked token and serves other tokens', async () => {
    provider.configure({ faults: { revokedTokens: ['revoked'] } });
    const body = await expectError(await list({}, 'revoked'), 401, 'UNAUTHENTICATED');
    assert.match(body.error.message, /^Request had invalid authentication credentials/);
    assert.equal((await list({}, 'fine')).status, 200);
  });

  void it('answers 400 INVALID_ARGUMENT when personFields is missing or names an unknown field', async () => {
    const response = await fetch(`${provider.url}/v1/people/me/connections`, { headers: { Authorization: 'Bearer t' } });
    const body = await expectError(response, 400, 'INVALID_ARGUMENT');
    assert.match(body.error.message, /personFields mask is required/);
    const unknown = await expectError(await list({ personFields: 'names,shoeSize' }), 400, 'INVALID_ARGUMENT');
    assert.match(unknown.error.message, /"shoeSize"/);
  });

  void it('answers 400 INVALID_ARGUMENT for a pageSize outside 1..1000', async () => {
    for (const pageSize of ['1001', '-1', 'abc', '1.5']) {
      const body = await expectError(await list({ pageSize }), 400, 'INVALID_ARGUMENT');
      assert.match(body.error.message, /pageSize/, `pageSize=${pageSize}`);
    }
    const max = (await (await list({ pageSize: '1000' })).json()) as ConnectionsBody;
    assert.equal(max.connections?.length, 1000);
  });

  void it('answers 400 INVALID_ARGUMENT for a page token it did not issue', async () => {
    for (const pageToken of ['garbage!', 'bm90LWFuLW9mZnNldA', Buffer.from('offset:0100').toString('base64url')]) {
      await expectError(await list({ pageToken }), 400, 'INVALID_ARGUMENT');
    }
  });

  void it('answers 404 NOT_FOUND in Google JSON for unknown paths', async () => {
    await expectError(await fetch(`${provider.url}/v1/people/me`), 404, 'NOT_FOUND');
  });

  void it('plays a fault script in order, then serves normally', async () => {
    provider.configure({ faults: { script: ['429', 'quota', '500', 'drop', '503'], retryAfterSeconds: 7 } });

    const throttled = await list();
    assert.match((await expectError(throttled, 429, 'RESOURCE_EXHAUSTED')).error.message, /per user'/, 'a 429 names the user’s quota');
    assert.equal(throttled.headers.get('retry-after'), '7');
    const overQuota = await list();
    assert.doesNotMatch((await expectError(overQuota, 429, 'RESOURCE_EXHAUSTED')).error.message, /per user/, 'a quota fault names the project’s');
    assert.equal(overQuota.headers.get('retry-after'), '7');
    await expectError(await list(), 500, 'INTERNAL');
    await assert.rejects(list(), TypeError, 'a dropped connection makes fetch fail');
    const unavailable = await list();
    await expectError(unavailable, 503, 'UNAVAILABLE');
    assert.equal(unavailable.headers.get('retry-after'), '7');
    assert.equal((await list()).status, 200);

    assert.equal(provider.stats.requests, 6);
    assert.equal(provider.stats.faultsInjected, 5);
    assert.equal(provider.stats.refusedAt.length, 2, 'both 429s are recorded as refusals');
    assert.equal(provider.stats.pagesServed, 1);
  });

  void it('enforces an app-wide quota when asked: a 429 naming the project’s quota, with Retry-After, counted', async () => {
    provider.configure({ faults: { appQuota: '5/s' } });
    const answers = await Promise.all(Array.from({ length: 8 }, () => list({ pageSize: '1' })));
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 200, 200, 200, 200, 429, 429, 429], 'one second’s worth passes at once');
    const refused = answers.find((answer) => answer.status === 429) as Response;
    const body = await expectError(refused, 429, 'RESOURCE_EXHAUSTED');
    assert.match(body.error.message, /per minute'/, 'it names the project’s per-minute quota');
    assert.doesNotMatch(body.error.message, /per user/, 'not a user’s');
    assert.equal(refused.headers.get('retry-after'), '1', 'the next request would pass within a second');
    assert.equal(provider.stats.quotaRefusals, 3);
    assert.equal(provider.stats.refusedAt.length, 3);
    assert.equal(provider.stats.arrivals.length, 8);
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.equal((await list({ pageSize: '1' })).status, 200, 'the bucket refills at 5 a second');
    provider.configure({ faults: {} });
    assert.equal((await Promise.all(Array.from({ length: 8 }, () => list({ pageSize: '1' })))).filter((answer) => answer.status !== 200).length, 0);
  });

  void it('refuses a quota that is not a rate', () => {
    assert.throws(() => provider.configure({ faults: { appQuota: '4' } }), /appQuota must be a rate such as 20\/s/);
    assert.throws(() => provider.configure({ faults: { appQuota: 'lots' } }), /faults\.appQuota must be a rate/);
  });

  void it('fails every Nth request', async () => {
    provider.configure({ faults: { every: { every: 3, kind: '500' } } });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const response = await list();
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    assert.deepEqual(statuses, [200, 200, 500, 200, 200, 500, 200]);
    assert.equal(provider.stats.faultsInjected, 2);
  });

  void it('counts how many times each page was served, to expose double fetches', async () => {
    const first = (await (await list({ pageSize: '1000' })).json()) as ConnectionsBody;
    await (await list({ pageSize: '1000', pageToken: first.nextPageToken ?? '' })).arrayBuffer();
    await (await list({ pageSize: '1000', pageToken: first.nextPageToken ?? '' })).arrayBuffer();
    assert.deepEqual(Object.fromEntries(provider.stats.pageTokensServed), { '0': 1, '1000': 2 });
    provider.resetStats();
    assert.deepEqual(provider.stats, {
      requests: 0,
      pagesServed: 0,
      contactsServed: 0,
      faultsInjected: 0,
      quotaRefusals: 0,
      arrivals: [],
      refusedAt: [],
      pageTokensServed: new Map(),
    });
  });

  void it('delays pages by slowMs', async () => {
    provider.configure({ faults: { slowMs: 200 } });
    const started = performance.now();
    const response = await list({ pageSize: '1' });
    await response.arrayBuffer();
    assert.equal(response.status, 200);
    assert.ok(performance.now() - started >= 190, 'the page came back faster than slowMs');
  });

  void it('holds pages from holdFromOffset on until the faults change, serving the pages before it', async () => {
    provider.configure({ faults: { holdFromOffset: 1000 } });
    const first = await list({ pageSize: '1000' });
    assert.equal(first.status, 200, 'a page before the offset is served at once');
    const { nextPageToken } = (await first.json()) as ConnectionsBody;
    let settled = false;
    const held = list({ pageSize: '1000', pageToken: nextPageToken ?? '' }).finally(() => {
      settled = true;
    });
    try {
      await waitFor(() => provider.stats.requests === 2, 'the request for the page at the offset to arrive');
      assert.equal(provider.stats.pagesServed, 1, 'the page at the offset was served while held');
      assert.equal(settled, false, 'the page at the offset was answered while held');
    } finally {
      // Lifted however the assertions went, so the request never outlives the test.
      provider.configure({ faults: {} });
    }
    const released = await held;
    assert.equal(released.status, 200);
    const body = (await released.json()) as ConnectionsBody;
    assert.equal(body.connections?.[0]?.resourceName, 'people/c1000', 'the held request gets the page it asked for');
    assert.equal(provider.stats.pagesServed, 2);
  });

  void it('rejects impossible configuration with a message saying what is wrong', () => {
    assert.throws(() => provider.configure({ contacts: -1 }), /contacts must be a whole number, 0 or more \(got -1\)/);
    assert.throws(() => provider.configure({ faults: { every: { every: 0, kind: '500' } } }), /faults\.every\.every must be a positive integer/);
    assert.throws(() => provider.configure({ faults: { holdFromOffset: -1 } }), /faults\.holdFromOffset must be a whole number, 0 or more \(got -1\)/);
  });

  void it('closes promptly while a keep-alive connection is open', { timeout: 5000 }, async () => {
    const own = await startDemoProvider({ contacts: 5 });
    let closed = false;
    try {
      const response = await fetch(`${own.url}/v1/people/me/connections?personFields=names`, { headers: { Authorization: 'Bearer t' } });
      await response.arrayBuffer();
      assert.equal(response.headers.get('connection'), 'keep-alive');
      const started = performance.now();
      await own.close();
      closed = true;
      assert.ok(performance.now() - started < 1000, 'close() waited for the idle keep-alive connection');
    } finally {
      if (!closed) await own.close();
    }
  });
});
