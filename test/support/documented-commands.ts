/**
 * The operator commands `docs/operations.md` documents, as the tests run them: the `temporal` and
 * `tctl` command lines character for character, filled in and run as subprocesses against the
 * run's Temporal with only the connection flags added, and readers for what they print.
 * Payloads are encrypted, so the commands run as the doc's "To decode in every command" says: with
 * `TEMPORAL_CODEC_ENDPOINT` and `TEMPORAL_CODEC_AUTH` exported, pointing at the codec server
 * {@link useCodec} names (`--codec_endpoint`/`--codec_auth` for tctl).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveTemporalCli } from '../../scripts/temporal-cli';
import { NAMESPACE, temporalAddress } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const OPERATIONS_DOC = path.join(ROOT, 'docs', 'operations.md');
const run = promisify(execFile);

/**
 * The `temporal` commands of `docs/operations.md`, character for character. `<user-id>`,
 * `<event-id>` and `<why>` are the placeholders an operator fills in; the test fills them the same
 * way and adds only the connection flags.
 */
export const TEMPORAL = {
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
export const TCTL = {
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

export type Vars = Partial<Record<'tenant' | 'user-id' | 'event-id' | 'why', string>>;

/** Shell-style words: whitespace splits, single or double quotes group (no escapes are documented). */
function words(command: string): string[] {
  const out: string[] = [];
  for (const match of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(match[1] ?? match[2] ?? match[3] ?? '');
  return out;
}

export function fill(template: string, vars: Vars): string {
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
export const TCTL_SKIP = TCTL_BIN
  ? false
  : 'tctl is not installed (not on PATH, not at .temporal/bin/tctl): `go install ' +
    'github.com/temporalio/tctl/cmd/tctl@v1.18.4`, which .ci/run does, is refused on this machine by the Go ' +
    'module proxy (403 "This module version is not available")';

/** Where the commands find the codec server, and the operator key they send it. */
export interface CodecSettings {
  endpoint: string;
  auth: string;
}

/** Set once the suite's codec server listens ({@link useCodec}, in the suite's `before`). */
let codec: CodecSettings | undefined;

/** Points every command {@link runDocumented} runs from now on at this codec server. */
export function useCodec(settings: CodecSettings | undefined): void {
  codec = settings;
}

/**
 * Runs a documented command with the connection flags added, decoding payloads through `codec`
 * ({@link codec}: exported as the doc says for `temporal`, tctl's global flags); fails with the command and its stderr.
 */
export async function runDocumented(template: string, vars: Vars): Promise<string> {
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
export function jsonIn(output: string): Record<string, unknown> {
  const start = output.indexOf('{');
  const end = output.lastIndexOf('}');
  assert.ok(start >= 0 && end > start, `expected JSON in the output, got:\n${output}`);
  return JSON.parse(output.slice(start, end + 1)) as Record<string, unknown>;
}

/** Event ids and types from `temporal workflow show` (its table: id, time, type). */
export function historyTable(output: string): Array<{ id: number; type: string }> {
  const rows: Array<{ id: number; type: string }> = [];
  for (const line of output.split('\n')) {
    const match = /^\s*(\d+)\s+\S+\s+([A-Za-z]+)\s*$/.exec(line);
    if (match) rows.push({ id: Number(match[1]), type: match[2]! });
  }
  return rows;
}

/** What the doc tells an operator to do: reset to the WorkflowTaskCompleted just above the last batch. */
export function resetPointBeforeLastBatch(history: Array<{ id: number; type: string }>): number {
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
export function documentedCommands(program: 'temporal' | 'tctl'): string[] {
  const doc = fs.readFileSync(OPERATIONS_DOC, 'utf8');
  const blocks = [...doc.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`${program} `) && !line.includes('--codec-endpoint') && !line.startsWith('temporal schedule '));
}

/**
 * The `temporal schedule` commands of the doc's "Upload expiry", character for character:
 * test/upload-expiry.test.ts runs each (filling `<task-queue>` and `<why>`), and
 * test/schedules.test.ts checks that the doc shows no schedule command that no test runs.
 */
export const UPLOAD_EXPIRY_COMMANDS = {
  list: 'temporal schedule list',
  trigger: 'temporal schedule trigger --schedule-id upload-expiry/<task-queue>',
  pause: 'temporal schedule toggle --schedule-id upload-expiry/<task-queue> --pause --reason "<why>"',
} as const;
