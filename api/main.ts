/** `npm run api`: the HTTP API process. Stateless: run as many as you like behind a load balancer. */
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config';
import { monitorConnection } from '../observability/connection-monitor';
import { dataConverter } from '../encryption/data-converter';
import { createPayloadCodec } from '../encryption/payload-codec';
import { loadPayloadKeyring } from '../encryption/payload-keys';
import { CONFIG_EXIT_CODE } from '../config/parse';
import { temporalTarget } from '../config/temporal';
import { createSigner } from '../encryption/signing';
import { createTokenSealer, loadTokenKey } from '../encryption/token-seal';
import { openStore } from '../db';
import { readProviderSettings } from '../providers';
import { createApp } from './app';
import { CALLBACK_PATH } from './connect/flow';
import { createCodecApp } from './codec';
import { createAuthenticator, OPEN_MODE_TENANT } from './auth';
import { isLoopbackHost } from './loopback';
import { createTemporalErasure, createTemporalImports, temporalPing } from './imports';
import { missingSearchAttributes } from './search-attributes';
import { createTemporalSchedules } from './hooks/schedules';
import { docsPage } from './docs-page';
import { ImportWatchers } from './events/watchers';
import { progressPage } from './progress-page';
import { createLogger, logSettings, routeConsole } from '../observability/logger';
import { createHttpMetrics } from './metrics';

// Every line this process writes is one pino event (JSON, or readable under LOG_FORMAT=pretty).
const logger = createLogger('api');
routeConsole(logger);

async function main(): Promise<void> {
  logSettings();
  const config = loadConfig();
  const target = temporalTarget();
  const store = await openStore(config.database);
  const connection = await Connection.connect(target.connectionOptions);
  const keyring = loadPayloadKeyring(config);
  const client = new Client({
    connection,
    namespace: target.namespace,
    dataConverter: dataConverter(keyring),
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
  // One line when Temporal stops answering and one when it is back; meanwhile /v1/imports answers
  // 503 at once instead of waiting on calls that cannot succeed.
  const monitor = monitorConnection({
    ping: (deadline) => connection.withDeadline(deadline, () => connection.workflowService.getSystemInfo({})).then(() => undefined),
    log: (line) => console.error(line),
    name: 'api',
    address: target.connectionOptions.address,
    meanwhile: 'answering 503 temporal_unavailable until it is back',
  });
  const tokenKey = loadTokenKey(config);
  const imports = createTemporalImports({
    client,
    sealer: createTokenSealer(tokenKey),
    tuning: config.importDefaults,
    taskQueue: config.taskQueue,
    isTemporalUp: () => monitor.up,
    // Refresh tokens are kept here, sealed, as the users' connections, for the workers (db/connections.ts).
    connections: store.connections,
    storedState: (tenant, key) => store.importStates.read(tenant, key),
  });
  const loopbackOnly = isLoopbackHost(config.host);
  const [tenantKeys, operatorKeys] = await Promise.all([
    store.apiKeys.countActive('tenant'),
    store.apiKeys.countActive('operator'),
  ]);
  if (tenantKeys === 0 && !loopbackOnly) {
    throw new Error(
      `HOST=${config.host} is reachable from other machines, and no API key exists yet: create one with ` +
        '`npm run api-key -- create --tenant TENANT --name NAME` (same DATABASE_URL/DATA_DIR), then start again',
    );
  }
  const auth = createAuthenticator({ keys: store.apiKeys, loopbackOnly });
  // One watcher per watched import for the whole process; closed first at shutdown, ending streams.
  const watchers = new ImportWatchers((tenant, importId) => imports.get(tenant, importId));
  const app = createApp({
    imports,
    erasure: createTemporalErasure({ client, taskQueue: config.taskQueue }),
    store,
    auth,
    temporal: temporalPing(client),
    rateLimit: config.rateLimit,
    peerRateLimit: config.peerRateLimit,
    uploadMaxBytes: config.uploadMaxBytes,
    uploadQuotaBytes: config.uploadQuotaBytes,
    sealer: createTokenSealer(tokenKey),
    schedules: createTemporalSchedules({
      client,
      sealer: createTokenSealer(tokenKey),
      tuning: config.importDefaults,
      taskQueue: config.taskQueue,
      connections: store.connections,
    }),
    events: { watchers, perKey: config.eventStreamsPerKey },
    metrics: createHttpMetrics({ processMetrics: true }),
    log: logger.child({ component: 'http' }),
    connect: {
      publicBaseUrl: config.publicBaseUrl,
      signer: createSigner(tokenKey, 'connect-session'),
      providers: readProviderSettings(process.env),
      sessionTtlSeconds: config.connectSessionTtlSeconds,
      allowPrivateAddresses: config.sourcesAllowPrivateAddresses,
    },
  });
  // The codec server for the Web UI and the CLI: operator keys only (a tenant's key must not open
  // other tenants' histories); keyless on loopback while no key at all exists, for npm start's Web UI.
  app.route(
    '/',
    createCodecApp({
      codec: createPayloadCodec(keyring),
      authorize: (authorization, origin) => auth.authenticate(authorization, 'operator', origin),
      corsOrigins: config.codecCorsOrigins,
    }),
  );
  // The progress page at / and Swagger UI at /docs: static, public; their calls need a key like any.
  app.route('/', progressPage());
  app.route('/', docsPage());
  if (tenantKeys === 0) {
    console.log(
      `api: no API keys yet: accepting requests without a key, as tenant "${OPEN_MODE_TENANT}", because HOST=${config.host} is loopback only ` +
        '(only requests addressed to localhost, 127.0.0.1 or [::1]). Create a key with `npm run api-key -- create --tenant TENANT --name NAME` to require keys.',
    );
  }
  console.log(
    `api: codec server at /codec, ${tenantKeys + operatorKeys > 0 ? 'for operator keys' : 'keyless on loopback until any key exists (then for operator keys: `npm run api-key -- create --operator --name NAME`)'}; payloads encrypted with key "${keyring[0].id}"`,
  );
  // The address each provider's OAuth client must list as a redirect URI.
  console.log(`api: connect sessions call back at ${config.publicBaseUrl}${CALLBACK_PATH} (PUBLIC_BASE_URL)`);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    console.log(`api: listening on http://${config.host}:${info.port} (Temporal ${target.connectionOptions.address}, store ${config.database.kind})`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    monitor.stop();
    // Open event streams would hold close() open: end them (EventSource reconnects elsewhere).
    watchers.close();
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
  // A configuration it refuses: `npm start` does not restart it (CONFIG_EXIT_CODE).
  process.exit(err instanceof ConfigError ? CONFIG_EXIT_CODE : 1);
});
