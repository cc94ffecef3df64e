/**
 * Runs the demo provider (People API and Microsoft Graph) on its own (`npm run demo-provider`).
 *
 * Environment: `DEMO_PROVIDER_PORT` (default 8090), `DEMO_PROVIDER_HOST` (default 127.0.0.1),
 * `DEMO_CONTACTS` (default 2500), and optionally `DEMO_SLOW_MS`, `DEMO_FAULT_EVERY` with
 * `DEMO_FAULT_KIND` (429, 500, 503 or drop). Point the worker at it with `GOOGLE_PEOPLE_BASE_URL` and
 * `MICROSOFT_GRAPH_BASE_URL`.
 * `POST /demo/changes` edits, deletes and adds people between imports (demo-provider/sync.ts).
 */
import { DEFAULT_DEMO_CONTACTS, DEFAULT_HOST, PORT_DEFAULTS } from '../config/defaults';
import { ConfigError, parseInteger, PORT_RANGE } from '../config/parse';
import { type DemoFaultKind, type DemoFaults, startDemoProvider } from './server';

const FAULT_KINDS: readonly DemoFaultKind[] = ['429', '500', '503', 'drop'];

const optionalInteger = (name: string, min: number, max: number) => parseInteger(name, process.env[name], undefined, { min, max });

function readConfig(): { port: number; host: string; contacts: number; faults: DemoFaults } {
  const port = parseInteger('DEMO_PROVIDER_PORT', process.env.DEMO_PROVIDER_PORT, PORT_DEFAULTS.demoProvider, PORT_RANGE);
  const host = process.env.DEMO_PROVIDER_HOST || DEFAULT_HOST;
  const contacts = parseInteger('DEMO_CONTACTS', process.env.DEMO_CONTACTS, DEFAULT_DEMO_CONTACTS, { min: 0, max: 100_000_000 });
  const faults: DemoFaults = {};

  const slowMs = optionalInteger('DEMO_SLOW_MS', 0, 600_000);
  if (slowMs !== undefined) faults.slowMs = slowMs;

  const every = optionalInteger('DEMO_FAULT_EVERY', 1, 1_000_000_000);
  const kind = process.env.DEMO_FAULT_KIND || undefined;
  if (every !== undefined) {
    if (kind === undefined) {
      throw new ConfigError(`DEMO_FAULT_EVERY is set, so DEMO_FAULT_KIND must say which fault to inject: one of ${FAULT_KINDS.join(', ')}`);
    }
    if (!FAULT_KINDS.includes(kind as DemoFaultKind)) {
      throw new ConfigError(`DEMO_FAULT_KIND must be one of ${FAULT_KINDS.join(', ')} (got "${kind}")`);
    }
    faults.every = { every, kind: kind as DemoFaultKind };
  } else if (kind !== undefined) {
    throw new ConfigError('DEMO_FAULT_KIND is set but DEMO_FAULT_EVERY is not: set DEMO_FAULT_EVERY=N to fail every Nth request');
  }
  return { port, host, contacts, faults };
}

async function main(): Promise<void> {
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`demo-provider: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  const provider = await startDemoProvider(config);
  const faults = [
    config.faults.slowMs ? `slow ${config.faults.slowMs} ms` : '',
    config.faults.every ? `${config.faults.every.kind} every ${config.faults.every.every} requests` : '',
  ].filter(Boolean);
  console.log(
    `demo-provider: serving ${config.contacts} contacts at ${provider.url} (GOOGLE_PEOPLE_BASE_URL and MICROSOFT_GRAPH_BASE_URL=${provider.url})${faults.length ? `, faults: ${faults.join(', ')}` : ''}`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    // A second Ctrl-C means "now": do not wait for connections to close.
    if (stopping) process.exit(130);
    stopping = true;
    provider.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`demo-provider: error while stopping on ${signal}`, error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error('demo-provider: could not start', error);
  process.exit(1);
});
