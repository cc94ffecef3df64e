/**
 * The Temporal half of `npm run cluster`: the pinned server and its SQL tool built into
 * `.temporal/bin` (once), the `temporal` and `temporal_visibility` databases created and migrated
 * with the schema folders of that same module, one config file per service derived from the
 * module's `config/development-postgres12.yaml`, and each service (frontend, history, matching,
 * worker) as a supervised part of its own.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { describeExit, type PartSpec } from './supervisor';

const ROOT = path.resolve(__dirname, '..');

/** What `npm run cluster` runs, pinned: the versions `docs/deploy.md` and the chaos table speak of. */
export const CLUSTER_VERSIONS = {
  server: 'v1.29.1',
  uiServer: 'v2.56.4',
  /** ui-server v2.58.1 says `go >= 1.26.10`; Go fetches this toolchain itself when told to. */
  uiToolchain: 'go1.27.3',
} as const;

export const BIN_DIR = path.join(ROOT, '.temporal', 'bin');
export const TEMPORAL_SERVER_BIN = path.join(BIN_DIR, 'temporal-server');
export const TEMPORAL_SQL_TOOL_BIN = path.join(BIN_DIR, 'temporal-sql-tool');
export const TEMPORAL_UI_SERVER_BIN = path.join(BIN_DIR, 'temporal-ui-server');

/** Temporal's services, in the order they start (the front end last but one: it needs history). */
export const TEMPORAL_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

/**
 * History shards: fixed when the cluster's database is created and never changeable afterwards
 * (a workflow's shard is a hash of its id modulo this). 4 is enough to show the work spread over
 * shards on one machine; a production cluster picks its number once, for its largest future size.
 */
export const HISTORY_SHARDS = 4;

/** `go` on PATH, else where Debian's golang packages and the official tarball put it. */
export function findGo(): string | undefined {
  for (const candidate of ['go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/** `go install pkg@version` into a scratch GOBIN, then the binary moved to `target` (both are named after their folder, `server`). */
function goInstall(go: string, pkg: string, target: string, say: (line: string) => void, env: NodeJS.ProcessEnv = {}): void {
  const scratch = fs.mkdtempSync(path.join(BIN_DIR, '.install-'));
  try {
    say(`cluster: go install ${pkg} (a few minutes the first time; cached in ${path.relative(ROOT, BIN_DIR)} afterwards)`);
    execFileSync(go, ['install', pkg], { env: { ...process.env, ...env, GOBIN: scratch }, stdio: ['ignore', 'inherit', 'inherit'] });
    const [built] = fs.readdirSync(scratch);
    if (!built) throw new Error(`go install ${pkg} produced no binary`);
    fs.renameSync(path.join(scratch, built), target);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The server and SQL tool in `.temporal/bin`, built with `go install` unless already there.
 * Throws saying what to install when there is no Go toolchain.
 */
export function installTemporalServer(say: (line: string) => void): void {
  fs.mkdirSync(BIN_DIR, { recursive: true });
  const missing = [
    [TEMPORAL_SERVER_BIN, `go.temporal.io/server/cmd/server@${CLUSTER_VERSIONS.server}`],
    [TEMPORAL_SQL_TOOL_BIN, `go.temporal.io/server/cmd/tools/sql@${CLUSTER_VERSIONS.server}`],
  ].filter(([bin]) => !fs.existsSync(bin!));
  if (missing.length === 0) return;
  const go = findGo();
  if (!go) throw new Error('the Temporal server is built from source with Go (>= 1.24): install Go, or put it on PATH');
  for (const [bin, pkg] of missing) goInstall(go, pkg!, bin!, say);
}

/**
 * The Web UI server in `.temporal/bin` (its module ships the built UI, `ui/assets/local`), unless
 * already there. Returns why not when it cannot be had: the caller runs without a UI and says so.
 */
export function installUiServer(say: (line: string) => void): string | undefined {
  if (fs.existsSync(TEMPORAL_UI_SERVER_BIN)) return undefined;
  const go = findGo();
  if (!go) return 'no Go toolchain';
  try {
    goInstall(go, `github.com/temporalio/ui-server/v2/cmd/server@${CLUSTER_VERSIONS.uiServer}`, TEMPORAL_UI_SERVER_BIN, say, {
      GOTOOLCHAIN: CLUSTER_VERSIONS.uiToolchain,
    });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The server module's folder in the Go module cache (downloaded if it is not there). */
export function serverModuleDir(): string {
  const go = findGo();
  if (!go) throw new Error('Go is needed to find the Temporal server module (its schema and config folders)');
  const out = execFileSync(go, ['mod', 'download', '-json', `go.temporal.io/server@${CLUSTER_VERSIONS.server}`], {
    encoding: 'utf8',
    cwd: BIN_DIR,
  });
  const { Dir, Error: error } = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!Dir) throw new Error(`go mod download go.temporal.io/server@${CLUSTER_VERSIONS.server}: ${error ?? 'no folder'}`);
  return Dir;
}

/** Where Temporal keeps its state: parsed from `TEMPORAL_DB_URL`. */
export interface TemporalDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The main database; visibility is `<database>_visibility`. */
  database: string;
  visibilityDatabase: string;
}

/** `postgres://user:password@host:port/temporal` → its parts; throws saying what the URL must look like. */
export function parseTemporalDbUrl(raw: string | undefined): TemporalDatabase {
  const example = 'postgres://temporal:temporal@127.0.0.1:5432/temporal';
  if (!raw) {
    throw new Error(
      `TEMPORAL_DB_URL is not set: name the PostgreSQL (12 or newer) where Temporal keeps its state, e.g. ${example}. ` +
        'Its user must be allowed to create databases (CREATE ROLE temporal LOGIN CREATEDB PASSWORD …): ' +
        'the databases <name> and <name>_visibility are created and migrated on first start.',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`TEMPORAL_DB_URL is not a URL; expected e.g. ${example}`);
  }
  if (!/^postgres(ql)?:$/.test(url.protocol)) throw new Error(`TEMPORAL_DB_URL must be a postgres:// URL, e.g. ${example}`);
  const password = decodeURIComponent(url.password);
  if (/["\\]/.test(password)) throw new Error('TEMPORAL_DB_URL: the password may not contain " or \\ (it goes into a YAML string)');
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'temporal';
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`TEMPORAL_DB_URL: database name "${database}" must be lower-case letters, digits and _`);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || 'temporal',
    password,
    database,
    visibilityDatabase: `${database}_visibility`,
  };
}

/** Runs the SQL tool against `database`; the password travels in its environment, never its arguments. */
function sqlTool(db: TemporalDatabase, database: string, args: string[]): void {
  try {
    runSqlTool(db, database, args);
  } catch (err) {
    const { stderr } = err as { stderr?: Buffer };
    const tail = (stderr?.toString() ?? '').trim().split('\n').slice(-5).join('\n');
    throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed:\n${tail || String(err)}`);
  }
}

function runSqlTool(db: TemporalDatabase, database: string, args: string[]): void {
  execFileSync(
    TEMPORAL_SQL_TOOL_BIN,
    ['--plugin', 'postgres12', '--ep', db.host, '--port', String(db.port), '--user', db.user, '--db', database, ...args],
    // Quiet unless it fails: it logs every statement it runs.
    { env: { PATH: process.env.PATH, SQL_PASSWORD: db.password }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/**
 * Creates (if missing) and migrates both databases to the schema of the pinned server, with the
 * module's own `schema/postgresql/v12/{temporal,visibility}/versioned`. Safe to run every start:
 * `update-schema` applies only what is newer than the database's recorded version.
 */
export async function migrateTemporalDatabases(db: TemporalDatabase, moduleDir: string, say: (line: string) => void): Promise<void> {
  const admin = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: 'postgres' });
  await admin.connect().catch((err: Error) => {
    throw new Error(`cannot reach TEMPORAL_DB_URL's server as "${db.user}" (${err.message})`);
  });
  try {
    for (const [database, schema] of [
      [db.database, 'temporal'],
      [db.visibilityDatabase, 'visibility'],
    ] as const) {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (exists.rowCount === 0) {
        say(`cluster: creating database ${database}`);
        sqlTool(db, database, ['create-database']);
      }
      const versioned = await tableExists(db, database, 'schema_version');
      if (!versioned) sqlTool(db, database, ['setup-schema', '-v', '0.0']);
      sqlTool(db, database, ['update-schema', '-d', path.join(moduleDir, 'schema', 'postgresql', 'v12', schema, 'versioned')]);
      say(`cluster: database ${database} is on the ${CLUSTER_VERSIONS.server} schema`);
    }
  } finally {
    await admin.end();
  }
}

async function tableExists(db: TemporalDatabase, database: string, table: string): Promise<boolean> {
  const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database });
  await client.connect();
  try {
    const result = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
    return result.rows[0]?.present === true;
  } finally {
    await client.end();
  }
}

/** Each service's ports: gRPC, membership (ringpop), Prometheus metrics. */
export type ServicePorts = Record<TemporalService, { grpc: number; membership: number; metrics: number }> & {
  frontendHttp: number;
};

/** One line of the template replaced, or a clear error when the pinned template no longer has it. */
function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new Error(`development-postgres12.yaml changed: cannot find ${what}`);
  return text.replace(pattern, replacement);
}

/**
 * Writes `<dir>/config/<service>.yaml` for each service, from the module's
 * `config/development-postgres12.yaml`: our database and shard count, every port ours, pprof off,
 * metrics on a port per service (each is its own process), the dynamic config file of our own.
 * The database password is not written: the files are templates that read `TEMPORAL_DB_PASSWORD`.
 * Task-queue fairness is on unless `fairness` is false (bench/measure-fairness.ts measures both).
 */
export function writeServiceConfigs(dir: string, moduleDir: string, db: TemporalDatabase, ports: ServicePorts, { fairness = true }: { fairness?: boolean } = {}): void {
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir, { recursive: true });
  let base = fs.readFileSync(path.join(moduleDir, 'config', 'development-postgres12.yaml'), 'utf8');
  // Warnings and errors only: at info each service logs every shard and queue it touches.
  base = replaceOnce(base, /log:\n {2}stdout: true\n {2}level: info/, 'log:\n  stdout: true\n  level: warn', 'the log level');
  base = replaceOnce(base, /numHistoryShards: \d+/, `numHistoryShards: ${HISTORY_SHARDS}`, 'numHistoryShards');
  base = base.replace(/databaseName: "temporal"/, `databaseName: "${db.database}"`);
  base = replaceOnce(base, /databaseName: "temporal_visibility"/, `databaseName: "${db.visibilityDatabase}"`, 'the visibility database');
  base = base.replaceAll(/connectAddr: "[^"]*"/g, `connectAddr: "${db.host}:${db.port}"`);
  base = base.replaceAll(/user: "temporal"/g, `user: "${db.user}"`);
  base = replaceOnce(base, /password: "temporal"/g, 'password: "{{ env "TEMPORAL_DB_PASSWORD" }}"', 'the database passwords');
  base = replaceOnce(base, /pprof:\n\s+port: \d+/, 'pprof:\n    port: 0', 'pprof');
  base = replaceOnce(base, /rpcAddress: "localhost:7233"/, `rpcAddress: "127.0.0.1:${ports.frontend.grpc}"`, 'rpcAddress');
  base = replaceOnce(base, /httpPort: 7243/, `httpPort: ${ports.frontendHttp}`, 'the front end HTTP port');
  for (const service of TEMPORAL_SERVICES) {
    const block = new RegExp(`(  ${service}:\\n    rpc:\\n      grpcPort: )\\d+(\\n      membershipPort: )\\d+`);
    base = replaceOnce(base, block, `$1${ports[service].grpc}$2${ports[service].membership}`, `the ${service} ports`);
  }
  const dynamic = path.join(configDir, 'dynamic.yaml');
  fs.writeFileSync(
    dynamic,
    fs.readFileSync(path.join(moduleDir, 'config', 'dynamicconfig', 'development-sql.yaml'), 'utf8') +
      // Search attributes registered by `npm run temporal:setup` are usable at once on every frontend.
      '\nsystem.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n    constraints: {}\n' +
      // Fairness: each tenant's tasks (their `fairnessKey`) take turns. It is kept within a task
      // queue partition, so one partition each: this cluster's queues are far below what one carries.
      `\nmatching.enableFairness:\n  - value: ${fairness}\n    constraints: {}\n` +
      '\nmatching.numTaskqueueReadPartitions:\n  - value: 1\n    constraints: {}\n' +
      '\nmatching.numTaskqueueWritePartitions:\n  - value: 1\n    constraints: {}\n',
  );
  base = replaceOnce(base, /filepath: "[^"]*"/, `filepath: "${dynamic}"`, 'the dynamic config path');
  for (const service of TEMPORAL_SERVICES) {
    const own = replaceOnce(
      base,
      /listenAddress: "127\.0\.0\.1:\d+"/,
      `listenAddress: "127.0.0.1:${ports[service].metrics}"`,
      'the metrics address',
    );
    fs.writeFileSync(path.join(configDir, `${service}.yaml`), `# enable-template\n${own}`, { mode: 0o600 });
  }
}

/** Resolves once something accepts TCP connections on `port`, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, stillRunning: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!stillRunning()) throw new Error('it exited before it listened');
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs / 1000} s`);
}

/** A program (not Node) as a part: its own process group, ready once `readyPort` accepts connections. */
export function binaryPart(
  name: string,
  options: { bin: string; args: string[]; env: NodeJS.ProcessEnv; cwd: string; readyPort: number; stopGraceMs: number },
): PartSpec {
  return {
    name,
    stopGraceMs: options.stopGraceMs,
    launch: async ({ spawned, output }) => {
      const child = spawn(options.bin, options.args, {
        cwd: options.cwd,
        env: options.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      spawned(child);
      readline.createInterface({ input: child.stdout! }).on('line', (line) => output(line, 'stdout'));
      readline.createInterface({ input: child.stderr! }).on('line', (line) => output(line, 'stderr'));
      const failed = new Promise<never>((_, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => reject(new Error(`it exited (${describeExit(code, signal)}) before it listened`)));
      });
      failed.catch(() => undefined);
      await Promise.race([waitForPort(options.readyPort, 120_000, () => child.exitCode === null && child.signalCode === null), failed]);
    },
  };
}

/** One Temporal service as a part, on its own config file (`<dir>/config/<service>.yaml`). */
export function temporalServicePart(service: TemporalService, dir: string, db: TemporalDatabase, ports: ServicePorts): PartSpec {
  return binaryPart(`temporal-${service}`, {
    bin: TEMPORAL_SERVER_BIN,
    // No authorizer: this cluster listens on loopback only. A shared one configures one (docs/deploy.md).
    args: ['--root', dir, '--config', 'config', '--env', service, '--allow-no-auth', 'start', '--service', service],
    // Only what the server needs: none of our TEMPORAL_* client settings may reach its config loader.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_DB_PASSWORD: db.password },
    cwd: dir,
    // The worker service serves no gRPC of its own: it is up once it joins the membership ring.
    readyPort: service === 'worker' ? ports.worker.membership : ports[service].grpc,
    // History hands its shards over on the way out.
    stopGraceMs: 30_000,
  });
}
