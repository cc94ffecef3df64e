/**
 * The supervisor `npm start` runs its parts under, on small Node scripts and a fast restart policy:
 * restarts with backoff, which part and why in the log, giving up on a part that keeps crashing or
 * refuses its configuration, and stopping in order. (`start-supervision.test.ts` runs the real thing.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CONFIG_EXIT_CODE } from '../config/parse';
import { nodeScriptPart, Supervisor, type PartSpec, type RestartPolicy } from '../scripts/supervisor';
import { waitFor } from './support/harness';

const FAST: RestartPolicy = { initialDelayMs: 100, maxDelayMs: 300, resetAfterMs: 60_000, maxRestarts: 3, windowMs: 60_000 };

/** A part running `code` with `node -e`, ready once it prints `ready`. */
function scriptPart(name: string, code: string, stopGraceMs = 5_000): PartSpec {
  return nodeScriptPart(name, { args: ['-e', code], env: process.env, ready: /^ready$/, stopGraceMs });
}

const STAY_UP = "console.log('ready'); setInterval(() => {}, 1000);";
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('supervisor', () => {
  let logDir: string;
  let said: string[];
  let gaveUp: string[];
  let supervisor: Supervisor;

  const make = (policy: RestartPolicy = FAST) =>
    new Supervisor({
      logDir,
      policy,
      say: (line) => said.push(line),
      echo: () => undefined,
      onGiveUp: (message) => gaveUp.push(message),
    });

  beforeEach(() => {
    logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisor-test-'));
    said = [];
    gaveUp = [];
    supervisor = make();
  });
  afterEach(() => {
    supervisor.kill();
    fs.rmSync(logDir, { recursive: true, force: true });
  });

  /** Pid of the part's process, read from its log: each run prints it first. */
  const pidLines = (name: string) =>
    fs
      .readFileSync(supervisor.logFileOf(name), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('pid '))
      .map((line) => Number(line.slice(4)));
  const withPid = (code: string) => `console.log('pid ' + process.pid); ${code}`;

  it('restarts a part that exits unexpectedly, saying which, how and when, while the others keep running', async () => {
    const marker = path.join(logDir, 'crashed-once');
    await supervisor.start(scriptPart('steady', withPid(STAY_UP)));
    await supervisor.start(
      scriptPart(
        'flaky',
        withPid(
          `const fs = require('node:fs'); console.log('ready');
           if (!fs.existsSync(${JSON.stringify(marker)})) { fs.writeFileSync(${JSON.stringify(marker)}, ''); setTimeout(() => process.exit(3), 50); }
           else setInterval(() => {}, 1000);`,
        ),
      ),
    );
    await waitFor(() => said.includes('start: flaky is running again'), `flaky to be restarted (said: ${said.join(' | ')})`, 20_000);
    assert.match(said[0] ?? '', /^start: flaky exited unexpectedly \(code 3\) after [\d.]+ s; restarting it in 0\.1 s \(log: .*flaky\.log\)$/);
    assert.match(said[1] ?? '', /^start: restarting flaky \(restart 1 within 60 s\)$/);
    // Its log reaches the file through a stream, a little after the restart is announced.
    await waitFor(() => pidLines('flaky').length >= 2, 'the restarted part to log its pid', 20_000);
    const [steady] = pidLines('steady');
    assert.ok(steady && isAlive(steady), 'the other part kept running');
    assert.equal(pidLines('steady').length, 1, 'and was not restarted');
    const flaky = pidLines('flaky');
    assert.equal(flaky.length, 2, 'flaky ran twice');
    assert.ok(isAlive(flaky[1]!), 'the restarted part runs');
    assert.match(fs.readFileSync(supervisor.logFileOf('flaky'), 'utf8'), /flaky exited \(code 3\)/, 'its log says how it ended');
    assert.deepEqual(gaveUp, []);
  });

  it('backs off, doubling up to the cap, then gives up on a part that keeps crashing, naming it and its log', async () => {
    await supervisor.start(scriptPart('crashy', "console.log('ready'); setTimeout(() => process.exit(1), 20);"));
    await waitFor(() => gaveUp.length > 0, `the supervisor to give up (said: ${said.join(' | ')})`, 20_000);
    const delays = said.filter((line) => line.includes('exited unexpectedly')).map((line) => /restarting it in ([\d.]+) s/.exec(line)?.[1]);
    assert.deepEqual(delays, ['0.1', '0.2', '0.3'], 'each delay doubles, up to maxDelayMs');
    assert.equal(gaveUp.length, 1);
    assert.match(gaveUp[0]!, /^crashy keeps crashing: it exited \(code 1\) after 3 restarts within 60 s\. Its log: .*crashy\.log$/);
  });

  it('goes back to the shortest delay for a part that ran longer than resetAfterMs', async () => {
    supervisor = make({ ...FAST, resetAfterMs: 200, maxRestarts: 10 });
    await supervisor.start(scriptPart('slow-crash', "console.log('ready'); setTimeout(() => process.exit(1), 400);"));
    await waitFor(() => said.filter((line) => line.includes('exited unexpectedly')).length >= 3, 'three crashes', 20_000);
    const delays = said.filter((line) => line.includes('exited unexpectedly')).map((line) => /restarting it in ([\d.]+) s/.exec(line)?.[1]);
    assert.deepEqual(delays.slice(0, 3), ['0.1', '0.1', '0.1']);
  });

  it('does not restart a part that refuses its configuration', async () => {
    await supervisor.start(scriptPart('misconfigured', `console.log('ready'); setTimeout(() => process.exit(${CONFIG_EXIT_CODE}), 20);`));
    await waitFor(() => gaveUp.length > 0, 'the supervisor to give up', 20_000);
    assert.match(gaveUp[0]!, /^misconfigured refuses to run with this configuration \(exit code 78\); restarting it would not help\. See what it said above or in .*misconfigured\.log$/);
    assert.ok(!said.some((line) => line.includes('restarting')), `no restart (said: ${said.join(' | ')})`);
  });

  it('rejects, naming the log, when a part fails its first start', async () => {
    await assert.rejects(supervisor.start(scriptPart('broken', 'process.exit(2)')), /^Error: broken did not start: it exited \(code 2\) before it was ready \(log: .*broken\.log\)$/);
  });

  it('stops parts last started first, and kills one that outlives its grace period', async () => {
    await supervisor.start(scriptPart('first', withPid(STAY_UP)));
    await supervisor.start(scriptPart('stubborn', withPid(`process.on('SIGTERM', () => {}); ${STAY_UP}`), 300));
    // The supervisor writes a part's log through a stream: its lines reach the file a little after
    // the part is ready, so a read at once may not find the pid line yet.
    await waitFor(() => pidLines('first').length === 1 && pidLines('stubborn').length === 1, 'both parts to log their pids', 20_000);
    const pids = [...pidLines('first'), ...pidLines('stubborn')];
    await supervisor.stop();
    assert.deepEqual(said, ['start: stopping stubborn', 'start: stubborn did not stop within 0.3 s; killing it', 'start: stopping first']);
    assert.ok(pids.length === 2 && pids.every((pid) => !isAlive(pid)), 'both are gone');
    assert.deepEqual(gaveUp, [], 'stopping is not crashing');
  });
});
