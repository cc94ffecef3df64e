/**
 * Sync schedules: `PUT /v1/users/{userId}/sync` makes a Temporal Schedule that starts (or joins)
 * the user's import under its one workflow ID; a short interval fires it and its incremental import
 * completes; a second PUT replaces it; GET shows the interval and next run times; DELETE and
 * erasure remove it. The `temporal schedule` commands of docs/operations.md run word for word.
 * A real worker on the run's dev server, the demo provider, the API through `app.request()`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Worker } from '@temporalio/worker';
import { createCodecApp } from '../api/codec';
import { createPayloadCodec } from '../encryption/payload-codec';
import { parsePayloadKeys } from '../config/parse';
import type { createApp } from '../api/app';
import { SyncDeleted, SyncList, SyncView } from '../api/hooks/schemas';
import { ErasureView } from '../api/schemas';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import { EraseUserResult } from '../workflows/contract';
import { createTestApp, expectError, expectImport, expectJson, type ApiResponse } from './support/api';
import { UPLOAD_EXPIRY_COMMANDS } from './support/documented-commands';
import { NAMESPACE, startWorker, storeCases, temporal, temporalAddress, TEST_PAYLOAD_KEYS, uniqueId, waitFor } from './support/harness';

const CONTACTS = 150;
const SOURCE = { provider: 'google-people', accessToken: 'demo-token' } as const;
const HOUR_MS = 3_600_000;
const run = promisify(execFile);

/** The `temporal schedule` commands of docs/operations.md, character for character. */
const DOCUMENTED = {
  list: 'temporal schedule list',
  describe: 'temporal schedule describe --schedule-id sync/<tenant>/google-people/<user-id>',
  trigger: 'temporal schedule trigger --schedule-id sync/<tenant>/google-people/<user-id>',
} as const;

/** The codec server the commands decode through, as docs/operations.md says to export it (set in `before`). */
let codecEnv: NodeJS.ProcessEnv = {};

/** Runs a documented command, placeholders filled, with the connection flags added. */
async function runDocumented(command: string, vars: { tenant: string; 'user-id': string }): Promise<string> {
  const filled = command.replace(/<(tenant|user-id)>/g, (_whole, name: 'tenant' | 'user-id') => vars[name]);
  const [, ...args] = filled.split(' ');
  const argv = [...args, '--address', await temporalAddress(), '--namespace', NAMESPACE];
  try {
    return (await run(resolveTemporalCli(), argv, { timeout: 30_000, env: { ...process.env, ...codecEnv } })).stdout;
  } catch (err) {
    throw new Error(`\`temporal ${argv.join(' ')}\` failed: ${String(err)}\n${(err as { stderr?: string }).stderr ?? ''}`);
  }
}

describe('docs/operations.md', () => {
  it('shows the temporal schedule commands these tests run', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'operations.md'), 'utf8');
    const lines = doc.split('\n').map((line) => line.trim());
    for (const command of Object.values(DOCUMENTED)) assert.ok(lines.includes(command), `docs/operations.md does not show \`${command}\``);
    const documented = lines.filter((line) => line.startsWith('temporal schedule '));
    const run: string[] = [...Object.values(DOCUMENTED), ...Object.values(UPLOAD_EXPIRY_COMMANDS)];
    for (const line of documented) assert.ok(run.includes(line), `docs/operations.md shows \`${line}\`, which no test runs`);
  });
});

for (const storeCase of storeCases()) {
  describe(`sync schedules (${storeCase.name})`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let store: Store;
    let worker: Worker;
    let workerRun: Promise<void>;
    let app: ReturnType<typeof createApp>;
    const tenant = uniqueId(`sync-${storeCase.name}`).toLowerCase();
    let key = '';
    const users: string[] = [];
    let codecServer: ServerType | undefined;

    async function call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
      const res = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
    }
    const syncsOf = async (userId: string) => expectJson(await call('GET', `/v1/users/${userId}/sync`), 200, SyncList).items;
    const newUser = (prefix: string) => {
      const userId = uniqueId(prefix);
      users.push(userId);
      return userId;
    };

    before(async () => {
      provider = await startDemoProvider({ contacts: CONTACTS });
      store = await storeCase.open();
      const taskQueue = uniqueId('schedules');
      worker = await startWorker({ store, providerUrl: provider.url, taskQueue });
      workerRun = worker.run();
      key = (await store.apiKeys.create({ scope: 'tenant', tenant, name: 'schedules test' })).key;
      // Seconds allowed here, so a schedule fires within the test.
      ({ app } = await createTestApp({ store, taskQueue, imports: { statusFreshMs: 0, statusStaleMs: 0 }, schedules: { minEveryMs: 1_000 } }));
      // The codec server the API serves, over the test keyring; on loopback for this file alone, so
      // it asks for no operator key (creating one would change other files' APIs on a shared database).
      const codecApp = createCodecApp({ codec: createPayloadCodec(parsePayloadKeys('TEST_PAYLOAD_KEYS', TEST_PAYLOAD_KEYS)), authorize: () => Promise.resolve({ ok: true, caller: { tenant, keyId: null } }), corsOrigins: [] });
      codecServer = await new Promise<ServerType>((resolve) => {
        const s = serve({ fetch: codecApp.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      codecEnv = {
        TEMPORAL_CODEC_ENDPOINT: `http://127.0.0.1:${(codecServer.address() as AddressInfo).port}/codec`,
        TEMPORAL_CODEC_AUTH: 'Bearer test',
      };
    });
    after(async () => {
      // A schedule left behind by a failed assertion would keep starting imports.
      for (const userId of users) await call('DELETE', `/v1/users/${userId}/sync`).catch(() => undefined);
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await provider?.close();
      await store?.close();
      await new Promise<void>((resolve) => (codecServer ? codecServer.close(() => resolve()) : resolve()));
    });

    it('fires every second: its run starts the import, and a later one runs incrementally and completes', async () => {
      const userId = newUser('often');
      const created = expectJson(await call('PUT', `/v1/users/${userId}/sync`, { every: '1s', source: SOURCE }), 201, SyncView);
      assert.equal(created.scheduleId, `sync/${tenant}/google-people/${userId}`);
      assert.equal(created.every, '1s');
      assert.ok(created.nextRunTimes.length > 0, 'next run times are shown');

      // The first import reads everything (no sync token yet); a later one reads what changed.
      const incremental = await waitFor(async () => {
        const [sync] = await syncsOf(userId);
        if (!sync?.lastImportId) return undefined;
        const view = expectImport(await call('GET', `/v1/imports/${sync.lastImportId}`), 200);
        return view.state === 'completed' && view.mode === 'incremental' && view;
      }, 'a scheduled incremental import to complete');
      assert.equal(incremental.workflowId, `import-contacts/${tenant}/google-people/${userId}`, 'under the import\'s one workflow ID');
      assert.equal(await store.tenant(tenant).countContacts(userId), CONTACTS);
      const deleted = expectJson(await call('DELETE', `/v1/users/${userId}/sync`), 200, SyncDeleted);
      assert.deepEqual(deleted.deleted, ['google-people']);
    });

    it('replaces the schedule on a second PUT, shows it in GET and the CLI, and DELETE removes it', async () => {
      const userId = newUser('daily');
      expectJson(await call('PUT', `/v1/users/${userId}/sync`, { every: '6h', source: SOURCE }), 201, SyncView);
      const replaced = expectJson(await call('PUT', `/v1/users/${userId}/sync`, { every: '2h', source: SOURCE }), 200, SyncView);
      assert.equal(replaced.every, '2h');
      assert.equal(replaced.jitterSeconds, 600, 'a tenth of the interval, at most 10 minutes');

      const [shown] = await syncsOf(userId);
      assert.ok(shown);
      assert.equal(shown.every, '2h');
      const times = shown.nextRunTimes.map((t) => Date.parse(t));
      assert.ok(times.length >= 2, 'several next run times');
      // Temporal applies the jitter to the times it announces: two hours apart, give or take it.
      assert.ok(Math.abs(times[1]! - times[0]! - 2 * HOUR_MS) <= shown.jitterSeconds * 1000, `two hours apart (got ${shown.nextRunTimes.join(', ')})`);
      assert.ok(times[0]! > Date.now() - 60_000 && times[0]! <= Date.now() + 2 * HOUR_MS + shown.jitterSeconds * 1000, 'the next run is within the interval');

      // The credentials in the schedule's action are sealed, and the action itself encrypted.
      const { client } = await temporal();
      const description = await client.schedule.getHandle(shown.scheduleId).describe();
      const decoded = JSON.stringify(description.action.args);
      assert.match(decoded, /"sealedCredentials":"v2\./, 'sealed like an import\'s');
      assert.ok(!decoded.includes(SOURCE.accessToken), 'no token in clear, even decoded');
      const payload = description.raw.schedule?.action?.startWorkflow?.input?.payloads?.[0];
      assert.equal(Buffer.from(payload?.metadata?.encoding ?? []).toString(), 'binary/encrypted', 'encrypted by the payload codec');

      const vars = { tenant, 'user-id': userId };
      const listed = await waitFor(async () => {
        const out = await runDocumented(DOCUMENTED.list, vars);
        return out.includes(shown.scheduleId) && out;
      }, 'the schedule in `temporal schedule list`');
      assert.match(listed, /ScheduledSync/);
      const described = await runDocumented(DOCUMENTED.describe, vars);
      assert.match(described, new RegExp(shown.scheduleId.replace(/[/.-]/g, '\\$&')));
      assert.match(described, /ScheduledSync/);

      // Triggered now, whatever the interval: the import runs to the end.
      await runDocumented(DOCUMENTED.trigger, vars);
      const importId = await waitFor(async () => (await syncsOf(userId))[0]?.lastImportId ?? undefined, 'the triggered run to start an import');
      await waitFor(async () => expectImport(await call('GET', `/v1/imports/${importId}`), 200).state === 'completed', 'the triggered import to complete');

      const deleted = expectJson(await call('DELETE', `/v1/users/${userId}/sync`), 200, SyncDeleted);
      assert.deepEqual(deleted.deleted, ['google-people']);
      assert.deepEqual(await syncsOf(userId), []);
      assert.deepEqual(expectJson(await call('DELETE', `/v1/users/${userId}/sync`), 200, SyncDeleted).deleted, [], 'repeating it is harmless');
      await assert.rejects(runDocumented(DOCUMENTED.describe, vars), /not found|NotFound/i);
    });

    it('refuses what it cannot schedule', async () => {
      const userId = newUser('bad');
      expectError(await call('PUT', `/v1/users/${userId}/sync`, { every: '0h', source: SOURCE }), 422, 'validation_failed');
      expectError(await call('PUT', `/v1/users/${userId}/sync`, { every: '6h', source: { provider: 'file', uploadId: 'upl_x' } }), 422, 'validation_failed');
      expectError(await call('PUT', `/v1/users/${userId}/sync`, { every: '6h' }), 422, 'validation_failed');
      assert.deepEqual(await syncsOf(userId), []);
    });

    it("erasing the user deletes the user's schedules", async () => {
      const userId = newUser('erased');
      expectJson(await call('PUT', `/v1/users/${userId}/sync`, { every: '1h', source: SOURCE }), 201, SyncView);
      const accepted = expectJson(await call('DELETE', `/v1/users/${userId}`), 202, ErasureView);
      const { client } = await temporal();
      EraseUserResult.parse(await client.workflow.getHandle(accepted.workflowId).result());
      assert.deepEqual(await syncsOf(userId), []);
    });
  });
}
