/**
 * `npm run temporal:setup`: registers the workflow's custom search attributes
 * (`SEARCH_ATTRIBUTE_DEFINITIONS`) on a Temporal cluster, with the `temporal` CLI. Idempotent:
 * an attribute that is already registered with the same type counts as done.
 *
 * Which cluster: the CLI reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS*, TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE from the environment itself
 * (`temporal options` lists them), so this script passes the environment through unchanged.
 * The dev server that `npm start` and the tests run registers them at launch; this is for
 * clusters you run yourself.
 */
import { spawnSync } from 'node:child_process';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { resolveTemporalCli } from './temporal-cli';

interface CliResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function connectionArgs(): string[] {
  const args: string[] = [];
  // The CLI would read these two itself; passing them makes the printed commands say where they went.
  if (process.env.TEMPORAL_ADDRESS) args.push('--address', process.env.TEMPORAL_ADDRESS);
  if (process.env.TEMPORAL_NAMESPACE) args.push('--namespace', process.env.TEMPORAL_NAMESPACE);
  // Fail instead of hanging when the cluster is unreachable.
  args.push('--command-timeout', '30s');
  return args;
}

function cli(bin: string, args: string[]): CliResult {
  const result = spawnSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) throw new Error(`could not run ${bin}: ${result.error.message}`);
  return { ok: result.status === 0, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

/** `KeywordList` → `INDEXED_VALUE_TYPE_KEYWORD_LIST`, as `search-attribute list -o json` reports types. */
function indexedValueType(type: string): string {
  return `INDEXED_VALUE_TYPE_${type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** Custom attributes already registered; throws with the CLI's message when the cluster cannot be reached. */
function registered(bin: string, connection: string[]): Record<string, string> {
  const result = cli(bin, ['operator', 'search-attribute', 'list', '--output', 'json', ...connection]);
  if (!result.ok) {
    throw new Error(
      `Could not list the search attributes: ${result.stderr || 'no message'}\n` +
        'Check TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE and credentials (TEMPORAL_API_KEY, TEMPORAL_TLS_*).',
    );
  }
  const parsed = JSON.parse(result.stdout) as { customAttributes?: Record<string, string> };
  return parsed.customAttributes ?? {};
}

function main(): number {
  const bin = resolveTemporalCli();
  const connection = connectionArgs();
  const where = `${process.env.TEMPORAL_ADDRESS ?? 'the CLI default address (localhost:7233)'}, namespace ${process.env.TEMPORAL_NAMESPACE ?? 'default'}`;
  console.log(`Registering search attributes on ${where}`);

  const existing = registered(bin, connection);
  let failures = 0;
  for (const { name, type } of SEARCH_ATTRIBUTE_DEFINITIONS) {
    const current = existing[name];
    if (current === indexedValueType(type)) {
      console.log(`  ${name} (${type}): already registered`);
      continue;
    }
    if (current !== undefined) {
      console.error(`  ${name} (${type}): FAILED — already registered as ${current}; a search attribute's type cannot change, delete it first`);
      failures++;
      continue;
    }
    const result = cli(bin, ['operator', 'search-attribute', 'create', '--name', name, '--type', type, ...connection]);
    if (result.ok) {
      console.log(`  ${name} (${type}): created`);
    } else if (/already exists/i.test(result.stderr) && !/different type/i.test(result.stderr)) {
      // Another setup registered it between our list and create.
      console.log(`  ${name} (${type}): already registered`);
    } else {
      console.error(`  ${name} (${type}): FAILED — ${result.stderr || result.stdout || 'no message'}`);
      failures++;
    }
  }

  if (failures > 0) {
    console.error(
      `${failures} search attribute(s) not registered. Check TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE and credentials ` +
        '(TEMPORAL_API_KEY, TEMPORAL_TLS_*). On Temporal Cloud, create them in the Cloud UI or with `tcld` instead.',
    );
    return 1;
  }
  console.log('Search attributes ready.');
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
}
