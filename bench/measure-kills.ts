/**
 * The kill phase, the kill test's full form: `test/kill-recovery.test.ts` with `--kill-contacts`
 * (200,000) and `--kills` (30), on SQLite and, when the bench has a PostgreSQL URL, PostgreSQL.
 * `npm test` runs the same test shorter. It runs its own dev server (scripts/run-tests.ts), so
 * none of the bench's processes is disturbed.
 */
import { WORKER_DEFAULTS } from '../config/defaults';
import { spawnScript } from './support';
import type { BenchRun } from './service';

export interface KillFigures {
  contacts: number;
  kills: number;
  /** The worker's `IMPORT_FETCH_AHEAD` in the test (`--env IMPORT_FETCH_AHEAD=…`, else the default): 1 allows two re-fetches per kill. */
  fetchAhead: number;
  passed: boolean;
  /** The test's own summary per store: kills, pages fetched twice (in all and per kill), timings. */
  lines: string[];
}

export async function measureKills(run: BenchRun): Promise<KillFigures> {
  const { killContacts: contacts, kills, postgresUrl, envOverrides } = run.options;
  const fetchAhead = Number(envOverrides.IMPORT_FETCH_AHEAD ?? WORKER_DEFAULTS.fetchAhead) === 1 ? 1 : 0;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KILL_RECOVERY_FETCH_AHEAD: String(fetchAhead),
    KILL_RECOVERY_CONTACTS: String(contacts),
    KILL_RECOVERY_KILLS: String(kills),
    TEST_DATABASE_URL: postgresUrl ?? '',
  };
  delete env.TEMPORAL_ADDRESS;
  const child = spawnScript('kill-recovery', 'scripts/run-tests.ts', env, ['test/kill-recovery.test.ts']);
  const lines: string[] = [];
  child.process.stdout?.on('data', (chunk: Buffer) => {
    // The test's diagnostic, up to its timings: "30 kills, fetch-ahead 0; pages fetched twice: 18 in all, per kill [...]".
    for (const line of chunk.toString().split('\n')) {
      if (/kills(, fetch-ahead \d)?; pages fetched twice/.test(line)) lines.push(line.trim().replace(/^ℹ\s*/, '').replace(/; ms to polling.*$/, ''));
    }
  });
  await child.exited;
  for (const line of lines) run.progress(`  ${line}`);
  return { contacts, kills, fetchAhead, passed: child.process.exitCode === 0, lines };
}
