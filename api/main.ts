/** `npm run api`: the HTTP API process. Stateless: run as many as you like behind a load balancer. */
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { temporalTarget } from '../config/temporal';
import { createTokenSealer, loadTokenKey } from '../config/token-seal';
import { openStore } from '../db';
import { createApp } from './app';
import { createTemporalImports, temporalPing } from './imports';
import { missingSearchAttributes } from './search-attributes';

async function main(): Promise<void> {
  const config = loadConfig();
  const target = temporalTarget();
  const store = await openStore(config.database);
  const connection = await Connection.connect(target.connectionOptions);
  const client = new Client({
    connection,
    namespace: target.namespace,
    // A status query to a closed run is refused at once instead of replaying its history.
    workflow: { queryRejectCondition: 'NOT_OPEN' },
  });
  const missing = await missingSearchAttributes(connection, target.namespace);
  if (missing === null) {
    console.warn('api: could not list search attributes; if imports fail to start, run `npm run temporal:setup`');
  } else if (missing.length > 0) {
    throw new Error(
      `namespace "${target.namespace}" lacks the search attributes ${missing.join(', ')}: run \`npm run temporal:setup\` against this cluster`,
    );
  }
  const imports = createTemporalImports({
    client,
    sealer: createTokenSealer(loadTokenKey(config)),
    tuning: config.importDefaults,
    taskQueue: config.taskQueue,
  });
  const app = createApp({ imports, store, temporal: temporalPing(client) });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    console.log(`api: listening on http://${config.host}:${info.port} (Temporal ${target.connectionOptions.address}, store ${config.database.kind})`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => {
      void Promise.allSettled([connection.close(), store.close()]).then(() => process.exit(0));
    });
    // Idle keep-alive connections would hold close() open; requests in flight get a few seconds.
    if ('closeIdleConnections' in server) {
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5_000).unref();
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`api: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
