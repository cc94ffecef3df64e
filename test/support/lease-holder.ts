/**
 * A worker's rate governor in a process of its own, holding a concurrency lease: for the test that
 * SIGKILLs it (test/governor-lease.test.ts). It sends one request on `LEASE_HOLDER_KEY` (a budget
 * of concurrency 1) that never ends, so the lease stays held and renewed until the process dies.
 *
 * Environment: `DATABASE_URL` (PostgreSQL) or `LEASE_HOLDER_SQLITE` (a file), and `LEASE_HOLDER_KEY`.
 * Prints `lease-holder: holding` once the request is sent.
 */
import { GOVERNOR_DEFAULTS } from '../../config/defaults';
import { openStore } from '../../db';
import { createRequestGovernor } from '../../providers/kit/governor';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

async function main(): Promise<void> {
  const postgresUrl = process.env.DATABASE_URL;
  const store = await openStore(postgresUrl ? { kind: 'postgres', url: postgresUrl } : { kind: 'sqlite', file: required('LEASE_HOLDER_SQLITE') });
  const governor = createRequestGovernor({ state: store.budgets, ...GOVERNOR_DEFAULTS });
  const key = { provider: 'test-provider', kind: 'app', scope: 'app' as const, id: required('LEASE_HOLDER_KEY'), budget: { rate: null, concurrency: 1 } };
  await governor.run({
    keys: [key],
    send: () => {
      console.log('lease-holder: holding');
      // Never answered: the lease is renewed until the process is killed.
      return new Promise<never>(() => undefined);
    },
    refusal: () => null,
  });
}

main().catch((err: unknown) => {
  console.error(`lease-holder: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
