/**
 * `npm run worker`: one import worker process. Run as many as you like on the same task queue.
 * SIGINT/SIGTERM shut it down gracefully: it stops polling, lets running batches reach a page
 * boundary, then exits.
 *
 * A worker that cannot do imports does not take them: it refuses to start when its configuration
 * is wrong, and stops polling after a few batches it could not open the credentials of (another
 * worker's key). Either way it exits with {@link CONFIG_EXIT_CODE}.
 */
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config';
import { monitorConnection, type ConnectionMonitor } from '../observability/connection-monitor';
import { dataConverter } from '../encryption/data-converter';
import { loadPayloadKeyring } from '../encryption/payload-keys';
import { temporalTarget } from '../config/temporal';
import { createTokenSealer, loadTokenKey } from '../encryption/token-seal';
import { CONFIG_EXIT_CODE } from '../config/parse';
import { connectionGateGauges, governorMetrics, pageGateGauges } from '../activities/metrics';
import { createConnectionGate } from '../activities/connection-gate';
import { GOVERNOR_DEFAULTS } from '../config/defaults';
import { createPageGate } from '../activities/page-gate';
import { openStore } from '../db';
import { closeProviders, describeBudgets, describeProviderSettings, readProviderSettings } from '../providers';
import { createRequestGovernor, ungoverned } from '../providers/kit/governor';
import { workerWorkflowBundle } from './bundle-workflows';
import { createImportWorker, workerSourceSettings } from './create-worker';
import { createHeapHeadroom } from './heap-headroom';
import { limitThreadSemiSpace } from './thread-heap';
import { createMisconfigurationGuard } from './misconfiguration-guard';
import { ensureUploadExpirySchedule } from './upload-expiry-schedule';
import { checkNamespace } from './preflight';
import { sdkLogLevel, workerRuntimeLogging } from './runtime-logger';
import { workerMetricsAddress, workerMetricsTelemetry } from './metrics';
import { createLogger, logSettings, routeConsole } from '../observability/logger';
import { startCpuStages } from '../observability/cpu-stages';

// Every line this process writes is one pino event (JSON, or readable under LOG_FORMAT=pretty).
const logger = createLogger('worker');
routeConsole(logger);

async function main(): Promise<void> {
  const logs = logSettings();
  const config = loadConfig();
  // The benchmark's CPU per stage; unset (as deployed), nothing is profiled.
  if (config.workerCpuStagesFile) await startCpuStages(config.workerCpuStagesFile, config.workerCpuProfileDir);
  // Before any thread starts (the workflow thread, decode threads): their young generation is their own.
  limitThreadSemiSpace(config.workerThreadSemiSpaceMb);
  // Each provider reads its own variables (GOOGLE_PEOPLE_BASE_URL, …), validated here at start too.
  const providers = readProviderSettings(process.env);
  const target = temporalTarget();
  const address = target.connectionOptions.address;
  const metricsAddress = workerMetricsAddress();
  // Set once connected: until then a failed connection fails the start, and says so.
  let monitor: ConnectionMonitor | undefined;
  const logging = workerRuntimeLogging({ onConnectionTrouble: () => monitor?.checkNow(), sink: logger, level: sdkLogLevel(logs.level) });
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...logging,
    telemetryOptions: { ...logging.telemetryOptions, ...workerMetricsTelemetry(metricsAddress) },
  });
  const store = await openStore(config.database);
  const connection = await NativeConnection.connect(target.connectionOptions);
  let misconfigured: string | undefined;
  try {
    await checkNamespace(connection, target.namespace);
    const guard = createMisconfigurationGuard({
      stop: (reason) => {
        misconfigured = reason;
        console.error(`worker: stopping: ${reason}`);
        if (worker.getState() === 'RUNNING') worker.shutdown();
      },
    });
    const converter = dataConverter(loadPayloadKeyring(config));
    const client = new Client({ connection, namespace: target.namespace, dataConverter: converter });
    const worker = await createImportWorker({
      connection,
      workflowBundle: await workerWorkflowBundle(),
      namespace: target.namespace,
      taskQueue: config.taskQueue,
      deps: {
        store,
        // Erasure cancels imports and waits for them, and expiry asks whether they run: a client on
        // this worker's own connection.
        client,
        sealer: createTokenSealer(loadTokenKey(config)),
        sources: workerSourceSettings(config, providers),
        onMisconfigured: (problem) => guard.report(problem),
        // One gate for the whole process: every batch's pages take turns through it.
        pageGate: createPageGate(config.workerPagesInFlight, metricsAddress ? pageGateGauges(Runtime.instance().metricMeter) : undefined),
        // And one connection gate: every page fetch and webhook delivery waits on the network through it.
        connectionGate: createConnectionGate(
          { connections: config.workerConnections.total, perTenant: config.workerConnections.perTenant },
          metricsAddress ? connectionGateGauges(Runtime.instance().metricMeter) : undefined,
        ),
        fetchAhead: config.importFetchAhead,
        // One for the whole process, over the store every worker shares: the budgets are the deployment's.
        governor: config.providerGovernor
          ? createRequestGovernor({
              state: store.budgets,
              ...GOVERNOR_DEFAULTS,
              observer: metricsAddress ? governorMetrics(Runtime.instance().metricMeter) : undefined,
            })
          : ungoverned,
      },
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      heartbeatThrottleMs: config.heartbeatThrottleMs,
      dataConverter: converter,
      heapHeadroom: createHeapHeadroom(config.workerHeapHeadroomPercent),
    });
    console.log(
      `worker: polling task queue "${worker.options.taskQueue}" on ${target.connectionOptions.address} (namespace ${target.namespace}), store ${config.database.kind}, ` +
        `${config.workerMaxConcurrentActivities} batches, ${config.workerPagesInFlight} pages being saved and ${config.workerConnections.total} connections ` +
        `(${config.workerConnections.perTenant} per tenant) at most, fetch-ahead ${config.importFetchAhead ? 'on' : 'off'}` +
        describeProviderSettings(providers)
          .map((said) => `, ${said}`)
          .join('') +
        (config.providerGovernor ? `, provider budgets: ${describeBudgets(providers)}` : ', provider governor off') +
        (metricsAddress ? `, metrics on http://${metricsAddress}/metrics` : ''),
    );
    // Beside polling, not before it; and not fatal: imports run without it, uploads then wait for a
    // worker that can create it.
    void ensureUploadExpirySchedule(client, { taskQueue: config.taskQueue, retentionSeconds: config.uploadRetentionSeconds }).then(
      (outcome) => console.log(`worker: upload-expiry schedule ${outcome} (uploads expire after ${config.uploadRetentionSeconds} s, UPLOAD_RETENTION)`),
      (err: unknown) => console.warn(`worker: could not create the upload-expiry schedule, so uploads do not expire: ${err instanceof Error ? err.message : String(err)}`),
    );
    monitor = monitorConnection({
      ping: (deadline) => connection.withDeadline(deadline, () => connection.workflowService.getSystemInfo({})).then(() => undefined),
      log: (line) => console.error(line),
      name: 'worker',
      address,
      meanwhile: 'polling resumes once it answers',
      // Core's own warnings say when calls fail; no need to ask the server every few seconds.
      watchWhileUp: false,
    });
    await worker.run();
    console.log('worker: stopped');
  } finally {
    monitor?.stop();
    await connection.close();
    // Decode threads, when WORKER_DECODE_THREADS asked for them.
    await closeProviders(providers);
    await store.close();
  }
  if (misconfigured) process.exitCode = CONFIG_EXIT_CODE;
}

main().catch((err: unknown) => {
  console.error(`worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? CONFIG_EXIT_CODE : 1);
});
