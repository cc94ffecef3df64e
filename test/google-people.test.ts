import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { type ConnectionsPage, type FetchPageOptions, fetchConnectionsPage } from '../providers/google-people/client';
import { type Person, personProblem, readPeople, toContactRecord } from '../providers/google-people/person';
import { parseRetryAfter } from '../providers/kit/retry-after';
import { type DemoProvider, startDemoProvider } from '../demo-provider/server';
// The contract's names, not the module's own: the workflow's retry policy reads these.
import { FAILURE_TYPES } from '../workflows/contract';
import { failureOf } from './support/failures';

const TOKEN = 'ya29.test-token-that-must-never-leak';

/** A throwaway server answering every request with one canned response, for shapes the demo never sends. */
async function cannedServer(status: number, body: string, headers: Record<string, string> = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

void describe('fetchConnectionsPage against the demo provider', () => {
  let provider: DemoProvider;
  let page: (overrides?: Partial<FetchPageOptions>) => Promise<ConnectionsPage>;

  before(async () => {
    provider = await startDemoProvider({ contacts: 2345 });
    page = (overrides = {}) =>
      fetchConnectionsPage({ baseUrl: provider.url, accessToken: TOKEN, pageSize: 1000, pageToken: null, ...overrides });
  });

  after(async () => {
    await provider.close();
  });

  beforeEach(() => {
    provider.configure({ contacts: 2345, faults: {} });
    provider.resetStats();
  });

  void it('pages through 2,345 contacts in exactly 3 pages of 1000', async () => {
    const ids = new Set<string>();
    const sizes: number[] = [];
    const totals: Array<number | null> = [];
    let token: string | null = null;
    do {
      const result: ConnectionsPage = await page({ pageToken: token });
      sizes.push(result.contacts.length);
      totals.push(result.totalPeople);
      for (const contact of result.contacts) ids.add(contact.externalId);
      token = result.nextPageToken;
    } while (token !== null);

    assert.deepEqual(sizes, [1000, 1000, 345]);
    assert.equal(ids.size, 2345);
    assert.ok(ids.has('people/c0') && ids.has('people/c2344'));
    assert.deepEqual(totals, [2345, 2345, 2345]);
    assert.equal(provider.stats.pagesServed, 3);
    assert.deepEqual([...provider.stats.pageTokensServed], [['0', 1], ['1000', 1], ['2000', 1]]);
  });

  void it('maps names, primary email, phone and organization, with nulls where the person has none', async () => {
    const { contacts } = await page({ pageSize: 4 });
    assert.equal(contacts.length, 4);
    const [c0, c1, c2, c3] = contacts;

    assert.equal(c0?.externalId, 'people/c0');
    assert.match(c0?.etag ?? '', /^%EgUBAi43PRoEAQIFByIM[0-9a-f]{8}$/);
    assert.equal(c0?.displayName, 'Ada Lovelace 0');
    assert.equal(c0?.email, 'ada.lovelace.0@example.com');
    assert.equal(c0?.phone, '+1 555-000-0000');
    assert.equal(c0?.organization, 'Analytical Engines Ltd');
    assert.equal((c0?.raw as { resourceName: string }).resourceName, 'people/c0');

    // Contact 1 lists a work address first; the primary one is second.
    assert.equal(c1?.displayName, 'Alan Ritchie 1');
    assert.equal(c1?.email, 'alan.ritchie.1@example.com');
    assert.equal((c1?.raw as { emailAddresses: unknown[] }).emailAddresses.length, 2);

    assert.equal(c2?.organization, null);
    assert.notEqual(c2?.phone, null);
    assert.equal(c3?.phone, null);
    assert.notEqual(c3?.organization, null);
  });

  void it('fails non-retryably with ProviderUnauthenticated on a revoked token, without the token in the message', async () => {
    provider.configure({ faults: { revokedTokens: [TOKEN] } });
    const failure = await failureOf(page());
    assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /401 UNAUTHENTICATED/);
    assert.match(failure.message, /reconnect/);
    assert.ok(!failure.message.includes(TOKEN), 'the access token leaked into the failure message');
    assert.ok(!failure.message.includes('test-token'), 'part of the access token leaked into the failure message');
  });

  void it('fails retryably with ProviderThrottled on 429, carrying Retry-After as nextRetryDelay', async () => {
    provider.configure({ faults: { script: ['429'], retryAfterSeconds: 2 } });
    const failure = await failureOf(page());
    assert.equal(failure.type, FAILURE_TYPES.providerThrottled);
    assert.equal(failure.nonRetryable, false);
    assert.ok(failure.nextRetryDelay !== undefined && failure.nextRetryDelay !== null, 'nextRetryDelay is not set');
    assert.equal(msToNumber(failure.nextRetryDelay), 2000);
    assert.match(failure.message, /429 RESOURCE_EXHAUSTED/);

    // The script is used up: the same request now succeeds.
    const next = await page();
    assert.equal(next.contacts.length, 1000);
  });

  void it('fails retryably with ProviderUnavailable on 500, leaving the delay to the retry policy', async () => {
    provider.configure({ faults: { script: ['500'] } });
    const failure = await failureOf(page());
    assert.equal(failure.type, FAILURE_TYPES.providerUnavailable);
    assert.equal(failure.nonRetryable, false);
    assert.equal(failure.nextRetryDelay, undefined);
    assert.match(failure.message, /500 INTERNAL/);
  });

  void it('honours Retry-After on 503', async () => {
    provider.configure({ faults: { script: ['503'], retryAfterSeconds: 3 } });
    const failure = await failureOf(page());
    assert.equal(failure.type, FAILURE_TYPES.providerUnavailable);
    assert.equal(failure.nonRetryable, false);
    assert.equal(msToNumber(failure.nextRetryDelay ?? 0), 3000);
  });

  void it('fails retryably with ProviderUnavailable when the connection drops', async () => {
    provider.configure({ faults: { script: ['drop'] } });
    const failure = await failureOf(page());
    assert.equal(failure.type, FAILURE_TYPES.providerUnavailable);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /Could not reach Google People API/);
    assert.equal(provider.stats.faultsInjected, 1);
  });

  void it('fails retryably with ProviderTooSlow when a page is slower than timeoutMs', async () => {
    provider.configure({ faults: { slowMs: 500 } });
    const failure = await failureOf(page({ timeoutMs: 50 }));
    assert.equal(failure.type, FAILURE_TYPES.providerTooSlow);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /did not answer within 50 ms/);
  });

  void it('rethrows the abort reason unchanged when the caller cancels mid-request', async () => {
    provider.configure({ faults: { slowMs: 500 } });
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    const pending = page({ signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(pending, (error: unknown) => {
      assert.equal(error, reason);
      assert.ok(!(error instanceof ApplicationFailure));
      return true;
    });
  });

  void it('does not call the provider when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(page({ signal: controller.signal }), (error: unknown) => {
      assert.ok(error instanceof DOMException && error.name === 'AbortError', `expected an AbortError, got ${String(error)}`);
      return true;
    });
    assert.equal(provider.stats.requests, 0);
  });

  void it('fails non-retryably with ProviderInvalidRequest when the provider rejects the page token', async () => {
    const failure = await failureOf(page({ pageToken: 'not-a-token' }));
    assert.equal(failure.type, FAILURE_TYPES.providerInvalidRequest);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /400 INVALID_ARGUMENT/);
  });

  void it('refuses a pageSize outside 1..1000 without calling the provider', async () => {
    const failure = await failureOf(page({ pageSize: 1001 }));
    assert.equal(failure.type, FAILURE_TYPES.providerInvalidRequest);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /pageSize must be an integer from 1 to 1000 \(got 1001\)/);
    assert.equal(provider.stats.requests, 0);
  });

  void it('returns an empty last page when the user has no contacts', async () => {
    provider.configure({ contacts: 0 });
    const result = await page();
    assert.deepEqual(result, { contacts: [], rejected: [], nextPageToken: null, totalPeople: 0 });
  });
});

void describe('fetchConnectionsPage against responses the demo never sends', () => {
  const servers: Array<{ close: () => Promise<void> }> = [];
  async function serve(status: number, body: string, headers: Record<string, string> = {}): Promise<string> {
    const server = await cannedServer(status, body, headers);
    servers.push(server);
    return server.url;
  }
  const fetchFrom = (baseUrl: string) => fetchConnectionsPage({ baseUrl, accessToken: TOKEN, pageSize: 10, pageToken: null });

  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  void it('fails retryably with ProviderBadResponse on a 200 that is not JSON', async () => {
    const failure = await failureOf(fetchFrom(await serve(200, '<html>gateway</html>')));
    assert.equal(failure.type, FAILURE_TYPES.providerBadResponse);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /not JSON: <html>gateway<\/html>/);
  });

  void it('sets aside a person with no resourceName as having no identity, and keeps the rest of the page', async () => {
    const good = { resourceName: 'people/c2', etag: 'e2', names: [{ displayName: 'Grace Hopper' }] };
    const result = await fetchFrom(await serve(200, JSON.stringify({ connections: [{ etag: 'e1' }, good] })));
    assert.deepEqual(result.contacts.map((c) => c.externalId), ['people/c2'], 'the readable person is kept');
    assert.equal(result.rejected.length, 1);
    assert.equal(result.rejected[0]?.reason, 'no_identity');
    assert.equal(result.rejected[0]?.position, 'page first item 0', 'with no id, its place on the page says where it was');
    assert.match(result.rejected[0]?.message ?? '', /resourceName/);
  });

  void it('sets aside a person with no etag under its resourceName, as an invalid record', async () => {
    const result = await fetchFrom(await serve(200, JSON.stringify({ connections: [{ resourceName: 'people/c1' }] })));
    assert.deepEqual(result.contacts, []);
    assert.deepEqual(
      result.rejected.map(({ position, reason }) => ({ position, reason })),
      [{ position: 'people/c1', reason: 'invalid_record' }],
    );
    assert.match(result.rejected[0]?.message ?? '', /etag/);
    assert.equal(result.rejected[0]?.excerpt, '{"resourceName":"people/c1"}', 'the excerpt is the person as it came');
  });

  void it('still fails the page, retryably, when connections is not a list at all', async () => {
    const failure = await failureOf(fetchFrom(await serve(200, JSON.stringify({ connections: { oops: true } }))));
    assert.equal(failure.type, FAILURE_TYPES.providerBadResponse);
    assert.notEqual(failure.nonRetryable, true);
  });

  void it('fails non-retryably with ProviderPermissionDenied on 403', async () => {
    const body = JSON.stringify({ error: { code: 403, message: 'Request had insufficient authentication scopes.', status: 'PERMISSION_DENIED' } });
    const failure = await failureOf(fetchFrom(await serve(403, body)));
    assert.equal(failure.type, FAILURE_TYPES.providerPermissionDenied);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /\(403 PERMISSION_DENIED\): Request had insufficient authentication scopes\./);
  });

  void it('takes nextRetryDelay from a Retry-After HTTP-date', async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    const failure = await failureOf(fetchFrom(await serve(429, '{}', { 'Retry-After': at })));
    assert.equal(failure.type, FAILURE_TYPES.providerThrottled);
    const delay = msToNumber(failure.nextRetryDelay ?? 0);
    // HTTP-dates have whole-second precision, so allow for the truncation and the test's own time.
    assert.ok(delay > 115_000 && delay <= 120_000, `expected about 120 s, got ${delay} ms`);
  });

  void it('redacts the token if the provider echoes it back', async () => {
    const body = JSON.stringify({ error: { code: 401, message: `Token ${TOKEN} is expired`, status: 'UNAUTHENTICATED' } });
    const failure = await failureOf(fetchFrom(await serve(401, body)));
    assert.equal(failure.type, FAILURE_TYPES.providerUnauthenticated);
    assert.equal(failure.nonRetryable, true);
    assert.ok(!failure.message.includes(TOKEN), 'the access token leaked into the failure message');
    assert.match(failure.message, /Token \[redacted\] is expired/);
  });

  void it('fails retryably with ProviderUnavailable when nothing listens', async () => {
    const url = await serve(200, '{}');
    const last = servers.pop();
    await last?.close();
    const failure = await failureOf(fetchFrom(url));
    assert.equal(failure.type, FAILURE_TYPES.providerUnavailable);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /ECONNREFUSED/);
  });
});

void describe('toContactRecord', () => {
  void it('takes the entry marked primary, else the first', () => {
    const person: Person = {
      resourceName: 'people/c9',
      etag: 'e9',
      names: [{ displayName: 'Second Name' }, { displayName: 'Primary Name', metadata: { primary: true } }],
      emailAddresses: [{ value: 'first@example.com' }, { value: 'second@example.com' }],
      phoneNumbers: [{ canonicalForm: '+15550100' }],
      organizations: [{ name: '  ' }],
    };
    assert.deepEqual(toContactRecord(person), {
      externalId: 'people/c9',
      etag: 'e9',
      displayName: 'Primary Name',
      email: 'first@example.com',
      phone: '+15550100',
      phoneE164: '+15550100',
      organization: null,
      raw: person,
    });
  });

  void it('normalises as every source does: email domain lower-cased, E.164 from the number when Google gives none', () => {
    const record = toContactRecord(
      {
        resourceName: 'people/c3',
        etag: 'e3',
        emailAddresses: [{ value: '  Ada.Lovelace@Example.COM ' }],
        phoneNumbers: [{ value: '(202) 555-0143' }],
      },
      'US',
    );
    assert.equal(record.email, 'Ada.Lovelace@example.com', 'the local part keeps its case');
    assert.equal(record.phone, '(202) 555-0143', 'the phone keeps its raw value');
    assert.equal(record.phoneE164, '+12025550143');
    assert.equal(toContactRecord({ resourceName: 'people/c4', etag: 'e4', phoneNumbers: [{ value: '555' }] }).phoneE164, null);
  });

  void it('maps a person with no fields to nulls, and builds a name from its parts when displayName is missing', () => {
    assert.deepEqual(toContactRecord({ resourceName: 'people/c1', etag: 'e1' }), {
      externalId: 'people/c1',
      etag: 'e1',
      displayName: null,
      email: null,
      phone: null,
      phoneE164: null,
      organization: null,
      raw: { resourceName: 'people/c1', etag: 'e1' },
    });
    assert.equal(toContactRecord({ resourceName: 'people/c2', etag: 'e2', names: [{ givenName: 'Grace', familyName: 'Hopper' }] }).displayName, 'Grace Hopper');
  });
});

void describe('parseRetryAfter', () => {
  void it('reads delta-seconds and HTTP-dates, and ignores anything else', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
  });
});

void describe('reading a person without copying it', () => {
  const good = { resourceName: 'people/c1', etag: 'e1', names: [{ displayName: 'Ada', metadata: { primary: true, source: { id: 'x' } } }], extra: { kept: [1, 2] } };

  void it('keeps the person itself as raw, unknown fields and all', () => {
    const { contacts, rejected } = readPeople([good], null);
    assert.deepEqual(rejected, []);
    assert.equal(contacts[0]?.raw, good, 'raw is the object JSON.parse made, not a copy');
    assert.equal(personProblem(good), null);
  });

  void it('says where a person is not the documented shape, field by field', () => {
    const cases: Array<[unknown, string]> = [
      [null, '(person): expected an object, got null'],
      [[good], '(person): expected an object, got array'],
      [{ resourceName: 7, etag: 'e' }, 'resourceName: expected a string, got number'],
      [{ resourceName: 'people/c2', etag: '' }, 'etag: expected a non-empty string'],
      [{ ...good, names: null }, 'names: expected an array, got null'],
      [{ ...good, emailAddresses: [{ value: 'a@b.c' }, 'x'] }, 'emailAddresses.1: expected an object, got string'],
      [{ ...good, phoneNumbers: [{ canonicalForm: 15550100 }] }, 'phoneNumbers.0.canonicalForm: expected a string, got number'],
      [{ ...good, organizations: [{ name: 'X', metadata: [] }] }, 'organizations.0.metadata: expected an object, got array'],
      [{ ...good, names: [{ metadata: { primary: 'yes' } }] }, 'names.0.metadata.primary: expected a boolean, got string'],
    ];
    for (const [person, problem] of cases) assert.equal(personProblem(person), problem, JSON.stringify(person));
  });

  void it('accepts what the documented shape leaves open: absent fields, entries without strings, any other keys', () => {
    assert.equal(personProblem({ resourceName: 'people/c3', etag: 'e3', names: [], phoneNumbers: [{ type: 'mobile' }], photos: 'anything' }), null);
  });
});
