/**
 * Fuzzing: schemathesis (pinned in `scripts/fuzz-requirements.txt`, installed into `.venv-fuzz` by
 * `.ci/run`) reads `/openapi.json` from a real listening API and runs every check it has, in every
 * phase (examples, coverage, fuzzing, stateful; positive and negative data), with a fixed seed and
 * a bounded number of examples. The spec and the code must agree: the run ends with 0 failures.
 *
 * It calls with real tenant keys. Tenant A makes every request; tenant B is A's peer, so that
 * `object_level_authorization` replays A's reads of A's objects as B (B must not get them). The
 * keys reach schemathesis in a Web Fuzzing Commons auth file, the only way to name peers.
 *
 * The API is the real app over real Temporal and a fresh SQLite store, on a listening port. Its
 * task queue has no worker: imports it starts just wait, which is all the status and action routes
 * need. Status comes from the memo after a 200 ms query timeout (the path it takes whenever no
 * worker answers) rather than after the production 2 s on each of hundreds of requests.
 *
 * Without `.venv-fuzz` (a laptop that never ran `.ci/run`) the test is skipped and says how to
 * make it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { storeCases, uniqueId } from './support/harness';
import { readProviderSettings } from '../providers';
import { connectOptions, createTestApp, serveApp } from './support/api';

const PROJECT_DIR = path.resolve(__dirname, '..');
const SCHEMATHESIS = path.join(PROJECT_DIR, '.venv-fuzz', 'bin', 'schemathesis');
const REQUIREMENTS = path.join(PROJECT_DIR, 'scripts', 'fuzz-requirements.txt');
const CONFIG = path.join(PROJECT_DIR, 'schemathesis.toml');
const LOG = path.join(PROJECT_DIR, 'test', 'artifacts', 'fuzz-api.log');

/** Test cases per API operation and phase, and the seed: the same run every time. */
const MAX_EXAMPLES = 40;
const SEED = 42;
/** A run takes a minute or two on two cores; past this something hangs. */
const RUN_TIMEOUT_MS = 300_000;

const PREPARE = 'python3 -m venv .venv-fuzz && .venv-fuzz/bin/pip install -r scripts/fuzz-requirements.txt';
const SKIP = fs.existsSync(SCHEMATHESIS)
  ? false
  : `schemathesis is not installed in .venv-fuzz: run .ci/run, or \`${PREPARE}\``;

/** The schemathesis version `scripts/fuzz-requirements.txt` pins. */
function pinnedVersion(): string {
  const match = /^schemathesis==(\S+)$/m.exec(fs.readFileSync(REQUIREMENTS, 'utf8'));
  assert.ok(match, `${REQUIREMENTS} must pin schemathesis==X`);
  return match[1]!;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs `.venv-fuzz/bin/schemathesis args…` in `cwd` with `env` added, stdout and stderr together; killed after `timeoutMs`. */
function schemathesis(args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env, NO_COLOR: '1', COLUMNS: '120' },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n[fuzz test] schemathesis still running after ${timeoutMs / 1000} s: killed\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('fuzzing the API from its OpenAPI document (schemathesis)', { skip: SKIP }, () => {
  let store: Store;
  let server: Awaited<ReturnType<typeof serveApp>> | undefined;
  let url: string;
  /** Tenant A's key (every request) and tenant B's (A's peer). */
  const keys = { a: '', b: '' };
  /** Requests that came with tenant B's key: object_level_authorization's probes. */
  let callsAsB = 0;
  let workDir: string;
  /** One real import of tenant A, for the route that only has something to check on an import. */
  let importId = '';

  before(async () => {
    store = await storeCases()[0]!.open();
    // Tenants of their own: the fuzzer's imports and erasures touch nobody else's workflows.
    for (const who of ['a', 'b'] as const) {
      const tenant = uniqueId(`fuzz-${who}`);
      keys[who] = (await store.apiKeys.create({ scope: 'tenant', tenant, name: `schemathesis ${who}` })).key;
    }
    const taskQueue = uniqueId('fuzz');
    // A short status query: with no worker on the queue, every status read answers from the memo.
    // Event streams of imports that never end (no worker) close after a second, as they do after
    // five minutes in production: schemathesis reads each answer to its end.
    // Connect sessions with clients of their own at every OAuth provider; disconnecting revokes at a
    // port where nothing listens (refused at once), never at Google (Microsoft offers no revocation).
    const providers = readProviderSettings({
      GOOGLE_CLIENT_ID: 'fuzz-client',
      GOOGLE_CLIENT_SECRET: 'fuzz-secret',
      GOOGLE_REVOKE_URL: 'http://127.0.0.1:9/revoke',
      MICROSOFT_CLIENT_ID: 'fuzz-client',
      MICROSOFT_CLIENT_SECRET: 'fuzz-secret',
    });
    let app: Awaited<ReturnType<typeof createTestApp>>['app'] | undefined;
    server = await serveApp(async (serverUrl) => {
      ({ app } = await createTestApp({
        store,
        taskQueue,
        imports: { queryTimeoutMs: 200 },
        events: { maxStreamMs: 1_000 },
        connect: connectOptions(serverUrl, providers),
      }));
      const built = app;
      return {
        fetch: (request: Request) => {
          if (request.headers.get('authorization') === `Bearer ${keys.b}`) callsAsB++;
          return built.fetch(request);
        },
      };
    });
    url = server.url;
    assert.ok(app);
    const started = await app.request('/v1/imports', {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: uniqueId('fuzz-user'), source: { provider: 'google-people', accessToken: 'fuzz-token' } }),
    });
    const answer = await started.text();
    assert.equal(started.status, 202, `starting the fuzz run's own import answered ${started.status}: ${answer}`);
    importId = (JSON.parse(answer) as { importId: string }).importId;
    // The run's own files (auth, config) and whatever schemathesis caches: not in the project.
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-fuzz-'));
  });

  after(async () => {
    await server?.close();
    await store?.close();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('passes every check with a fixed seed: 0 failures', { timeout: RUN_TIMEOUT_MS + 30_000 }, async () => {
    const version = await schemathesis(['--version'], workDir, 30_000);
    const pinned = pinnedVersion();
    assert.ok(
      version.output.includes(`version ${pinned}`),
      `.venv-fuzz has ${version.output.trim()}, scripts/fuzz-requirements.txt pins ${pinned}: \`.venv-fuzz/bin/pip install -r scripts/fuzz-requirements.txt\``,
    );

    // The keys, as a Web Fuzzing Commons auth document: one identity per tenant.
    const authFile = path.join(workDir, 'auth.json');
    const identity = (name: string, key: string) => ({
      name,
      fixedHeaders: [{ name: 'Authorization', value: `Bearer ${key}` }],
    });
    fs.writeFileSync(
      authFile,
      JSON.stringify({ schemaVersion: '1.0', auth: [identity('tenant-a', keys.a), identity('tenant-b', keys.b)] }),
      { mode: 0o600 },
    );
    // The project's configuration plus this run's identities: A makes every request, B is A's peer.
    const config = path.join(workDir, 'schemathesis.toml');
    fs.writeFileSync(
      config,
      `${fs.readFileSync(CONFIG, 'utf8')}\n` +
        `[auth.wfc]\npath = ${JSON.stringify(authFile)}\nuser = "tenant-a"\npeers = ["tenant-a", "tenant-b"]\n`,
    );

    const args = [
      '--config-file', config,
      'run', `${url}/openapi.json`,
      '--checks', 'all',
      '--max-examples', String(MAX_EXAMPLES),
      '--seed', String(SEED),
      // One worker: the same seed gives the same requests in the same order.
      '--workers', '1',
      // No example database: what an earlier run found must not change this one.
      '--generation-database', 'none',
      '--request-timeout', '10',
    ];
    const run = await schemathesis(args, workDir, RUN_TIMEOUT_MS, { FUZZ_IMPORT_ID: importId });
    fs.mkdirSync(path.dirname(LOG), { recursive: true });
    // Test keys of a throwaway store, but keep them out of files all the same.
    const output = run.output.replaceAll(keys.a, '<key of tenant A>').replaceAll(keys.b, '<key of tenant B>');
    fs.writeFileSync(LOG, output);
    assert.equal(
      run.code,
      0,
      `schemathesis exited with ${run.code ?? run.signal} (output also in ${path.relative(PROJECT_DIR, LOG)}):\n${output}`,
    );
    assert.match(output, /No issues found/, `schemathesis exited 0 without saying it found no issues:\n${output}`);
    assert.match(output, /✅ Stateful/, `the stateful phase did not run and pass:\n${output}`);
    assert.ok(
      callsAsB > 0,
      `object_level_authorization never asked as tenant B: the [auth.wfc] peers did not take effect:\n${output}`,
    );
  });
});
