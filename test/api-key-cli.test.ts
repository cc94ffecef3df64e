/**
 * `npm run api-key -- create|list|revoke` (scripts/api-key.ts), run as the operator runs it, as a
 * subprocess, against a store of its own: a SQLite file in a fresh `DATA_DIR` and, when
 * `TEST_DATABASE_URL` is set, PostgreSQL. What it prints, what it exits with, and what it leaves
 * in the database: the key's hash, never the key.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { openStore, type StoreLocation } from '../db';
import type { Store } from '../db/types';
import { uniqueId } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const TENANT_KEY = /^cik_[A-Za-z0-9_-]{43}$/;
const OPERATOR_KEY = /^cio_[A-Za-z0-9_-]{43}$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-key-cli-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** The store cases: SQLite in `dataDir` always, PostgreSQL when `TEST_DATABASE_URL` is set. */
const CASES: Array<{ name: string; env: NodeJS.ProcessEnv; location: StoreLocation; skip?: string }> = [
  {
    name: 'sqlite',
    env: { DATA_DIR: dataDir, DATABASE_URL: '' },
    location: { kind: 'sqlite', file: path.join(dataDir, 'contacts.db') },
  },
  {
    name: 'postgres',
    env: { DATA_DIR: dataDir, DATABASE_URL: process.env.TEST_DATABASE_URL ?? '' },
    location: { kind: 'postgres', url: process.env.TEST_DATABASE_URL ?? '' },
    ...(process.env.TEST_DATABASE_URL ? {} : { skip: 'set TEST_DATABASE_URL=postgres://… to run against PostgreSQL (.ci/run does)' }),
  },
];

/** `npm run api-key -- …args` as a subprocess (`node --import tsx`, as `npm run` does through tsx). */
function apiKey(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'scripts', 'api-key.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

function assertExit(run: Run, code: number, what: string): void {
  assert.equal(run.code, code, `${what}: expected exit ${code}, got ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

/** A readable message: no stack trace, no usage dump in place of the reason. */
function assertReadable(text: string): void {
  assert.doesNotMatch(text, /\n\s+at /, `no stack trace: ${text}`);
  assert.ok(text.trim().length > 0, 'says something');
}

/** The api_keys rows and every byte of the database (its WAL included), to look for the key in. */
async function storedKeys(location: StoreLocation): Promise<{ rows: unknown[]; raw: string }> {
  if (location.kind === 'sqlite') {
    const db = new Sqlite(location.file, { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM api_keys').all();
      const raw = [location.file, `${location.file}-wal`]
        .filter((file) => fs.existsSync(file))
        .map((file) => fs.readFileSync(file).toString('latin1'))
        .join('');
      return { rows, raw };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: location.url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT * FROM api_keys');
    return { rows, raw: JSON.stringify(rows) };
  } finally {
    await client.end();
  }
}

for (const storeCase of CASES) {
  describe(`npm run api-key (${storeCase.name})`, { skip: storeCase.skip }, () => {
    const { env, location } = storeCase;
    let store: Store;
    before(async () => {
      store = await openStore(location);
    });
    after(() => store?.close());

    it('creates a tenant key, prints it once, keeps only its hash; list shows it without the secret; revoke ends it', async () => {
      const tenant = uniqueId('acme').toLowerCase();
      const name = uniqueId('web-app');

      const created = await apiKey(env, 'create', '--tenant', tenant, '--name', name);
      assertExit(created, 0, 'create');
      const lines = created.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `stdout is the key and nothing else: ${created.stdout}`);
      const key = lines[0]!;
      assert.match(key, TENANT_KEY);
      assert.ok(!created.stderr.includes(key), 'the key is printed once, on stdout only');
      assert.match(created.stderr, new RegExp(`tenant "${tenant}"`), `stderr says whose key it is: ${created.stderr}`);
      assert.match(created.stderr, /shown once/i, 'and that it is shown once');
      const id = /\b(key_[0-9a-f]+)\b/.exec(created.stderr)?.[1];
      assert.ok(id, `stderr names the key's id: ${created.stderr}`);

      const record = await store.apiKeys.verify(key);
      assert.ok(record, 'the printed key works');
      assert.deepEqual(
        { id: record.id, scope: record.scope, tenant: record.tenant, name: record.name, revokedAt: record.revokedAt },
        { id, scope: 'tenant', tenant, name, revokedAt: null },
      );

      const stored = await storedKeys(location);
      const hash = createHash('sha256').update(key).digest('hex');
      assert.ok(!stored.raw.includes(key), 'the key itself is nowhere in the database');
      assert.ok(!stored.raw.includes(key.slice(4)), 'nor its secret part');
      const row = stored.rows.find((r) => (r as { id?: string }).id === id) as Record<string, unknown> | undefined;
      assert.ok(row, 'the key has a row');
      assert.equal(row.secret_hash, hash, 'the row holds its SHA-256');

      const listed = await apiKey(env, 'list');
      assertExit(listed, 0, 'list');
      const line = listed.stdout.split('\n').find((l) => l.startsWith(id));
      assert.ok(line, `list shows the key: ${listed.stdout}`);
      for (const part of ['tenant', tenant, name, 'active']) assert.ok(line.includes(part), `the line shows ${part}: ${line}`);
      for (const secret of [key, key.slice(4), hash]) {
        assert.ok(!(listed.stdout + listed.stderr).includes(secret), 'list never shows the secret or its hash');
      }

      const revoked = await apiKey(env, 'revoke', id);
      assertExit(revoked, 0, 'revoke');
      assert.match(revoked.stderr, new RegExp(`Revoked ${id}`));
      assert.equal(await store.apiKeys.verify(key), null, 'a revoked key no longer works');
      const relisted = await apiKey(env, 'list');
      assert.match(relisted.stdout.split('\n').find((l) => l.startsWith(id)) ?? '', /revoked \d{4}-/, 'list shows when it was revoked');

      assertExit(await apiKey(env, 'revoke', id), 0, 'revoking twice is harmless');
      assert.equal(await store.apiKeys.verify(key), null);
    });

    it('creates an operator key, which is no tenant key', async () => {
      const created = await apiKey(env, 'create', '--operator', '--name', uniqueId('ops'));
      assertExit(created, 0, 'create --operator');
      const key = created.stdout.trim();
      assert.match(key, OPERATOR_KEY);
      assert.match(created.stderr, /operator key/);
      const record = await store.apiKeys.verify(key);
      assert.equal(record?.scope, 'operator');
      assert.equal(record?.tenant, null);
    });

    it('exits 2 with a readable message for a bad tenant, a missing one or a missing name, and creates nothing', async () => {
      // Names and tenants of this run only: other files may create keys in a shared PostgreSQL meanwhile.
      const tag = uniqueId('bad');
      const cases: Array<[string[], RegExp]> = [
        [['create', '--tenant', 'Not A Tenant!', '--name', tag], /tenant/i],
        [['create', '--tenant', '-starts-with-dash', '--name', tag], /tenant/i],
        [['create', '--tenant', 'x'.repeat(64), '--name', tag], /tenant/i],
        [['create', '--name', tag], /--tenant/],
        [['create', '--tenant', tag], /--name/],
        [['create', '--tenant', tag, '--operator', '--name', tag], /operator/],
        [['rotate'], /Unknown command/],
        [['create', '--tenant', tag, '--name', tag, '--bogus'], /bogus/],
      ];
      for (const [args, message] of cases) {
        const run = await apiKey(env, ...args);
        assertExit(run, 2, args.join(' '));
        assert.equal(run.stdout, '', `no key printed for ${args.join(' ')}`);
        assert.match(run.stderr, message, `${args.join(' ')}: ${run.stderr}`);
        assertReadable(run.stderr);
      }
      const made = (await store.apiKeys.list()).filter((k) => k.name === tag || k.tenant === tag);
      assert.deepEqual(made, [], 'no key was created');
    });

    it('exits 1 for revoking a key that does not exist, saying so', async () => {
      const run = await apiKey(env, 'revoke', 'key_000000000000');
      assertExit(run, 1, 'revoke of an unknown id');
      assert.match(run.stderr, /No key with id "key_000000000000"/);
      assertReadable(run.stderr);
      assertExit(await apiKey(env, 'revoke'), 2, 'revoke without an id');
    });
  });
}
