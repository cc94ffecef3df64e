/**
 * `npm start`: the whole service on one machine, on the embedded defaults.
 *
 * - a Temporal dev server keeping its state in `<DATA_DIR>/temporal.db`, Web UI on :8233
 *   (skipped when `TEMPORAL_ADDRESS` names a cluster);
 * - the demo provider on :8090, speaking the Google People API and Microsoft Graph (skipped when
 *   both `GOOGLE_PEOPLE_BASE_URL` and `MICROSOFT_GRAPH_BASE_URL` are set);
 * - one worker and the API on `PORT` (3000).
 *
 * It keeps them running (`scripts/supervisor.ts`): a part that exits unexpectedly is restarted with
 * backoff while the others keep running, the dev server on the same database file, so imports
 * resume. A part that keeps crashing, or refuses its configuration, stops everything, naming it
 * and its log file (`<DATA_DIR>/logs/<part>.log`).
 *
 * It never joins a server by accident: every port it is about to listen on is checked first, and
 * a taken one stops it with a message saying which process holds it and which variable picks
 * another port. Ctrl-C stops the API, then the worker (it finishes its batch's page), then the demo
 * provider, then the dev server; a second Ctrl-C kills them all at once.
 */
import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { PORT_DEFAULTS, WORKER_DEFAULTS, WORKER_NODE_FLAGS, WORKER_PROCESS_ENV } from '../config/defaults';
import { CONFIG_EXIT_CODE, parseInteger, PORT_RANGE } from '../config/parse';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { describePortHolder, portIsFree } from './port-owner';
import { privateSourcesSetting } from './private-sources';
import { nodeScriptPart, Supervisor, type NodeScriptPartOptions, type PartSpec } from './supervisor';
import { freePort, startDevServer } from './temporal-cli';
import { DEFAULT_WORKER_METRICS_ADDRESS, splitHostPort, withPort, workerMetricsAddress } from '../worker/metrics';
import { DEMO_MICROSOFT_TOKEN_PATH } from '../demo-provider/graph';
import { DEMO_AUTHORIZE_PATH, DEMO_OAUTH_CLIENT, DEMO_REVOKE_PATH, DEMO_TOKEN_PATH } from '../demo-provider/oauth';

const ROOT = path.resolve(__dirname, '..');

/** One of our Node scripts as a part, run the way `npm run <part>` runs it. */
function nodePart(
  name: string,
  options: Omit<NodeScriptPartOptions, 'args' | 'cwd'> & { script: string; nodeFlags?: readonly string[] },
): PartSpec {
  const { script, nodeFlags = [], ...rest } = options;
  return nodeScriptPart(name, { ...rest, args: [...nodeFlags, '--import', 'tsx', path.join(ROOT, script)], cwd: ROOT });
}

interface PortUse {
  port: number;
  host: string;
  what: string;
  /** The variable that picks another port. */
  variable: string;
}

/** Lines saying which of `uses` are taken and by whom; empty when all are free. */
async function takenPorts(uses: PortUse[]): Promise<string[]> {
  const taken: string[] = [];
  for (const use of uses) {
    if (await portIsFree(use.port, use.host)) continue;
    taken.push(`  ${use.host}:${use.port} (${use.what}, ${use.variable}) is held by ${describePortHolder(use.port)}`);
  }
  return taken;
}

/** Signals closer together than this are one Ctrl-C delivered twice, not a second press. */
const DUPLICATE_SIGNAL_MS = 500;

async function main(): Promise<void> {
  const config = loadConfig();
  const runDevServer = !process.env.TEMPORAL_ADDRESS;
  // The demo provider stands in for each provider whose base URL is not set.
  const runProvider = !process.env.GOOGLE_PEOPLE_BASE_URL || !process.env.MICROSOFT_GRAPH_BASE_URL;
  // Fixed before anything starts, so a restarted part comes back where the others look for it.
  const orFree = async (port: number) => port || (await freePort());
  const apiPort = await orFree(config.port);
  const temporalPort = await orFree(config.devServer.port);
  const uiPort = await orFree(config.devServer.uiPort);
  const providerHost = process.env.DEMO_PROVIDER_HOST || '127.0.0.1';
  const providerPort = await orFree(
    parseInteger('DEMO_PROVIDER_PORT', process.env.DEMO_PROVIDER_PORT, PORT_DEFAULTS.demoProvider, PORT_RANGE),
  );
  // The worker's Prometheus endpoint: on by default here, `off` turns it off.
  const metricsSetting = workerMetricsAddress({ WORKER_METRICS_ADDRESS: process.env.WORKER_METRICS_ADDRESS ?? DEFAULT_WORKER_METRICS_ADDRESS });
  const metrics = metricsSetting ? splitHostPort(metricsSetting) : undefined;
  if (metrics) metrics.port = await orFree(metrics.port);
  const metricsAddress = metricsSetting && metrics ? withPort(metricsSetting, metrics.port) : undefined;

  const taken = await takenPorts([
    ...(runDevServer
      ? [
          { port: temporalPort, host: '127.0.0.1', what: 'Temporal dev server', variable: 'TEMPORAL_PORT' },
          { port: uiPort, host: '127.0.0.1', what: 'Temporal Web UI', variable: 'TEMPORAL_UI_PORT' },
        ]
      : []),
    ...(runProvider ? [{ port: providerPort, host: providerHost, what: 'demo provider', variable: 'DEMO_PROVIDER_PORT' }] : []),
    { port: apiPort, host: config.host, what: 'API', variable: 'PORT' },
    ...(metrics ? [{ ...metrics, what: 'worker metrics', variable: 'WORKER_METRICS_ADDRESS' }] : []),
  ]);
  if (taken.length > 0) {
    console.error(
      [
        'start: not starting: ports it needs are taken:',
        ...taken,
        'Is another `npm start` running? Stop it, or give this one other ports, e.g. ' +
          `TEMPORAL_PORT=${temporalPort + 1} TEMPORAL_UI_PORT=${uiPort + 1} PORT=${apiPort + 1} DEMO_PROVIDER_PORT=${providerPort + 1}${metricsSetting && metrics ? ` WORKER_METRICS_ADDRESS=${withPort(metricsSetting, metrics.port + 1)}` : ''} npm start ` +
          '(0 picks a free port). To use a Temporal server that is already running, name it: TEMPORAL_ADDRESS=host:port.',
      ].join('\n'),
    );
    process.exit(1);
  }

  const privateSources = privateSourcesSetting(config.host, process.env);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: config.dataDir,
    PORT: String(apiPort),
    SOURCES_ALLOW_PRIVATE_ADDRESSES: privateSources.value,
    // A person reads this terminal: one readable line per event (JSON elsewhere, for log shippers).
    LOG_FORMAT: process.env.LOG_FORMAT || 'pretty',
    WORKER_METRICS_ADDRESS: metricsAddress ?? 'off',
  };
  let stopping: Promise<void> | undefined;
  const shutdown = (code: number) => {
    stopping ??= supervisor.stop().then(() => process.exit(code));
    return stopping;
  };
  const supervisor = new Supervisor({
    logDir: path.join(config.dataDir, 'logs'),
    onGiveUp: (message) => {
      console.error(`start: ${message}. Stopping everything.`);
      void shutdown(1);
    },
  });
  // Whatever ends this process, its parts do not outlive it.
  process.on('exit', () => supervisor.kill());
  let interrupts = 0;
  let firstAt = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // Under `npm start` one Ctrl-C arrives twice: from the terminal to the whole process group,
      // and again relayed by tsx's wrapper. A second press is a person's, so it comes later.
      if (interrupts === 1 && Date.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
      interrupts += 1;
      if (interrupts === 1) {
        firstAt = Date.now();
        console.log(`start: stopping (${signal}): API, worker, demo provider, dev server. Press Ctrl-C again to kill them at once.`);
        void shutdown(0);
      } else {
        console.log('start: killing every part now');
        supervisor.kill();
        process.exit(130);
      }
    });
  }

  try {
    let uiUrl: string | undefined;
    if (runDevServer) {
      env.TEMPORAL_ADDRESS = `127.0.0.1:${temporalPort}`;
      // The API derives the Web UI's origin (for its codec server) from it: the port actually used.
      env.TEMPORAL_UI_PORT = String(uiPort);
      await supervisor.start({
        name: 'temporal',
        stopGraceMs: 10_000,
        // Stopping, its internal workers warn about the server going away, a score of lines: its log has them.
        quietWhileStopping: true,
        launch: async ({ spawned, output }) => {
          const server = await startDevServer({
            dbFile: path.join(config.dataDir, 'temporal.db'),
            port: temporalPort,
            uiPort,
            // The API serves the codec server: the UI decodes input, result and memo through it.
            uiCodecEndpoint: `http://127.0.0.1:${apiPort}/codec`,
            searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS,
            log: (line) => output(line, 'stdout'),
            callerStops: true,
            onSpawn: spawned,
          });
          uiUrl = server.uiUrl;
        },
      });
      console.log(`start: Temporal dev server on ${env.TEMPORAL_ADDRESS}, Web UI ${uiUrl}`);
    } else {
      console.log(`start: using Temporal at ${process.env.TEMPORAL_ADDRESS} (run \`npm run temporal:setup\` once per cluster)`);
    }

    if (runProvider) {
      env.DEMO_PROVIDER_PORT = String(providerPort);
      let demoUrl = '';
      await supervisor.start(
        nodePart('demo-provider', {
          script: 'demo-provider/main.ts',
          env,
          ready: /(https?:\/\/\S+)/,
          onReady: (url) => {
            demoUrl = url;
            env.GOOGLE_PEOPLE_BASE_URL ??= url;
            // OAuth works locally too: the demo provider serves consent (connect sessions), tokens
            // and revocation, for its own client.
            env.GOOGLE_AUTH_URL ??= `${url}${DEMO_AUTHORIZE_PATH}`;
            env.GOOGLE_TOKEN_URL ??= `${url}${DEMO_TOKEN_PATH}`;
            env.GOOGLE_REVOKE_URL ??= `${url}${DEMO_REVOKE_PATH}`;
            env.GOOGLE_CLIENT_ID ??= DEMO_OAUTH_CLIENT.clientId;
            env.GOOGLE_CLIENT_SECRET ??= DEMO_OAUTH_CLIENT.clientSecret;
            env.MICROSOFT_GRAPH_BASE_URL ??= url;
            env.MICROSOFT_AUTH_URL ??= `${url}${DEMO_AUTHORIZE_PATH}`;
            env.MICROSOFT_TOKEN_URL ??= `${url}${DEMO_MICROSOFT_TOKEN_PATH}`;
            env.MICROSOFT_CLIENT_ID ??= DEMO_OAUTH_CLIENT.clientId;
            env.MICROSOFT_CLIENT_SECRET ??= DEMO_OAUTH_CLIENT.clientSecret;
          },
          stopGraceMs: 5_000,
        }),
      );
      console.log(`start: demo provider on ${demoUrl} (Google People API and Microsoft Graph; any access token works; "Connect Google" and "Connect Microsoft" ask it for consent)`);
    }

    let apiUrl = '';
    await Promise.all([
      supervisor.start(
        nodePart('worker', {
          script: 'worker/main.ts',
          env: { ...WORKER_PROCESS_ENV, ...env },
          nodeFlags: WORKER_NODE_FLAGS,
          // Anywhere in the line: it is a pretty or JSON log line, not a bare message.
          ready: /worker: polling/,
          // It finishes the page in flight and heartbeats it: give it its whole grace and then some.
          stopGraceMs: WORKER_DEFAULTS.shutdownGraceMs + 5_000,
        }),
      ),
      supervisor.start(
        nodePart('api', {
          script: 'api/main.ts',
          env,
          ready: /api: listening on (http:\/\/[^\s"]+)/,
          onReady: (url) => (apiUrl = url),
          stopGraceMs: 10_000,
        }),
      ),
    ]);
    console.log(`start: SOURCES_ALLOW_PRIVATE_ADDRESSES=${privateSources.value} (${privateSources.why})`);
    console.log(
      `start: ready: API on ${apiUrl}; parts are restarted if they crash; logs in ${supervisor.logFileOf('<part>')}; Ctrl-C stops everything`,
    );
  } catch (err) {
    console.error(`start: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown(1);
  }
}

main().catch((err: unknown) => {
  console.error(`start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? CONFIG_EXIT_CODE : 1);
});
