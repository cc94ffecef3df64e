/**
 * `npm run worker`: one import worker process. Run as many as you like on the same task queue.
 * SIGINT/SIGTERM shut it down gracefully: it stops polling, lets running batches reach a page
 * boundary, then exits.
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { temporalTarget } from '../config/temporal';
import { createTokenSealer, loadTokenKey } from '../config/token-seal';
import { openStore } from '../db';
import { bundleWorkflowsInThread } from './bundle-workflows';
import { createImportWorker } from './create-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const target = temporalTarget();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const store = await openStore(config.database);
  const connection = await NativeConnection.connect(target.connectionOptions);
  try {
    const worker = await createImportWorker({
      connection,
      workflowBundle: await bundleWorkflowsInThread(),
      namespace: target.namespace,
      taskQueue: config.taskQueue,
      deps: {
        store,
        sealer: createTokenSealer(loadTokenKey(config)),
        sources: { googlePeopleBaseUrl: config.googlePeopleBaseUrl },
      },
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      heartbeatThrottleMs: config.heartbeatThrottleMs,
    });
    console.log(
      `worker: polling task queue "${worker.options.taskQueue}" on ${target.connectionOptions.address} (namespace ${target.namespace}), store ${config.database.kind}`,
    );
    await worker.run();
    console.log('worker: stopped');
  } finally {
    await connection.close();
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(`worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
