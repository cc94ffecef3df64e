/**
 * The benchmark's command line, parsed once into a frozen {@link BenchOptions} that the runner hands
 * to every measurement. Flags and defaults: bench/README.md.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, parseInteger } from '../config/parse';
import { RESULTS_DIR } from './support';

export const PHASES = ['throughput', 'history', 'status', 'events', 'start', 'recovery', 'files', 'graph', 'concurrency', 'kill', 'fairness', 'governor', 'governor-alternatives'] as const;
export type Phase = (typeof PHASES)[number];

export type Store = 'sqlite' | 'postgres';

export interface BenchOptions {
  /** `--contacts`: the import size of every phase (throughput and history also run `--large`). */
  readonly contacts: number;
  /** What throughput and history import: `--contacts`, then `--large` unless `--skip-million`. */
  readonly sizes: readonly number[];
  /** `--only`, in the order given; every phase by default. */
  readonly phases: readonly Phase[];
  /** `--env KEY=VALUE`: given to the worker and API children. */
  readonly envOverrides: Readonly<Record<string, string>>;
  /** `DATABASE_URL`, unless `--no-pg`: PostgreSQL is measured too when set. */
  readonly postgresUrl: string | undefined;
  /** The stores measured, in order: SQLite (unless `--no-sqlite`), then PostgreSQL when there is a URL. */
  readonly stores: readonly Store[];
  /** `--starts`: POSTs of the start-latency phase. */
  readonly starts: number;
  /** `--duration`: seconds of each autocannon run (the direct client loops take half). */
  readonly durationSeconds: number;
  /** `--kill-at`: the fraction of `contacts` saved when the recovery phase SIGKILLs the worker. */
  readonly killAt: number;
  /** `--file-contacts`: cards in the vCard file the `files` phase imports. */
  readonly fileContacts: number;
  /** `--carddav-contacts`: cards in the Radicale address book the `files` phase imports. */
  readonly carddavContacts: number;
  /** `--graph-contacts`: contacts in the demo provider's Microsoft Graph mailbox the `graph` phase imports. */
  readonly graphContacts: number;
  /** `--concurrent`: imports run at once by the concurrency phase (20); half as many run beside the small one. */
  readonly concurrent: number;
  /** `--concurrent-contacts`: contacts in each of them (50,000). */
  readonly concurrentContacts: number;
  /** `--kill-contacts`, `--kills`: the kill phase's import (200,000) and SIGKILLs (30). */
  readonly killContacts: number;
  readonly kills: number;
  /** `--governor-imports`, `--governor-contacts`: the governor phases' imports at once (10) and contacts in each (3,000). */
  readonly governorImports: number;
  readonly governorContacts: number;
  /** `--out NAME`: `bench/results/NAME.json`. */
  readonly resultsFile: string;
  /** `--rounds`: interleaved rounds of the throughput phase (each the plain loop, then the service); figures are their medians. */
  readonly rounds: number;
  /** CPU per stage of the plain loop and the worker (sampled profiles); `--no-stages` turns it off. */
  readonly stages: boolean;
  /** `--no-build`: run the service as `dist/` holds it, without building it first. */
  readonly build: boolean;
}

/** Defaults of the flags that take a number. */
const DEFAULTS = { rounds: 3, contacts: 100_000, large: 1_000_000, starts: 1000, duration: 10, killAt: 0.3, fileContacts: 50_000, carddavContacts: 5_000, graphContacts: 100_000, concurrent: 20, concurrentContacts: 50_000, killContacts: 200_000, kills: 30, governorImports: 10, governorContacts: 3000 } as const;
const SIZE = { min: 1, max: 1_000_000_000 };

/** `argv` (without node and the script) and `env` as {@link BenchOptions}; throws {@link ConfigError}. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values: args } = parseArgs({
    args: [...argv],
    options: {
      contacts: { type: 'string' },
      large: { type: 'string' },
      'skip-million': { type: 'boolean', default: false },
      only: { type: 'string' },
      env: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: 'latest' },
      'no-pg': { type: 'boolean', default: false },
      starts: { type: 'string' },
      duration: { type: 'string' },
      'kill-at': { type: 'string' },
      'file-contacts': { type: 'string' },
      'carddav-contacts': { type: 'string' },
      'graph-contacts': { type: 'string' },
      concurrent: { type: 'string' },
      'concurrent-contacts': { type: 'string' },
      'kill-contacts': { type: 'string' },
      kills: { type: 'string' },
      'governor-imports': { type: 'string' },
      'governor-contacts': { type: 'string' },
      rounds: { type: 'string' },
      'no-stages': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      'no-sqlite': { type: 'boolean', default: false },
    },
  });
  const contacts = parseInteger('--contacts', args.contacts, DEFAULTS.contacts, SIZE);
  const large = parseInteger('--large', args.large, DEFAULTS.large, SIZE);
  const postgresUrl = args['no-pg'] ? undefined : env.DATABASE_URL || undefined;
  return Object.freeze({
    contacts,
    sizes: Object.freeze(args['skip-million'] || large === contacts ? [contacts] : [contacts, large]),
    phases: Object.freeze(args.only === undefined ? [...PHASES] : phaseList(args.only)),
    envOverrides: Object.freeze(envPairs(args.env)),
    postgresUrl,
    stores: Object.freeze(stores(postgresUrl, args['no-sqlite'])),
    starts: parseInteger('--starts', args.starts, DEFAULTS.starts, { min: 1, max: 1_000_000 }),
    durationSeconds: parseInteger('--duration', args.duration, DEFAULTS.duration, { min: 1, max: 3600 }),
    killAt: fraction('--kill-at', args['kill-at'], DEFAULTS.killAt),
    // A vCard file must fit one upload (UPLOAD_MAX_BYTES, 50 MiB: about 200,000 generated cards).
    fileContacts: parseInteger('--file-contacts', args['file-contacts'], DEFAULTS.fileContacts, { min: 1, max: 200_000 }),
    carddavContacts: parseInteger('--carddav-contacts', args['carddav-contacts'], DEFAULTS.carddavContacts, { min: 1, max: 100_000 }),
    graphContacts: parseInteger('--graph-contacts', args['graph-contacts'], DEFAULTS.graphContacts, SIZE),
    concurrent: parseInteger('--concurrent', args.concurrent, DEFAULTS.concurrent, { min: 1, max: 1000 }),
    concurrentContacts: parseInteger('--concurrent-contacts', args['concurrent-contacts'], DEFAULTS.concurrentContacts, SIZE),
    killContacts: parseInteger('--kill-contacts', args['kill-contacts'], DEFAULTS.killContacts, SIZE),
    kills: parseInteger('--kills', args.kills, DEFAULTS.kills, { min: 1, max: 1000 }),
    governorImports: parseInteger('--governor-imports', args['governor-imports'], DEFAULTS.governorImports, { min: 1, max: 1000 }),
    governorContacts: parseInteger('--governor-contacts', args['governor-contacts'], DEFAULTS.governorContacts, SIZE),
    resultsFile: path.join(RESULTS_DIR, `${args.out.replace(/\.json$/, '')}.json`),
    rounds: parseInteger('--rounds', args.rounds, DEFAULTS.rounds, { min: 1, max: 100 }),
    stages: !args['no-stages'],
    build: !args['no-build'],
  });
}

/** SQLite unless `--no-sqlite`, then PostgreSQL when there is a URL. */
function stores(postgresUrl: string | undefined, noSqlite: boolean): Store[] {
  if (noSqlite && !postgresUrl) throw new ConfigError('--no-sqlite leaves no store to measure: set DATABASE_URL (and drop --no-pg)');
  return [...(noSqlite ? [] : (['sqlite'] as const)), ...(postgresUrl ? (['postgres'] as const) : [])];
}

/** Whether `--only` (or its default, everything) includes `phase`. */
export function runs(options: BenchOptions, phase: Phase): boolean {
  return options.phases.includes(phase);
}

function phaseList(raw: string): Phase[] {
  const phases = raw.split(',').map((p) => {
    if (!PHASES.includes(p as Phase)) throw new ConfigError(`--only takes a comma list of ${PHASES.join(', ')} (got "${p}")`);
    return p as Phase;
  });
  return [...new Set(phases)];
}

function envPairs(pairs: readonly string[]): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new ConfigError(`--env takes KEY=VALUE (got "${pair}")`);
    overrides[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return overrides;
}

function fraction(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!(value > 0 && value < 1)) throw new ConfigError(`${name} must be a fraction between 0 and 1, e.g. 0.3 (got "${raw}")`);
  return value;
}
