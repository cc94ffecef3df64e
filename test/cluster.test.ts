/**
 * The production-shaped deployment: `npm run cluster` brings up Temporal's four
 * services on PostgreSQL, two workers and two APIs; the documented operator commands
 * (test/operations-*.test.ts, `temporal` and `tctl`) pass against it; `npm run cluster` stops
 * cleanly on Ctrl-C; and the chaos short form (`npm run chaos`, 3 runs of 50,000 contacts, every
 * fault kind at least once) ends every run with exactly N contacts, none doubled, none stuck, while
 * the hostile tenants' imports (a dribbling source, an endless one) beside them end as the limits
 * say: waiting with their reason, or failed after the give-up with their type.
 *
 * Needs the Temporal server built into `.temporal/bin` (`npm run cluster` builds it; `.ci/run`
 * does before `npm test`) and a PostgreSQL of its own that the chaos runs may restart:
 * `CLUSTER_DATABASE_URL` and `CLUSTER_TEMPORAL_DB_URL`, as `scripts/cluster-postgres.sh` prints
 * them. Skips, saying which, when either is missing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { describe, it } from 'node:test';
import { clusterPorts } from '../scripts/cluster-parts';
import { parseTemporalDbUrl, serverModuleDir, TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL_BIN, writeServiceConfigs } from '../scripts/cluster-temporal';
import { waitFor } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const DATABASE_URL = process.env.CLUSTER_DATABASE_URL;
const TEMPORAL_DB_URL = process.env.CLUSTER_TEMPORAL_DB_URL;

function skipReason(): string | false {
  if (!fs.existsSync(TEMPORAL_SERVER_BIN) || !fs.existsSync(TEMPORAL_SQL_TOOL_BIN)) {
    return 'the Temporal server is not built (.temporal/bin/temporal-server): run `npm run cluster` once, or .ci/run';
  }
  if (!DATABASE_URL || !TEMPORAL_DB_URL) {
    return 'CLUSTER_DATABASE_URL and CLUSTER_TEMPORAL_DB_URL are not set: run scripts/cluster-postgres.sh (root) and export what it prints';
  }
  return false;
}
const SKIP = skipReason();

/** Settings of the test run (its dev server, its store) that must not reach the cluster's processes. */
const NOT_INHERITED = /^(TEMPORAL_|GOOGLE_PEOPLE_BASE_URL$|DATABASE_URL$|TOKEN_ENCRYPTION_KEY$|PAYLOAD_ENCRYPTION_KEYS$|DEMO_|PORT$|WORKER_METRICS_ADDRESS$)/;

function clusterEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!NOT_INHERITED.test(key)) env[key] = value;
  return { ...env, DATA_DIR: dataDir, DATABASE_URL, TEMPORAL_DB_URL };
}

interface Child {
  process: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

/** `node --import tsx <args>` in a process group of its own, every line kept. */
function node(args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) readline.createInterface({ input: stream }).on('line', (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, lines, exited };
}

/** Every process whose command line or environment names `dataDir`: what one cluster started. */
function processesOf(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      try {
        if (fs.readFileSync(path.join('/proc', entry, file), 'latin1').includes(dataDir)) {
          pids.push(Number(entry));
          break;
        }
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return pids;
}

/**
 * Stops a cluster script as Ctrl-C would (it stops its parts in order), then kills whatever of
 * its `dataDir` is still running: a failed test must not leave a cluster on the shared databases
 * for the next one to meet.
 */
async function stopAll(child: Child, dataDir: string): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) {
    process.kill(child.process.pid!, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([child.exited, new Promise((resolve) => (timer = setTimeout(resolve, 90_000)))]);
    clearTimeout(timer);
  }
  for (const pid of processesOf(dataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

describe('the cluster', { skip: SKIP, timeout: 1_500_000 }, () => {
  it("turns Temporal's task-queue fairness on in its dynamic config, and off only when told (the fairness bench)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-cluster-config-'));
    try {
      const { temporal } = await clusterPorts({ temporal: 17_000, ui: 0, api: 0, provider: 0 }, 0);
      const moduleDir = serverModuleDir();
      const fairnessOf = () => /\nmatching\.enableFairness:\n {2}- value: (\w+)\n/.exec(fs.readFileSync(path.join(dir, 'config', 'dynamic.yaml'), 'utf8'))?.[1];
      writeServiceConfigs(dir, moduleDir, parseTemporalDbUrl(TEMPORAL_DB_URL), temporal);
      assert.equal(fairnessOf(), 'true');
      writeServiceConfigs(dir, moduleDir, parseTemporalDbUrl(TEMPORAL_DB_URL), temporal, { fairness: false });
      assert.equal(fairnessOf(), 'false');
      assert.match(fs.readFileSync(path.join(dir, 'config', 'dynamic.yaml'), 'utf8'), /matching\.numTaskqueueReadPartitions:\n {2}- value: 1\n/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the documented temporal and tctl commands against npm run cluster, which then stops cleanly', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-cluster-'));
    const cluster = node([path.join(ROOT, 'scripts', 'cluster.ts')], {
      ...clusterEnv(dataDir),
      CLUSTER_TEMPORAL_PORT: '0',
      CLUSTER_UI_PORT: '0',
      CLUSTER_API_PORT: '0',
      CLUSTER_PROVIDER_PORT: '0',
    });
    try {
      const ready = await waitFor(
        () => cluster.process.exitCode === null ? cluster.lines.find((line) => line.startsWith('cluster: ready.')) : assert.fail(`npm run cluster exited:\n${cluster.lines.slice(-30).join('\n')}`),
        'npm run cluster to say it is ready',
        600_000,
      );
      const address = /Temporal (\S+) \(TEMPORAL_ADDRESS\)/.exec(ready)?.[1];
      assert.ok(address, `no Temporal address in "${ready}"`);
      for (const part of ['temporal-history', 'temporal-matching', 'temporal-frontend', 'temporal-worker', 'worker-1', 'worker-2', 'api-1', 'api-2']) {
        assert.ok(fs.existsSync(path.join(dataDir, 'cluster', 'logs', `${part}.log`)), `${part} ran (its log exists)`);
      }
      const ui = cluster.lines.find((line) => line.startsWith('cluster: Web UI ') || line.startsWith('cluster: no Web UI'));
      const uiUrl = /^cluster: Web UI (\S+)/.exec(ui ?? '')?.[1];
      if (uiUrl) {
        const page = await fetch(uiUrl);
        assert.equal(page.status, 200, `the Web UI at ${uiUrl} answers`);
        assert.match(await page.text(), /<html/i);
      }

      // The operator's commands, word for word, with the cluster as their server.
      // NODE_TEST_CONTEXT tells a test runner it runs inside another one: this one is on its own.
      const { NODE_TEST_CONTEXT: _inner, ...outer } = process.env;
      const operationsTests = ['operations-doc', 'operations-temporal', 'operations-tctl'].map((name) => path.join(ROOT, 'test', `${name}.test.ts`));
      const ops = node(['--test', '--test-reporter=spec', ...operationsTests], {
        ...outer,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: 'default',
      });
      const code = await ops.exited;
      const output = ops.lines.join('\n');
      assert.equal(code, 0, `the operations tests failed against the cluster:\n${output.slice(-6000)}`);
      assert.match(output, /\bskipped 0\b/, `no command skipped against the cluster (is tctl built?):\n${output.slice(-2000)}`);
      assert.match(output, /\bfail 0\b/);

      process.kill(cluster.process.pid!, 'SIGINT');
      assert.equal(await cluster.exited, 0, `npm run cluster stopped with an error:\n${cluster.lines.slice(-20).join('\n')}`);
      for (const part of ['api-1', 'worker-1', 'temporal-frontend', 'temporal-history']) {
        assert.ok(cluster.lines.includes(`start: stopping ${part}`), `it stopped ${part} on Ctrl-C`);
      }
    } finally {
      await stopAll(cluster, dataDir);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('loses, doubles and strands nothing under the chaos short form, beside tenants whose sources dribble or never end', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-import-chaos-'));
    const chaos = node(
      [path.join(ROOT, 'scripts', 'chaos.ts'), '--runs', '3', '--seed', '13', '--min', '50000', '--max', '50000', '--bound-seconds', '400'],
      clusterEnv(dataDir),
    );
    try {
      const code = await chaos.exited;
      const output = chaos.lines.join('\n');
      const resultLine = chaos.lines.find((line) => line.startsWith('chaos: result '));
      assert.ok(resultLine, `chaos printed no result:\n${output.slice(-4000)}`);
      const result = JSON.parse(resultLine.slice('chaos: result '.length)) as {
        runs: number;
        faults: Record<string, number>;
        lost: number;
        doubled: number;
        stuck: number;
        statusErrors: number;
        backwards: number;
        hostile: { imports: Record<string, number>; waiting: number; failed: number; wrong: number };
        bystander: { contacts: number; aloneSeconds: number[]; besideSeconds: number[] };
      };
      console.log(output.slice(output.indexOf('\nrun ')));
      assert.equal(result.runs, 3);
      assert.deepEqual({ lost: result.lost, doubled: result.doubled, stuck: result.stuck }, { lost: 0, doubled: 0, stuck: 0 }, output);
      assert.equal(result.statusErrors, 0, `wrong status answers:\n${output}`);
      for (const [kind, count] of Object.entries(result.faults)) assert.ok(count >= 1, `no ${kind} fault fired in 3 runs:\n${output}`);
      // Four dribbling and two endless imports a run, each parked with its reason or given up with its type.
      assert.deepEqual(result.hostile.imports, { 'chaos-dribble': 12, 'chaos-endless': 6 });
      assert.equal(result.hostile.wrong, 0, `hostile imports ended otherwise than their limits say:\n${output}`);
      assert.equal(result.hostile.waiting + result.hostile.failed, 18, output);
      // The bystander was timed alone and beside them in every run (the figures themselves are the table's, not asserted).
      assert.equal(result.bystander.aloneSeconds.length, 3);
      assert.equal(result.bystander.besideSeconds.length, 3);
      for (const seconds of [...result.bystander.aloneSeconds, ...result.bystander.besideSeconds]) assert.ok(seconds > 0, output);
      assert.equal(code, 0, output);
    } finally {
      await stopAll(chaos, dataDir);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
