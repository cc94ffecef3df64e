/**
 * `worker/main.ts` with one difference: the workflow code comes pre-bundled (`BENCH_WORKFLOW_BUNDLE`,
 * written by `bench/run.ts --prebundle`) instead of being bundled with webpack when the worker
 * starts. Measures what bundling at start costs in memory and start time.
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { temporalTarget } from '../config/temporal';
import { createTokenSealer, loadTokenKey } from '../config/token-seal';
import { openStore } from '../db';
import { createImportWorker } from '../worker/create-worker';

async function main(): Promise<void> {
  const codePath = process.env.BENCH_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('BENCH_WORKFLOW_BUNDLE must name the pre-built workflow bundle');
  const config = loadConfig();
  const target = temporalTarget();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const store = await openStore(config.database);
  const connection = await NativeConnection.connect(target.connectionOptions);
  try {
    const worker = await createImportWorker({
      connection,
      namespace: target.namespace,
      taskQueue: config.taskQueue,
      workflowBundle: { codePath },
      deps: {
        store,
        sealer: createTokenSealer(loadTokenKey(config)),
        googlePeopleBaseUrl: config.googlePeopleBaseUrl,
      },
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      heartbeatThrottleMs: config.heartbeatThrottleMs,
    });
    console.log(`worker: polling task queue "${worker.options.taskQueue}" (pre-bundled workflows)`);
    await worker.run();
  } finally {
    await connection.close();
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(`worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
