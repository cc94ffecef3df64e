/**
 * Configuration: `loadConfig` refuses bad environments with messages that name the variable and
 * say what it takes, the integer parser every process shares, the token key file, and sealing.
 * Pure: no Temporal, no database.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, type AppConfig } from '../config';
import {
  DEFAULT_EVENT_STREAMS_PER_KEY,
  DEFAULT_HOST,
  DEFAULT_TUNING,
  OUTBOUND_DEFAULTS,
  PEER_RATE_LIMIT_DEFAULTS,
  PORT_DEFAULTS,
  UPLOAD_DEFAULTS,
  WORKER_DEFAULTS,
} from '../config/defaults';
import { parseInteger, PORT_RANGE } from '../config/parse';
import { readProviderSettings } from '../providers';
import { DEFAULT_GOOGLE_PEOPLE_BASE_URL } from '../providers/google-people/settings';
import { createTokenSealer, loadTokenKey, SealedTokenError } from '../encryption/token-seal';
import { TASK_QUEUE } from '../workflows/contract';

/** Asserts that `fn` throws a {@link ConfigError} whose message matches every pattern. */
function assertConfigError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    for (const pattern of patterns) assert.match(err.message, pattern);
    return true;
  });
}

const tmpDirs: string[] = [];
function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-config-'));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig', () => {
  /** The settings these tests are about (other settings have tests of their own). */
  const picked = (config: AppConfig) => ({
    taskQueue: config.taskQueue,
    dataDir: config.dataDir,
    port: config.port,
    host: config.host,
    database: config.database,
    tokenKey: config.tokenKey,
    importDefaults: config.importDefaults,
    workerMaxConcurrentActivities: config.workerMaxConcurrentActivities,
    heartbeatThrottleMs: config.heartbeatThrottleMs,
    devServer: config.devServer,
  });

  it('runs on the defaults from config/defaults.ts when nothing is set', () => {
    assert.deepEqual(picked(loadConfig({})), {
      taskQueue: TASK_QUEUE,
      dataDir: path.resolve('.data'),
      port: PORT_DEFAULTS.api,
      host: DEFAULT_HOST,
      database: { kind: 'sqlite', file: path.join(path.resolve('.data'), 'contacts.db') },
      tokenKey: undefined,
      importDefaults: DEFAULT_TUNING,
      workerMaxConcurrentActivities: WORKER_DEFAULTS.maxConcurrentActivities,
      heartbeatThrottleMs: WORKER_DEFAULTS.heartbeatThrottleMs,
      devServer: { port: PORT_DEFAULTS.temporal, uiPort: PORT_DEFAULTS.temporalUi },
    });
    // Each provider reads its own variables.
    assert.equal(readProviderSettings({})['google-people'].baseUrl, DEFAULT_GOOGLE_PEOPLE_BASE_URL);
  });

  it('treats empty variables as unset', () => {
    assert.deepEqual(loadConfig({ PORT: '', DATABASE_URL: '', TOKEN_ENCRYPTION_KEY: '', IMPORT_PAGE_SIZE: ' ' }), loadConfig({}));
  });

  it('takes good values as given', () => {
    const key = Buffer.alloc(32, 3).toString('base64');
    const env = {
      DATA_DIR: '/srv/contacts',
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://app:secret@db:5432/contacts',
      GOOGLE_PEOPLE_BASE_URL: 'http://127.0.0.1:8090/',
      TOKEN_ENCRYPTION_KEY: key,
      TEMPORAL_TASK_QUEUE: 'imports-eu',
      IMPORT_PAGE_SIZE: '500',
      IMPORT_PAGES_PER_BATCH: '4',
      IMPORT_MAX_BATCHES_PER_RUN: '1_000',
      WORKER_MAX_CONCURRENT_ACTIVITIES: '3',
      WORKER_HEARTBEAT_THROTTLE_MS: '100',
      TEMPORAL_PORT: '7300',
      TEMPORAL_UI_PORT: '8300',
    };
    const config = loadConfig(env);
    assert.equal(readProviderSettings(env)['google-people'].baseUrl, 'http://127.0.0.1:8090');
    assert.deepEqual(picked(config), {
      taskQueue: 'imports-eu',
      dataDir: '/srv/contacts',
      port: 8080,
      host: '0.0.0.0',
      database: { kind: 'postgres', url: 'postgres://app:secret@db:5432/contacts' },
      tokenKey: key,
      importDefaults: { ...DEFAULT_TUNING, pageSize: 500, pagesPerBatch: 4, maxBatchesPerRun: 1000 },
      workerMaxConcurrentActivities: 3,
      heartbeatThrottleMs: 100,
      devServer: { port: 7300, uiPort: 8300 },
    });
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://db/contacts' }).database.kind, 'postgres');
  });

  it('refuses a port that is not a number or out of range', () => {
    assertConfigError(() => loadConfig({ PORT: 'abc' }), /^PORT must be an integer from 0 to 65535 \(got "abc"\)$/);
    assertConfigError(() => loadConfig({ PORT: '70000' }), /PORT/, /0 to 65535/, /"70000"/);
    assertConfigError(() => loadConfig({ TEMPORAL_PORT: 'x' }), /^TEMPORAL_PORT must be an integer/, /"x"/);
  });

  it('refuses a page size the People API does not allow', () => {
    assertConfigError(() => loadConfig({ IMPORT_PAGE_SIZE: '0' }), /^IMPORT_PAGE_SIZE must be an integer from 1 to 1000 \(got "0"\)$/);
    assertConfigError(() => loadConfig({ IMPORT_PAGE_SIZE: '1001' }), /IMPORT_PAGE_SIZE/, /"1001"/);
  });

  it('refuses a DATABASE_URL that is not PostgreSQL, without echoing its password', () => {
    assertConfigError(
      () => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/contacts' }),
      /^DATABASE_URL is not a postgres:\/\/ URL/,
      /mysql:/,
    );
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/contacts' }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes('hunter2'),
      'the password is not in the message',
    );
  });

  it('refuses a token key that is not 32 bytes, saying how to make one', () => {
    assertConfigError(
      () => loadConfig({ TOKEN_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }),
      /^TOKEN_ENCRYPTION_KEY must be 32 random bytes in base64/,
      /openssl rand -base64 32/,
    );
  });

  it('refuses a provider URL that is not http(s)', () => {
    assertConfigError(
      () => readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: 'ftp://people.example.com' }),
      /^GOOGLE_PEOPLE_BASE_URL must be an http:\/\/ or https:\/\/ URL \(got "ftp:\/\/people.example.com"\)$/,
    );
    assertConfigError(() => readProviderSettings({ GOOGLE_PEOPLE_BASE_URL: 'people.example.com' }), /^GOOGLE_PEOPLE_BASE_URL is not a URL/);
  });

  it('reads the API limits, with their defaults from config/defaults.ts', () => {
    const limits = (config: AppConfig) => ({
      uploadQuotaBytes: config.uploadQuotaBytes,
      uploadRetentionSeconds: config.uploadRetentionSeconds,
      peerRateLimit: config.peerRateLimit,
      eventStreamsPerKey: config.eventStreamsPerKey,
    });
    assert.deepEqual(limits(loadConfig({})), {
      uploadQuotaBytes: UPLOAD_DEFAULTS.quotaBytes,
      uploadRetentionSeconds: UPLOAD_DEFAULTS.retentionSeconds,
      peerRateLimit: PEER_RATE_LIMIT_DEFAULTS,
      eventStreamsPerKey: DEFAULT_EVENT_STREAMS_PER_KEY,
    });
    const env = { UPLOAD_QUOTA_BYTES: '5_000_000', UPLOAD_RETENTION: '2d', PEER_RATE_LIMIT_PER_SECOND: '3', PEER_RATE_LIMIT_BURST: '9', EVENT_STREAMS_PER_KEY: '4' };
    assert.deepEqual(limits(loadConfig(env)), {
      uploadQuotaBytes: 5_000_000,
      uploadRetentionSeconds: 2 * 86_400,
      peerRateLimit: { perSecond: 3, burst: 9 },
      eventStreamsPerKey: 4,
    });
    assertConfigError(() => loadConfig({ UPLOAD_RETENTION: '30m' }), /^UPLOAD_RETENTION must be at least 1h/);
    assertConfigError(() => loadConfig({ UPLOAD_RETENTION: 'a week' }), /^UPLOAD_RETENTION must be a duration/);
    assertConfigError(() => loadConfig({ EVENT_STREAMS_PER_KEY: '0' }), /^EVENT_STREAMS_PER_KEY must be an integer from 1/);
  });
});

describe('outbound limits, worker connections and giving up', () => {
  it('runs on the defaults, a tenant holding half the connections, an import giving up after a day', () => {
    const config = loadConfig({});
    assert.deepEqual(config.outboundLimits, OUTBOUND_DEFAULTS);
    assert.equal(config.outboundLimits.maxResponseBytes, 32 * 1024 * 1024);
    assert.deepEqual(config.workerConnections, { total: WORKER_DEFAULTS.connections, perTenant: WORKER_DEFAULTS.connections / 2 });
    assert.equal(config.importDefaults.giveUpAfterSeconds, 24 * 3600);
  });

  it('takes durations in ms, s, m or h, and a per-tenant share derived from the connections unless given', () => {
    const config = loadConfig({
      PROVIDER_CONNECT_TIMEOUT: '500ms',
      PROVIDER_FIRST_BYTE_TIMEOUT: '2m',
      PROVIDER_IDLE_TIMEOUT: '15',
      PROVIDER_REQUEST_TIMEOUT: '1h',
      PROVIDER_MAX_RESPONSE_BYTES: '1_048_576',
      WORKER_CONNECTIONS: '5',
      IMPORT_GIVE_UP_AFTER: '90m',
    });
    assert.deepEqual(config.outboundLimits, {
      connectTimeoutMs: 500,
      firstByteTimeoutMs: 120_000,
      idleTimeoutMs: 15_000,
      requestTimeoutMs: 3_600_000,
      maxResponseBytes: 1_048_576,
    });
    assert.deepEqual(config.workerConnections, { total: 5, perTenant: 3 });
    assert.equal(config.importDefaults.giveUpAfterSeconds, 5400);
    assert.deepEqual(loadConfig({ WORKER_CONNECTIONS: '5', WORKER_CONNECTIONS_PER_TENANT: '5' }).workerConnections, { total: 5, perTenant: 5 });
  });

  it("gives the worker's threads their own semi-space size, 0 leaving the process's", () => {
    assert.equal(loadConfig({}).workerThreadSemiSpaceMb, WORKER_DEFAULTS.threadSemiSpaceMb);
    assert.equal(loadConfig({ WORKER_THREAD_SEMI_SPACE_MB: '16' }).workerThreadSemiSpaceMb, 16);
    assert.equal(loadConfig({ WORKER_THREAD_SEMI_SPACE_MB: '0' }).workerThreadSemiSpaceMb, 0);
    assertConfigError(() => loadConfig({ WORKER_THREAD_SEMI_SPACE_MB: '-1' }), /^WORKER_THREAD_SEMI_SPACE_MB must be an integer from 0/);
    assertConfigError(() => loadConfig({ WORKER_THREAD_SEMI_SPACE_MB: '8MB' }), /^WORKER_THREAD_SEMI_SPACE_MB must be an integer/);
  });

  it('refuses limits it cannot keep, naming the variable', () => {
    assertConfigError(() => loadConfig({ PROVIDER_IDLE_TIMEOUT: 'soon' }), /^PROVIDER_IDLE_TIMEOUT must be a duration such as 500ms, 10s or 2m/, /"soon"/);
    assertConfigError(() => loadConfig({ PROVIDER_CONNECT_TIMEOUT: '0' }), /^PROVIDER_CONNECT_TIMEOUT must be a duration/);
    assertConfigError(() => loadConfig({ PROVIDER_MAX_RESPONSE_BYTES: '100' }), /^PROVIDER_MAX_RESPONSE_BYTES must be an integer from 1024/);
    assertConfigError(() => loadConfig({ WORKER_CONNECTIONS: '4', WORKER_CONNECTIONS_PER_TENANT: '5' }), /^WORKER_CONNECTIONS_PER_TENANT must be an integer from 1 to 4/);
    assertConfigError(() => loadConfig({ IMPORT_GIVE_UP_AFTER: '0' }), /^IMPORT_GIVE_UP_AFTER must be at least 1s/);
    assertConfigError(() => loadConfig({ IMPORT_GIVE_UP_AFTER: 'never' }), /^IMPORT_GIVE_UP_AFTER must be a duration/);
  });
});

describe('parseInteger', () => {
  const range = { min: 1, max: 1_000_000 };

  it('reads integers, with underscores as digit separators', () => {
    assert.equal(parseInteger('N', '42', 7, range), 42);
    assert.equal(parseInteger('N', ' 42 ', 7, range), 42);
    assert.equal(parseInteger('N', '1_000', 7, range), 1000);
    assert.equal(parseInteger('N', '1_000_000', 7, range), 1_000_000);
    assert.equal(parseInteger('N', '-5', 7, { min: -10, max: 10 }), -5);
    assert.equal(parseInteger('PORT', '0', 3000, PORT_RANGE), 0, 'port 0 lets the OS choose');
  });

  it('answers the fallback when the value is absent or empty', () => {
    assert.equal(parseInteger('N', undefined, 7, range), 7);
    assert.equal(parseInteger('N', '', 7, range), 7);
    assert.equal(parseInteger('N', '   ', 7, range), 7);
    assert.equal(parseInteger('N', undefined, undefined, range), undefined);
  });

  it('refuses anything but a plain integer in range, naming the variable', () => {
    for (const raw of ['abc', '1e3', '1.5', '0x10', '_1', '12abc', '0', '1000001', '9007199254740993']) {
      assertConfigError(() => parseInteger('DEMO_CONTACTS', raw, 7, range), /^DEMO_CONTACTS must be an integer from 1 to 1000000/);
    }
  });
});

describe('token key file', () => {
  it('is created with owner-only permissions on first use and reused after', () => {
    const dataDir = path.join(freshDir(), 'nested', 'data');
    const key = loadTokenKey({ dataDir, tokenKey: undefined });
    assert.equal(key.length, 32);
    const file = path.join(dataDir, 'token.key');
    assert.ok(fs.existsSync(file), 'token.key is created in the data directory');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'only its owner may read the key');
    assert.deepEqual(loadTokenKey({ dataDir, tokenKey: undefined }), key, 'a second process gets the same key');
  });

  it('is not needed when TOKEN_ENCRYPTION_KEY is set', () => {
    const dataDir = freshDir();
    const tokenKey = Buffer.alloc(32, 9).toString('base64');
    assert.deepEqual(loadTokenKey({ dataDir, tokenKey }), Buffer.alloc(32, 9));
    assert.ok(!fs.existsSync(path.join(dataDir, 'token.key')), 'no key file is written');
  });

  it('refuses a corrupt key file, saying to delete it', () => {
    const dataDir = freshDir();
    fs.writeFileSync(path.join(dataDir, 'token.key'), 'not a key\n');
    assertConfigError(() => loadTokenKey({ dataDir, tokenKey: undefined }), /token\.key does not hold a 32-byte base64 key/, /delete it/);
  });
});

describe('token sealer', () => {
  const sealer = createTokenSealer(Buffer.alloc(32, 1));

  it('opens what it sealed, and never shows the token in what it sealed', () => {
    const token = 'ya29.a0Af-secret-token';
    const sealed = sealer.seal(token);
    assert.ok(!sealed.includes(token), 'the sealed value does not contain the token');
    assert.notEqual(sealer.seal(token), sealed, 'each seal uses a fresh IV');
    assert.equal(sealer.open(sealed), token);
  });

  it("refuses a value sealed with another key, saying the key must be shared", () => {
    const sealed = createTokenSealer(Buffer.alloc(32, 2)).seal('token');
    assert.throws(() => sealer.open(sealed), (err: unknown) => {
      assert.ok(err instanceof SealedTokenError, `expected a SealedTokenError, got ${String(err)}`);
      assert.match(err.message, /another key/);
      assert.match(err.message, /TOKEN_ENCRYPTION_KEY/);
      return true;
    });
  });

  it('refuses a tampered or malformed value', () => {
    // Whatever the format's version, the ciphertext comes just before the authentication tag.
    const parts = sealer.seal('token').split('.');
    const ciphertext = Buffer.from(parts.at(-2) ?? '', 'base64url');
    ciphertext[0] = ciphertext[0]! ^ 1;
    const tampered = [...parts.slice(0, -2), ciphertext.toString('base64url'), parts.at(-1)].join('.');
    for (const value of [tampered, 'v1.abc', 'plain-token', '']) {
      assert.throws(() => sealer.open(value), SealedTokenError, `refuses ${JSON.stringify(value)}`);
    }
  });

  it('refuses a key that is not 32 bytes', () => {
    assertConfigError(() => createTokenSealer(Buffer.alloc(16)), /32 bytes/);
  });
});
