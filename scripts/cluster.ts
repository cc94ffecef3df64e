/**
 * `npm run cluster`: the service on a real Temporal cluster instead of the dev server, shaped the
 * way production runs it, on one machine:
 *
 * - Temporal server v1.29.1 (built into `.temporal/bin` with Go the first time) on PostgreSQL
 *   (`TEMPORAL_DB_URL`): frontend, history (4 shards), matching and worker, each its own process;
 *   the namespace `default` and the search attributes registered (`npm run temporal:setup`);
 * - 2 workers and 2 APIs (`CLUSTER_API_PORT`, 3100 and 3101) on the PostgreSQL store (`DATABASE_URL`);
 * - the demo provider (unless `GOOGLE_PEOPLE_BASE_URL` is set) and the Web UI when it can be built.
 *
 * Every part is supervised as under `npm start` (`scripts/supervisor.ts`): restarted when it
 * crashes; Ctrl-C stops the UI, APIs, workers, provider, then Temporal's services, each gracefully.
 * docs/deploy.md says what each process needs and how to scale it.
 */
import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { CONFIG_EXIT_CODE, parseInteger, PORT_RANGE } from '../config/parse';
import { CLUSTER_PORT_DEFAULTS, clusterPorts, clusterSupervisor, startCluster } from './cluster-parts';
import { parseTemporalDbUrl } from './cluster-temporal';
import { describePortHolder, portIsFree } from './port-owner';

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.database.kind !== 'postgres') {
    throw new ConfigError(
      'DATABASE_URL is not set: the cluster runs several workers and APIs on one store, which must be PostgreSQL, ' +
        'e.g. DATABASE_URL=postgres://contacts:contacts@127.0.0.1:5432/contacts',
    );
  }
  let temporalDb;
  try {
    temporalDb = parseTemporalDbUrl(process.env.TEMPORAL_DB_URL);
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  const port = (name: string, fallback: number) => parseInteger(name, process.env[name], fallback, PORT_RANGE);
  const ports = await clusterPorts(
    {
      temporal: port('CLUSTER_TEMPORAL_PORT', CLUSTER_PORT_DEFAULTS.temporal),
      ui: port('CLUSTER_UI_PORT', CLUSTER_PORT_DEFAULTS.ui),
      api: port('CLUSTER_API_PORT', CLUSTER_PORT_DEFAULTS.api),
      provider: port('CLUSTER_PROVIDER_PORT', CLUSTER_PORT_DEFAULTS.provider),
    },
    2,
  );
  const wanted = [
    ...Object.values(ports.temporal).flatMap((p) => (typeof p === 'number' ? [p] : [p.grpc, p.membership, p.metrics])),
    ports.ui,
    ...ports.apis,
    ...(process.env.GOOGLE_PEOPLE_BASE_URL ? [] : [ports.provider]),
  ];
  const taken: string[] = [];
  for (const p of wanted) if (!(await portIsFree(p, '127.0.0.1'))) taken.push(`  127.0.0.1:${p} is held by ${describePortHolder(p)}`);
  if (taken.length > 0) {
    console.error(
      ['cluster: not starting: ports it needs are taken:', ...taken].join('\n') +
        '\nIs another `npm run cluster` running? Stop it, or move this one: CLUSTER_TEMPORAL_PORT (the front end; ' +
        'the other services follow it), CLUSTER_UI_PORT, CLUSTER_API_PORT, CLUSTER_PROVIDER_PORT (0 picks free ports).',
    );
    process.exit(1);
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (code: number) => {
    stopping ??= supervisor.stop().then(() => process.exit(code));
    return stopping;
  };
  const supervisor = clusterSupervisor(config.dataDir, {
    onGiveUp: (message) => {
      console.error(`cluster: ${message}. Stopping everything.`);
      void shutdown(1);
    },
  });
  let interrupts = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      interrupts += 1;
      if (interrupts === 1) {
        console.log(`cluster: stopping (${signal}); press Ctrl-C again to kill every part at once`);
        void shutdown(0);
      } else if (interrupts > 2) {
        // The first Ctrl-C arrives twice under npm (terminal and tsx's relay): the third is a person's second.
        supervisor.kill();
        process.exit(130);
      }
    });
  }
  process.on('exit', () => supervisor.kill());

  const cluster = await startCluster({
    dataDir: config.dataDir,
    temporalDb,
    databaseUrl: config.database.url,
    ports,
    workers: 2,
    providerUrl: process.env.GOOGLE_PEOPLE_BASE_URL || undefined,
    supervisor,
  }).catch(async (err: unknown) => {
    // Stopped while starting: the parts are stopping (or stopped); say nothing more.
    if (stopping) await stopping;
    throw err;
  });
  console.log(
    [
      `cluster: ready. Temporal ${cluster.temporalAddress} (TEMPORAL_ADDRESS), APIs ${cluster.apiUrls.join(' and ')}, ` +
        `demo provider ${cluster.providerUrl}`,
      cluster.uiUrl ? `cluster: Web UI ${cluster.uiUrl}` : `cluster: no Web UI: ${cluster.uiMissing ?? 'not requested'}`,
      `cluster: logs in ${path.join(config.dataDir, 'cluster', 'logs')}; Ctrl-C stops everything`,
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? CONFIG_EXIT_CODE : 1);
});
