/**
 * Metrics and logs of a whole `npm start` run: the real script on its own dev server and
 * free ports, JSON logs at debug level, a demo provider failing every fifth request with a 500. The
 * worker's Prometheus endpoint (Temporal's series and the import's) and the API's `/metrics` are
 * scraped before, during and after an import, and the counts have to move. Then a CardDAV import of
 * a server that is not there fails and retries until it is cancelled, a bad request is refused, and
 * the service is stopped: every line the run wrote (console and log files) is one JSON event, and
 * none holds the access token, the password, or any name or email address of the contacts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImportView } from '../api/schemas';
import { ConfigError } from '../config';
import { logSettings } from '../observability/logger';
import { workerMetricsAddress } from '../worker/metrics';
import { personJson } from '../demo-provider/people';
import { uniqueId, waitFor } from './support/harness';
import { startNpmStart, type NpmStart } from './support/npm-start';

const N = 1_000;
const SERVICE_ENV = {
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'debug',
  DEMO_CONTACTS: String(N),
  DEMO_SLOW_MS: '100',
  DEMO_FAULT_EVERY: '5',
  DEMO_FAULT_KIND: '500',
  IMPORT_PAGE_SIZE: '100',
  IMPORT_PAGES_PER_BATCH: '2',
};
const ARTIFACTS = path.join(__dirname, 'artifacts');
const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
const PASSWORD = `pw_${randomBytes(12).toString('hex')}`;

/** The sum of `name`'s samples whose labels include every one of `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ([^ ]+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => have.includes(`${key}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}

/** What a log line may not contain: the people the demo provider served, by name and by address. */
function personalData(count: number): string[] {
  const fields = new Set(['names', 'emailAddresses']);
  const values = new Set<string>();
  for (let i = 0; i < count; i += 1) {
    const person = JSON.parse(personJson(i, fields)) as {
      names?: { displayName: string; givenName: string; familyName: string }[];
      emailAddresses?: { value: string }[];
    };
    for (const name of person.names ?? []) {
      values.add(name.displayName);
      values.add(`${name.givenName} ${name.familyName}`);
    }
    for (const email of person.emailAddresses ?? []) values.add(email.value);
  }
  return [...values];
}

describe('metrics and logs of an npm start run', { timeout: 600_000 }, () => {
  let service: NpmStart;
  before(async () => {
    service = await startNpmStart({ env: SERVICE_ENV });
  });
  after(async () => {
    await service?.stop();
  });

  const workerMetrics = async () => (await fetch(`http://127.0.0.1:${service.ports.workerMetrics}/metrics`)).text();
  const apiMetrics = async () => {
    const res = await fetch(`${service.apiUrl}/metrics`);
    assert.equal(res.status, 200, 'the API serves /metrics on loopback while no operator key exists');
    return res.text();
  };
  async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(service.apiUrl + route, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
  }
  const statusWhen = (importId: string, check: (view: ImportView) => boolean, what: string) =>
    waitFor(
      async () => {
        const res = await call('GET', `/v1/imports/${importId}`);
        if (res.status !== 200) return undefined;
        const view = ImportView.parse(res.json);
        return check(view) && view;
      },
      `${what} (npm start said:\n${service.tail()})`,
      180_000,
    );

  it('counts the import on the worker and the requests on the API while it runs', async () => {
    const userId = uniqueId('metrics');
    const worker0 = await workerMetrics();
    const api0 = await apiMetrics();
    assert.match(worker0, /^temporal_\w+/m, "the worker's endpoint has Temporal's own series");
    const saved = (text: string) => sample(text, 'contacts_import_contacts_saved', { provider: 'google-people' });
    const statusReads = (text: string) =>
      sample(text, 'contacts_api_requests_total', { method: 'GET', route: '/v1/imports/:importId', status: '200' });

    const started = await call('POST', '/v1/imports', { userId, source: { provider: 'google-people', accessToken: TOKEN } });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    const { importId } = ImportView.parse(started.json);
    await statusWhen(importId, (view) => view.state === 'running' && view.saved > 0 && view.saved < N, 'the import to be under way');
    const worker1 = await waitFor(async () => {
      const text = await workerMetrics();
      return saved(text) > saved(worker0) && text;
    }, 'contacts_import_contacts_saved to move during the import');
    const api1 = await apiMetrics();
    assert.ok(statusReads(api1) > statusReads(api0), 'status reads are counted by route pattern');

    const done = await statusWhen(importId, (view) => view.state !== 'running', 'the import to end');
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.saved, N);
    const worker2 = await waitFor(async () => {
      const text = await workerMetrics();
      return sample(text, 'contacts_import_duration_seconds_count', { provider: 'google-people', state: 'completed' }) >= 1 && text;
    }, 'the finished import to be in contacts_import_duration_seconds');
    assert.ok(saved(worker2) - saved(worker0) >= N, `every saved contact counted (${saved(worker2) - saved(worker0)})`);
    assert.ok(saved(worker2) > saved(worker1), 'and the count kept moving after the mid-import scrape');
    assert.ok(sample(worker2, 'contacts_import_pages_fetched', { provider: 'google-people' }) >= N / 100, 'pages are counted');
    assert.ok(
      sample(worker2, 'contacts_import_provider_failures', { provider: 'google-people', failure_type: 'ProviderUnavailable' }) >= 1,
      "the provider's 500s are counted by failure type",
    );
    assert.ok(sample(worker2, 'contacts_import_batch_duration_seconds_count', { outcome: 'completed' }) >= N / 200, 'batches are timed');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'worker-metrics.txt'), worker2);
    const api2 = await apiMetrics();
    fs.writeFileSync(path.join(ARTIFACTS, 'api-metrics.txt'), api2);
    assert.ok(sample(api2, 'contacts_api_requests_total', { method: 'POST', route: '/v1/imports', status: '202' }) >= 1);
    assert.ok(sample(api2, 'contacts_api_request_duration_seconds_count', { route: '/v1/imports/:importId' }) >= statusReads(api2));
    assert.ok(!api2.includes(userId) && !api2.includes(importId), 'no user or import id in any label: route patterns only');
  });

  it('writes one JSON event per line, with ids, and no token, password, name or email address', async () => {
    // An import of its own, through the failing provider: its contacts are what the logs must not show.
    const userId = uniqueId('logs');
    const started = await call('POST', '/v1/imports', { userId, source: { provider: 'google-people', accessToken: TOKEN } });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    const done = await statusWhen(ImportView.parse(started.json).importId, (view) => view.state !== 'running', 'the import to end');
    assert.equal(done.saved, N, done.error);
    const listed = await call('GET', `/v1/users/${userId}/contacts?limit=3`);
    const people = personalData(N);
    for (const contact of (listed.json as { items: { displayName: string; email: string }[] }).items) {
      assert.ok(people.includes(contact.displayName) && people.includes(contact.email), 'the list of what must not leak is what was imported');
    }

    // A failure path: a CardDAV server that is not there fails every attempt (retryably) until cancelled.
    const davUser = uniqueId('logs-dav');
    const dav = await call('POST', '/v1/imports', {
      userId: davUser,
      source: { provider: 'carddav', url: 'http://127.0.0.1:1/dav/', username: 'someone', password: PASSWORD },
    });
    assert.equal(dav.status, 202, JSON.stringify(dav.json));
    const davId = ImportView.parse(dav.json).importId;
    await waitFor(
      () => service.lines.some((line) => line.includes('"level":"warn"') && line.includes('importBatch')),
      `a failed batch attempt to be logged (npm start said:\n${service.tail()})`,
    );
    assert.equal((await call('POST', `/v1/imports/${davId}/cancel`)).status, 202);
    await statusWhen(davId, (view) => view.state === 'cancelled', 'the CardDAV import to be cancelled');
    // A refused request carrying a token, and a request id the API keeps.
    const refused = await call('POST', '/v1/imports', { userId: '', source: { provider: 'google-people', accessToken: TOKEN } });
    assert.equal(refused.status, 422);
    const tagged = await call('GET', '/v1/imports/imp_nope', undefined, { 'X-Request-Id': 'obs-test-42' });
    assert.equal(tagged.status, 404);
    assert.equal(tagged.headers.get('x-request-id'), 'obs-test-42', 'X-Request-Id is honoured and returned');
    assert.match((await call('GET', '/livez')).headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'or one is made up');

    const seen = service.lines.length;
    service.process.kill('SIGINT');
    assert.equal(await service.exited, 0, service.tail());
    assert.ok(service.lines.length > seen, 'the stop was logged too');

    const logDir = path.join(service.dataDir, 'logs');
    const files = fs.readdirSync(logDir).map((name) => [name, fs.readFileSync(path.join(logDir, name), 'utf8')] as const);
    const everything = [service.lines.join('\n'), ...files.map(([, text]) => text)].join('\n');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'observability-run.log'), service.lines.join('\n'));

    // Worker and API: one JSON object per line.
    const events: Record<string, unknown>[] = [];
    for (const line of service.lines) {
      const part = /^\[(worker|api)\] (.*)$/.exec(line);
      if (!part) continue;
      let event: unknown;
      assert.doesNotThrow(() => (event = JSON.parse(part[2]!)), `a ${part[1]} line that is not JSON: ${line}`);
      events.push(event as Record<string, unknown>);
    }
    assert.ok(events.length > 20, `the run logged events (${events.length})`);
    assert.ok(
      events.some((e) => e.part === 'api' && e.requestId === 'obs-test-42' && e.status === 404 && e.route === '/v1/imports/:importId'),
      'the API logs the request with its request id',
    );
    assert.ok(events.some((e) => e.part === 'worker' && typeof e.workflowId === 'string' && typeof (e.runId ?? e.workflowRunId) === 'string'), 'worker events carry workflowId and runId');
    assert.ok(events.some((e) => e.part === 'worker' && typeof e.importId === 'string'), 'worker events carry the importId');

    for (const secret of [TOKEN, PASSWORD]) assert.ok(!everything.includes(secret), `a credential is in the logs: ${secret}`);
    const leaked = people.filter((value) => everything.includes(value));
    assert.deepEqual(leaked.slice(0, 5), [], `no contact name or email address in the logs (${leaked.length} found)`);
  });
});

describe('log and metrics settings', () => {
  it('reads LOG_LEVEL and LOG_FORMAT, refusing what it does not know with what to write instead', () => {
    assert.deepEqual(logSettings({}), { level: 'info', format: 'json' });
    assert.deepEqual(logSettings({ LOG_LEVEL: 'DEBUG', LOG_FORMAT: 'pretty' }), { level: 'debug', format: 'pretty' });
    assert.throws(() => logSettings({ LOG_LEVEL: 'verbose' }), (err: unknown) => err instanceof ConfigError && /LOG_LEVEL must be one of fatal, error, warn, info, debug, trace \(got "verbose"\)/.test(err.message));
    assert.throws(() => logSettings({ LOG_FORMAT: 'xml' }), (err: unknown) => err instanceof ConfigError && /LOG_FORMAT must be json or pretty/.test(err.message));
  });

  it('reads WORKER_METRICS_ADDRESS as host:port, or off', () => {
    assert.equal(workerMetricsAddress({}), undefined);
    assert.equal(workerMetricsAddress({ WORKER_METRICS_ADDRESS: 'off' }), undefined);
    assert.equal(workerMetricsAddress({ WORKER_METRICS_ADDRESS: '0.0.0.0:9464' }), '0.0.0.0:9464');
    assert.equal(workerMetricsAddress({ WORKER_METRICS_ADDRESS: '[::1]:9464' }), '[::1]:9464');
    for (const bad of ['9464', 'localhost', 'http://127.0.0.1:9464', '127.0.0.1:99999']) {
      assert.throws(() => workerMetricsAddress({ WORKER_METRICS_ADDRESS: bad }), (err: unknown) => err instanceof ConfigError && /host:port/.test(err.message), bad);
    }
  });
});
