/**
 * The operator's path, without our API: the commands `docs/operations.md` documents, run word for
 * word as subprocesses (`temporal`, and `tctl` where it is installed) against a real running import
 * on the run's dev server, with assertions on what they print and on what the API and the store
 * then say. Payloads are encrypted, so the commands run as the doc's "To decode in every command"
 * says: with `TEMPORAL_CODEC_ENDPOINT` and `TEMPORAL_CODEC_AUTH` exported, pointing at a codec
 * server of this file's own with an operator key (`--codec_endpoint`/`--codec_auth` for tctl).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TerminatedFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { createAuthenticator } from '../api/auth';
import { createCodecApp } from '../api/codec';
import { createPayloadCodec } from '../encryption/payload-codec';
import { parsePayloadKeys } from '../config/parse';
import type { ContactStore, Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import { FAILURE_TYPES } from '../workflows/contract';
import { startApi, type ImportView, type TestApi } from './support/api';
import {
  NAMESPACE,
  storeCases,
  startWorker,
  temporal,
  temporalAddress,
  TEST_PAYLOAD_KEYS,
  uniqueId,
  waitFor,
} from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const OPERATIONS_DOC = path.join(ROOT, 'docs', 'operations.md');
const N = 1_000;
const run = promisify(execFile);
/** The tenant of this file's API key: every workflow ID here is `import-contacts/ops-cli/…`. */
const TENANT = 'ops-cli';

/**
 * The `temporal` commands of `docs/operations.md`, character for character. `<user-id>`,
 * `<event-id>` and `<why>` are the placeholders an operator fills in; the test fills them the same
 * way and adds only the connection flags.
 */
const TEMPORAL = {
  listByUser: `temporal workflow list --query "ImportUserId = '<user-id>'"`,
  listFailed: `temporal workflow list --query "ExecutionStatus = 'Failed'"`,
  listPaused: `temporal workflow list --query "ExecutionStatus = 'Running' AND ImportState = 'paused'"`,
  describe: 'temporal workflow describe --workflow-id import-contacts/<tenant>/google-people/<user-id>',
  show: 'temporal workflow show --workflow-id import-contacts/<tenant>/google-people/<user-id>',
  showDetailed: 'temporal workflow show --workflow-id import-contacts/<tenant>/google-people/<user-id> --detailed',
  query: 'temporal workflow query --workflow-id import-contacts/<tenant>/google-people/<user-id> --name status',
  pause: 'temporal workflow signal --workflow-id import-contacts/<tenant>/google-people/<user-id> --name pause',
  resume: 'temporal workflow signal --workflow-id import-contacts/<tenant>/google-people/<user-id> --name resume',
  cancel: 'temporal workflow cancel --workflow-id import-contacts/<tenant>/google-people/<user-id>',
  terminate: 'temporal workflow terminate --workflow-id import-contacts/<tenant>/google-people/<user-id> --reason "<why>"',
  resetLast:
    'temporal workflow reset --workflow-id import-contacts/<tenant>/google-people/<user-id> --type LastWorkflowTask --reason "<why>"',
  resetToEvent:
    'temporal workflow reset --workflow-id import-contacts/<tenant>/google-people/<user-id> --event-id <event-id> --reason "<why>"',
} as const;

/** The `tctl` (v1.18) commands of `docs/operations.md`, character for character. */
const TCTL = {
  listByUser: `tctl workflow list --query "ImportUserId = '<user-id>'"`,
  listFailed: `tctl workflow list --query "ExecutionStatus = 'Failed'"`,
  listPaused: `tctl workflow list --query "ExecutionStatus = 'Running' AND ImportState = 'paused'"`,
  describe: 'tctl workflow describe -w import-contacts/<tenant>/google-people/<user-id>',
  show: 'tctl workflow show -w import-contacts/<tenant>/google-people/<user-id>',
  query: 'tctl workflow query -w import-contacts/<tenant>/google-people/<user-id> --qt status',
  pause: 'tctl workflow signal -w import-contacts/<tenant>/google-people/<user-id> -n pause',
  resume: 'tctl workflow signal -w import-contacts/<tenant>/google-people/<user-id> -n resume',
  cancel: 'tctl workflow cancel -w import-contacts/<tenant>/google-people/<user-id>',
  terminate: 'tctl workflow terminate -w import-contacts/<tenant>/google-people/<user-id> --reason "<why>"',
  resetToEvent: 'tctl workflow reset -w import-contacts/<tenant>/google-people/<user-id> --event_id <event-id> --reason "<why>"',
} as const;

type Vars = Partial<Record<'tenant' | 'user-id' | 'event-id' | 'why', string>>;

/** Shell-style words: whitespace splits, single or double quotes group (no escapes are documented). */
function words(command: string): string[] {
  const out: string[] = [];
  for (const match of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(match[1] ?? match[2] ?? match[3] ?? '');
  return out;
}

function fill(template: string, vars: Vars): string {
  return template.replace(/<(tenant|user-id|event-id|why)>/g, (whole, name: keyof Vars) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`the command ${template} needs a value for ${whole}`);
    return value;
  });
}

/** `tctl` on PATH, else where `.ci/run` installs it (`GOBIN=.temporal/bin`); undefined when neither. */
function findTctl(): string | undefined {
  const candidates = [
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'tctl')),
    path.join(ROOT, '.temporal', 'bin', 'tctl'),
  ];
  return candidates.find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

const TCTL_BIN = findTctl();
const TCTL_SKIP = TCTL_BIN
  ? false
  : 'tctl is not installed (not on PATH, not at .temporal/bin/tctl): `go install ' +
    'github.com/temporalio/tctl/cmd/tctl@v1.18.4`, which .ci/run does, is refused on this machine by the Go ' +
    'module proxy (403 "This module version is not available")';

/** Where the commands find the codec server, and the operator key they send it. */
interface CodecSettings {
  endpoint: string;
  auth: string;
}

/** Set once this file's codec server listens (the suite's `before`). */
let codec: CodecSettings | undefined;

/**
 * Runs a documented command with the connection flags added, decoding payloads through `codec`
 * ({@link codec}: exported as the doc says for `temporal`, tctl's global flags); fails with the command and its stderr.
 */
async function runDocumented(template: string, vars: Vars): Promise<string> {
  const [program, ...args] = words(fill(template, vars));
  assert.ok(codec, 'the codec server is not up yet');
  const address = await temporalAddress();
  let file: string;
  let argv: string[];
  let env: NodeJS.ProcessEnv = process.env;
  if (program === 'temporal') {
    file = resolveTemporalCli();
    argv = [...args, '--address', address, '--namespace', NAMESPACE];
    env = { ...process.env, TEMPORAL_CODEC_ENDPOINT: codec.endpoint, TEMPORAL_CODEC_AUTH: codec.auth };
  } else if (program === 'tctl' && TCTL_BIN) {
    file = TCTL_BIN;
    // tctl v1 takes its global flags before the command.
    argv = ['--address', address, '--namespace', NAMESPACE, '--codec_endpoint', codec.endpoint, '--codec_auth', codec.auth, ...args];
  } else {
    throw new Error(`cannot run ${template}: no ${program} here`);
  }
  try {
    const { stdout } = await run(file, argv, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024, env });
    return stdout;
  } catch (err) {
    const { stderr, stdout } = err as { stderr?: string; stdout?: string };
    throw new Error(`\`${program} ${argv.join(' ')}\` failed: ${String(err)}\n${stderr ?? ''}${stdout ?? ''}`);
  }
}

/** The first JSON object in a command's output (query results are printed as JSON). */
function jsonIn(output: string): Record<string, unknown> {
  const start = output.indexOf('{');
  const end = output.lastIndexOf('}');
  assert.ok(start >= 0 && end > start, `expected JSON in the output, got:\n${output}`);
  return JSON.parse(output.slice(start, end + 1)) as Record<string, unknown>;
}

/** Event ids and types from `temporal workflow show` (its table: id, time, type). */
function historyTable(output: string): Array<{ id: number; type: string }> {
  const rows: Array<{ id: number; type: string }> = [];
  for (const line of output.split('\n')) {
    const match = /^\s*(\d+)\s+\S+\s+([A-Za-z]+)\s*$/.exec(line);
    if (match) rows.push({ id: Number(match[1]), type: match[2]! });
  }
  return rows;
}

/** What the doc tells an operator to do: reset to the WorkflowTaskCompleted just above the last batch. */
function resetPointBeforeLastBatch(history: Array<{ id: number; type: string }>): number {
  const lastBatch = history.findLastIndex((event) => event.type === 'ActivityTaskScheduled');
  assert.ok(lastBatch > 0, 'the history has a scheduled batch');
  const point = history.slice(0, lastBatch).findLast((event) => event.type === 'WorkflowTaskCompleted');
  assert.ok(point, 'a WorkflowTaskCompleted precedes the last batch');
  return point.id;
}

/**
 * Fenced shell lines of the doc that run a CLI. Those passing `--codec-endpoint` are
 * test/codec-server.test.ts's: it runs them against its own codec server; `temporal schedule` ones
 * are test/schedules.test.ts's.
 */
function documentedCommands(program: 'temporal' | 'tctl'): string[] {
  const doc = fs.readFileSync(OPERATIONS_DOC, 'utf8');
  const blocks = [...doc.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`${program} `) && !line.includes('--codec-endpoint') && !line.startsWith('temporal schedule '));
}

describe('docs/operations.md', () => {
  for (const [program, commands] of [
    ['temporal', TEMPORAL],
    ['tctl', TCTL],
  ] as const) {
    it(`documents exactly the ${program} commands these tests run`, () => {
      const documented = documentedCommands(program);
      const tested: string[] = Object.values(commands);
      for (const line of documented) {
        assert.ok(tested.includes(line), `docs/operations.md shows \`${line}\`, which no test runs: test it or drop it`);
      }
      for (const line of tested) {
        assert.ok(documented.includes(line), `the tests run \`${line}\`, which docs/operations.md does not show`);
      }
    });
  }
});

describe('operating an import from the command line', () => {
  let provider: DemoProvider;
  let store: Store;
  /** The store as this file's tenant sees it. */
  let contacts: ContactStore;
  let api: TestApi;
  let worker: Worker;
  let workerRun: Promise<void>;
  let codecServer: ServerType | undefined;

  before(async () => {
    provider = await startDemoProvider({ contacts: N });
    const sqlite = storeCases().find((c) => c.name === 'sqlite')!;
    store = await sqlite.open();
    contacts = store.tenant(TENANT);
    // One task queue for this file's API and worker, apart from every other file's.
    const taskQueue = uniqueId('operations-cli');
    api = await startApi({ store, taskQueue, tenant: TENANT });
    worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
    workerRun = worker.run();
    // The codec server as the API serves it (api/main.ts): the test keyring, operator keys only.
    const { key: operatorKey } = await store.apiKeys.create({ scope: 'operator', name: 'operations-cli' });
    const operators = createAuthenticator({ keys: store.apiKeys, loopbackOnly: false });
    const codecApp = createCodecApp({
      codec: createPayloadCodec(parsePayloadKeys('TEST_PAYLOAD_KEYS', TEST_PAYLOAD_KEYS)),
      authorize: (authorization, origin) => operators.authenticate(authorization, 'operator', origin),
      corsOrigins: [],
    });
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: codecApp.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    codecServer = server;
    codec = { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/codec`, auth: `Bearer ${operatorKey}` };
  });
  after(async () => {
    provider?.configure({ faults: {} });
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await new Promise<void>((resolve) => {
      if (!codecServer) return resolve();
      codecServer.close(() => resolve());
      if ('closeAllConnections' in codecServer) codecServer.closeAllConnections();
    });
    await api?.close();
    await provider?.close();
    await store?.close();
  });
  /** Workflow IDs of the imports the running test started. */
  const startedThisTest: string[] = [];

  // Each test sets its own hold or revocation; none survives it, even when an assertion fails.
  beforeEach(() => provider.configure({ faults: {} }));
  // A test that fails half-way leaves its import running, held at the provider, where the next
  // test's hold and page counts would meet it: end it first.
  afterEach(async () => {
    const { client } = await temporal();
    for (const workflowId of startedThisTest.splice(0)) {
      const handle = client.workflow.getHandle(workflowId);
      if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('operations-cli test clean-up');
    }
    provider.configure({ faults: {} });
  });

  async function startImport(userId: string, accessToken = 'demo-token'): Promise<ImportView> {
    const { json: view } = await api.startImport({ userId, source: { provider: 'google-people', accessToken } });
    startedThisTest.push(view.workflowId);
    assert.equal(view.workflowId, `import-contacts/${TENANT}/google-people/${userId}`);
    return view;
  }

  const apiSays = (importId: string, state: ImportView['state']) =>
    waitFor(async () => {
      const status = await api.getImport(importId);
      return status.state === state && status;
    }, `the API to say ${state}`, 30_000);

  /** How the run `runId` of `workflowId` ended, as Temporal's client reports it. */
  async function failureOfRun(workflowId: string, runId: string): Promise<unknown> {
    const { client } = await temporal();
    const err = await client.workflow
      .getHandle(workflowId, runId, { followRuns: false })
      .result()
      .then(
        () => assert.fail(`run ${runId} of ${workflowId} completed; expected it to have failed`),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkflowFailedError, `expected a WorkflowFailedError, got ${String(err)}`);
    return err.cause;
  }

  /** Asserts that run `runId` failed with an ApplicationFailure of `type`. */
  async function assertFailedWith(workflowId: string, runId: string, type: string): Promise<void> {
    const cause = await failureOfRun(workflowId, runId);
    assert.ok(cause instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(cause)}`);
    assert.equal(cause.type, type, `run ${runId} failed with ${cause.type}: ${cause.message}`);
  }

  /** Visibility is eventually consistent: poll the listing until it shows the workflow id. */
  const listed = (template: string, vars: Vars, workflowId: string) =>
    waitFor(async () => {
      const output = await runDocumented(template, vars);
      return output.includes(workflowId) && output;
    }, `\`${fill(template, vars)}\` to list ${workflowId}`, 30_000);

  /**
   * Runs the test's part in the import `userId`, holding the provider at `holdFromOffset`: returns
   * once that many contacts are saved and the request for the next page waits at the provider.
   */
  async function runningImport(prefix: string, holdFromOffset = 200) {
    const userId = uniqueId(prefix);
    provider.configure({ faults: { holdFromOffset } });
    provider.resetStats();
    const started = await startImport(userId);
    await waitFor(
      async () => (await api.getImport(started.importId)).saved === holdFromOffset,
      `the import to stop at ${holdFromOffset} contacts`,
      30_000,
    );
    // The status moves when a batch ends; the next batch's first request may still be on its way.
    await waitFor(
      () => provider.stats.requests === provider.stats.pagesServed + 1,
      `the request for the page at ${holdFromOffset} to reach the provider`,
      30_000,
    );
    return { userId, importId: started.importId, workflowId: started.workflowId };
  }

  /**
   * An import of its own that failed for good: four pages saved and the fifth held, then the
   * provider refuses the token. The held page was let in before that, so it is saved too, and the
   * sixth page fails the import with ProviderUnauthenticated.
   */
  async function failedImport(prefix: string) {
    const running = await runningImport(prefix, 400);
    provider.configure({ faults: { revokedTokens: ['demo-token'] } });
    const failed = await apiSays(running.importId, 'failed');
    await assertFailedWith(running.workflowId, failed.runId, FAILURE_TYPES.providerUnauthenticated);
    return { ...running, failed };
  }

  it('finds, inspects, pauses and resumes an import until it has exactly N contacts', async () => {
    const { userId, importId, workflowId } = await runningImport('op-alice');
    const vars = { tenant: TENANT, 'user-id': userId };

    await listed(TEMPORAL.listByUser, vars, workflowId);

    const status = jsonIn(await runDocumented(TEMPORAL.query, vars));
    assert.equal(status.state, 'running');
    assert.equal(status.saved, 200);
    assert.equal(status.total, N);

    const described = await runDocumented(TEMPORAL.describe, vars);
    assert.match(described, new RegExp(`Import google-people contacts for user ${userId}`), 'describe shows the summary');
    assert.match(described, /ImportState/, 'describe shows the search attributes');
    assert.match(described, /Pending Activities: 1[\s\S]*importBatch/, 'describe shows the running batch');

    const history = await runDocumented(TEMPORAL.show, vars);
    assert.match(history, /WorkflowExecutionStarted/);
    assert.match(history, /ActivityTaskScheduled/);
    const detailed = await runDocumented(TEMPORAL.showDetailed, vars);
    assert.match(detailed, new RegExp(`Import google-people contacts for user ${userId}`), 'show --detailed has the summary');
    assert.match(detailed, /pages 3–4 · 100 contacts per page · 200 saved so far/, 'and the running batch');

    await runDocumented(TEMPORAL.pause, vars);
    // Pause takes effect between batches: let the held batch finish.
    provider.configure({ faults: {} });
    const paused = await apiSays(importId, 'paused');
    assert.equal(paused.saved, 400);
    assert.equal(jsonIn(await runDocumented(TEMPORAL.query, vars)).state, 'paused');
    await listed(TEMPORAL.listPaused, vars, workflowId);

    await runDocumented(TEMPORAL.resume, vars);
    const done = await apiSays(importId, 'completed');
    assert.equal(done.saved, N);
    assert.equal(await contacts.countContacts(userId), N, 'exactly N contacts after pause and resume');
  });

  it('cancels an import: the API says cancelled and keeps what was saved', async () => {
    const { userId, importId } = await runningImport('op-bob');
    const output = await runDocumented(TEMPORAL.cancel, { tenant: TENANT, 'user-id': userId });
    assert.match(output, /cancel/i);
    const cancelled = await apiSays(importId, 'cancelled');
    assert.equal(cancelled.saved, 200);
    assert.equal(await contacts.countContacts(userId), 200);
  });

  it('terminates an import: the API says failed, terminated by an operator', async () => {
    const { userId, importId, workflowId } = await runningImport('op-carol');
    await runDocumented(TEMPORAL.terminate, { tenant: TENANT, 'user-id': userId, why: 'operations-cli test' });
    const failed = await apiSays(importId, 'failed');
    assert.match(failed.error ?? '', /terminated/i);
    const cause = await failureOfRun(workflowId, failed.runId);
    assert.ok(cause instanceof TerminatedFailure, `expected the run to be terminated, got ${String(cause)}`);
    assert.match(await runDocumented(TEMPORAL.show, { tenant: TENANT, 'user-id': userId }), /WorkflowExecutionTerminated/);
  });

  it('resets a failed import: LastWorkflowTask fails again, the event before the failed batch re-runs it, and the API follows', async () => {
    const { userId, importId, workflowId, failed } = await failedImport('op-dave');
    assert.match(failed.error ?? '', /401/);
    assert.equal(failed.saved, 500);
    assert.equal(await contacts.countContacts(userId), 500, 'the failed import counts exactly what it saved');
    const vars = { tenant: TENANT, 'user-id': userId, why: 'provider fixed' };
    await listed(TEMPORAL.listFailed, vars, workflowId);

    // The cause is fixed outside the workflow's input (here: the provider accepts the token again).
    provider.configure({ faults: {} });

    // LastWorkflowTask replays the recorded activity failure: the run fails again, nothing is fetched.
    const requestsBefore = provider.stats.requests;
    assert.match(await runDocumented(TEMPORAL.resetLast, vars), /Resetting workflow/);
    await waitFor(
      async () => {
        const described = await runDocumented(TEMPORAL.describe, vars);
        return /LastResetTime/.test(described) && /Status\s+FAILED/.test(described);
      },
      'the LastWorkflowTask reset run to fail',
      30_000,
    );
    assert.equal(provider.stats.requests, requestsBefore, 'a LastWorkflowTask reset does not call the provider again');
    const { client } = await temporal();
    const failedAgain = await client.workflow.getHandle(workflowId).describe();
    assert.notEqual(failedAgain.runId, failed.runId, 'the reset made a new run');
    await assertFailedWith(workflowId, failedAgain.runId, FAILURE_TYPES.providerUnauthenticated);

    // Reset to the WorkflowTaskCompleted just above the failed batch: the batch runs again.
    const eventId = resetPointBeforeLastBatch(historyTable(await runDocumented(TEMPORAL.show, vars)));
    assert.match(await runDocumented(TEMPORAL.resetToEvent, { ...vars, 'event-id': String(eventId) }), /Resetting workflow/);
    await waitFor(
      async () => /Status\s+COMPLETED/.test(await runDocumented(TEMPORAL.describe, vars)),
      'the reset import to complete',
      30_000,
    );
    assert.equal(await contacts.countContacts(userId), N, 'the reset run saved the rest: exactly N contacts');
    const result = jsonIn((await runDocumented(TEMPORAL.describe, vars)).split(/Result\s+/)[1] ?? '');
    assert.equal(result.saved, N);

    // The importId from before the resets still names the import. The API may answer from its
    // last reading for up to a couple of seconds.
    const status = await apiSays(importId, 'completed');
    assert.equal(status.saved, N);
  });

  describe('with tctl', { skip: TCTL_SKIP }, () => {
    it('lists by ImportUserId, queries status with --qt, and a tctl pause makes the API say paused', async () => {
      const { userId, importId, workflowId } = await runningImport('op-tctl-erin');
      const vars = { tenant: TENANT, 'user-id': userId };
      await listed(TCTL.listByUser, vars, workflowId);

      const status = await runDocumented(TCTL.query, vars);
      assert.match(status, /"state":\s*"running"/);
      assert.match(status, /"saved":\s*200/);
      assert.match(await runDocumented(TCTL.describe, vars), /ImportState/);
      assert.match(await runDocumented(TCTL.show, vars), /ActivityTaskScheduled/);

      await runDocumented(TCTL.pause, vars);
      provider.configure({ faults: {} });
      const paused = await apiSays(importId, 'paused');
      assert.equal(paused.saved, 400);
      assert.match(await runDocumented(TCTL.query, vars), /"state":\s*"paused"/);
      await listed(TCTL.listPaused, vars, workflowId);

      await runDocumented(TCTL.resume, vars);
      const done = await apiSays(importId, 'completed');
      assert.equal(done.saved, N);
      assert.equal(await contacts.countContacts(userId), N);
    });

    it('cancels and terminates with tctl', async () => {
      const bob = await runningImport('op-tctl-frank');
      await runDocumented(TCTL.cancel, { tenant: TENANT, 'user-id': bob.userId });
      assert.equal((await apiSays(bob.importId, 'cancelled')).saved, 200);

      const carol = await runningImport('op-tctl-grace');
      await runDocumented(TCTL.terminate, { tenant: TENANT, 'user-id': carol.userId, why: 'operations-cli test' });
      const failed = await apiSays(carol.importId, 'failed');
      assert.match(failed.error ?? '', /terminated/i);
      const cause = await failureOfRun(carol.workflowId, failed.runId);
      assert.ok(cause instanceof TerminatedFailure, `expected the run to be terminated, got ${String(cause)}`);
    });

    it('resets a failed import to the event before the failed batch with tctl', async () => {
      const { userId, workflowId } = await failedImport('op-tctl-heidi');
      const vars = { tenant: TENANT, 'user-id': userId, why: 'provider fixed' };
      await listed(TCTL.listFailed, vars, workflowId);
      provider.configure({ faults: {} });
      const eventId = resetPointBeforeLastBatch(historyTable(await runDocumented(TEMPORAL.show, vars)));
      await runDocumented(TCTL.resetToEvent, { ...vars, 'event-id': String(eventId) });
      await waitFor(async () => (await contacts.countContacts(userId)) === N, 'the reset import to save every contact', 30_000);
    });
  });
});
