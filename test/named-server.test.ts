/**
 * A worker or API joins only a Temporal server that was named: with neither
 * `TEMPORAL_ADDRESS` nor a `temporal.toml` profile, it refuses to start, saying what to set, with
 * the exit code `npm start` does not restart. A worker also refuses a namespace it cannot run
 * imports in.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { NativeConnection } from '@temporalio/worker';
import { CONFIG_EXIT_CODE, ConfigError } from '../config/parse';
import { checkNamespace } from '../worker/preflight';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';

const ROOT = path.resolve(__dirname, '..');

describe('a worker or API with no Temporal server named', () => {
  // An empty home: no temporal.toml profile to find either.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'named-server-'));
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  function run(script: string): Promise<{ code: number | null; output: string }> {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TEMPORAL_')) env[key] = value;
    Object.assign(env, { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), DATA_DIR: path.join(home, 'data') });
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
  }

  for (const [part, script] of [
    ['worker', 'worker/main.ts'],
    ['API', 'api/main.ts'],
  ] as const) {
    it(`the ${part} refuses to start, saying to set TEMPORAL_ADDRESS or use npm start`, async () => {
      const { code, output } = await run(script);
      assert.equal(code, CONFIG_EXIT_CODE, `exit code ${code}:\n${output}`);
      assert.match(output, /No Temporal server is named: set TEMPORAL_ADDRESS/);
      assert.match(output, /npm start/);
      assert.ok(!fs.existsSync(path.join(home, 'data', 'contacts.db')), 'it opened nothing first');
    });
  }
});

describe('worker preflight', () => {
  const connection = (names: string[]) =>
    ({
      withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
      operatorService: {
        listSearchAttributes: async () => ({ customAttributes: Object.fromEntries(names.map((name) => [name, 1])) }),
      },
    }) as unknown as Pick<NativeConnection, 'operatorService' | 'withDeadline'>;

  it('refuses a namespace without our search attributes, saying to run temporal:setup', async () => {
    const [first, ...rest] = SEARCH_ATTRIBUTE_DEFINITIONS.map((a) => a.name);
    await assert.rejects(checkNamespace(connection(rest), 'prod'), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, new RegExp(`namespace "prod" lacks the search attributes ${first}`));
      assert.match(err.message, /npm run temporal:setup/);
      return true;
    });
  });

  it('accepts a namespace with them, and one whose attributes it may not list', async () => {
    await checkNamespace(connection(SEARCH_ATTRIBUTE_DEFINITIONS.map((a) => a.name)), 'prod');
    const forbidden = {
      withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
      operatorService: { listSearchAttributes: () => Promise.reject(new Error('7 PERMISSION_DENIED')) },
    } as unknown as Pick<NativeConnection, 'operatorService' | 'withDeadline'>;
    await checkNamespace(forbidden, 'prod');
  });
});
