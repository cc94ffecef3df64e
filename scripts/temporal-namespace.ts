/**
 * A namespace on a Temporal cluster of our own (`npm run cluster`, `npm run chaos`): registered
 * unless it exists, then waited for until it answers. A namespace just registered is in the
 * database at once, but each Temporal service learns of it from its namespace cache, refreshed every
 * few seconds: until then, calls naming it fail with "Namespace default is not found". So we wait
 * for the call `npm run temporal:setup` makes first (listing the search attributes) to answer.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolveTemporalCli } from './temporal-cli';

const run = promisify(execFile);

/** The CLI's own message for a failed call (its stderr), else the error's. */
function cliError(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr?.trim();
  return stderr || (err instanceof Error ? err.message : String(err));
}

export interface NamespaceWaitOptions {
  /** Gives up after this long, with the last error. */
  timeoutMs?: number;
  /** Between two attempts. */
  intervalMs?: number;
}

/**
 * Resolves once `namespace` answers a call on `address` (its search attributes are listed);
 * rejects after `timeoutMs` saying what the last attempt answered.
 */
export async function waitForNamespace(address: string, namespace: string, options: NamespaceWaitOptions = {}): Promise<void> {
  const cli = resolveTemporalCli();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const args = ['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace, '--command-timeout', '10s'];
  for (;;) {
    try {
      await run(cli, args);
      return;
    } catch (err) {
      if (Date.now() >= deadline) {
        throw new Error(
          `namespace ${namespace} on ${address} does not answer after ${Math.round(timeoutMs / 1000)} s ` +
            `(temporal operator search-attribute list: ${cliError(err)})`,
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}

/**
 * Registers `namespace` unless it exists (retrying while the front end is still joining the
 * cluster), then waits until it answers ({@link waitForNamespace}).
 */
export async function ensureNamespace(
  address: string,
  namespace: string,
  say: (line: string) => void,
  options: NamespaceWaitOptions = {},
): Promise<void> {
  const cli = resolveTemporalCli();
  const connection = ['--address', address, '--namespace', namespace, '--command-timeout', '10s'];
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    try {
      await run(cli, ['operator', 'namespace', 'describe', ...connection]);
      break;
    } catch {
      try {
        await run(cli, ['operator', 'namespace', 'create', '--retention', '72h', ...connection]);
        say(`cluster: namespace ${namespace} registered (retention 72 h)`);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`could not register namespace ${namespace}: ${cliError(err)}`);
        await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 1_000));
      }
    }
  }
  await waitForNamespace(address, namespace, options);
}
