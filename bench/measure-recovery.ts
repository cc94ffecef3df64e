/**
 * 5. Recovery after SIGKILL: an import of `--contacts`; the worker is SIGKILLed once `--kill-at`
 * of it is saved and another is started. Counts the pages the provider served twice, the lag of
 * the server's last heartbeat behind the committed rows, and how long the new worker takes to go on.
 */
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { loadConfig } from '../config';
import { BatchHeartbeat } from '../workflows/checkpoint';
import { parseOrNull } from '../workflows/contract';
import { startWorker, type BenchRun, type Service } from './service';
import { round, sleep, type Child } from './support';

export interface RecoveryFigures {
  contacts: number;
  killedAtSaved: number;
  /** Pages the server's last heartbeat was behind the rows actually committed when the worker died. */
  heartbeatLagPages: number | null;
  pagesFetchedTwice: number;
  contactsFetchedTwice: number;
  /** From spawning the new worker to its "polling" line (bundling workflow code, connecting). */
  workerReadySeconds: number;
  /** From spawning the new worker to the first page the provider served to it. */
  firstFetchSeconds: number;
  /** From spawning the new worker to the first new row committed: "resumed progress". */
  resumedSeconds: number;
  /** From the SIGKILL to resumed progress. */
  killToResumedSeconds: number;
  completed: boolean;
  finalRows: number;
}

/** Leaves the new worker in `service.worker`, so that stopping the service stops it. */
export async function measureRecovery(run: BenchRun, service: Service): Promise<RecoveryFigures> {
  const { provider } = run;
  const { contacts: n, killAt } = run.options;
  const { admin, imports } = service;
  const userId = `${run.tag}recovery`;
  await provider.configure({ contacts: n });
  await provider.resetStats();
  const { view } = await imports.postImport(userId);
  const pageSize = loadConfig(service.env).importDefaults.pageSize;
  for (;;) {
    const v = await imports.getImport(view.importId);
    if (v.saved >= n * killAt) break;
    if (v.state !== 'running') throw new Error(`recovery import ended (${v.state}) before ${killAt * 100}% was saved`);
    await sleep(20);
  }
  const killedAt = performance.now();
  service.worker.kill('SIGKILL');
  await service.worker.exited;
  const killedAtSaved = await admin.count(userId);
  const pagesAtKill = (await provider.stats()).pagesServed;
  const heartbeatSaved = await lastHeartbeatSaved(run, view.workflowId);
  const heartbeatLagPages = heartbeatSaved === null ? null : round((killedAtSaved - heartbeatSaved) / pageSize, 2);
  run.progress(`  SIGKILLed the worker at ${killedAtSaved.toLocaleString('en-US')} rows (heartbeat ${heartbeatLagPages ?? '?'} pages behind); starting another`);

  const spawnedAt = performance.now();
  const workerPromise = startWorker(service.env, 'worker-restarted');
  let readyAt = 0;
  let firstFetchAt = 0;
  let resumedAt = 0;
  let worker: Child | undefined;
  void workerPromise.then((w) => {
    readyAt = performance.now();
    worker = w;
  });
  const deadline = Date.now() + 120_000;
  while ((!firstFetchAt || !resumedAt) && Date.now() < deadline) {
    if (!firstFetchAt && (await provider.stats()).pagesServed > pagesAtKill) firstFetchAt = performance.now();
    if (!resumedAt && (await admin.count(userId)) > killedAtSaved) resumedAt = performance.now();
    await sleep(50);
  }
  service.worker = worker ?? (await workerPromise);
  if (!readyAt) readyAt = performance.now();
  const end = await imports.waitForEnd(view.importId, Math.max(180_000, n * 2));
  const twice = Object.values((await provider.stats()).pageTokensServed).filter((count) => count > 1);
  const extraServes = twice.reduce((sum, count) => sum + count - 1, 0);
  const finalRows = await admin.count(userId);
  await admin.deleteUsers(userId);
  return {
    contacts: n,
    killedAtSaved,
    heartbeatLagPages,
    pagesFetchedTwice: extraServes,
    contactsFetchedTwice: extraServes * pageSize,
    workerReadySeconds: round((readyAt - spawnedAt) / 1000, 2),
    firstFetchSeconds: round((firstFetchAt - spawnedAt) / 1000, 2),
    resumedSeconds: round((resumedAt - spawnedAt) / 1000, 2),
    killToResumedSeconds: round((resumedAt - killedAt) / 1000, 2),
    completed: end.state === 'completed' && end.saved === n,
    finalRows,
  };
}

/** `saved` of the batch's last heartbeat the server holds; `null` when there is none (diagnostic only). */
async function lastHeartbeatSaved(run: BenchRun, workflowId: string): Promise<number | null> {
  try {
    const description = await run.client.workflow.getHandle(workflowId).describe();
    const payloads = description.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads;
    if (!payloads?.length) return null;
    // Through the client's data converter: the payload codec may have encrypted the details.
    const details = await decodeFromPayloadsAtIndex<unknown>(run.client.options.loadedDataConverter, 0, payloads);
    return parseOrNull(BatchHeartbeat, details).value?.checkpoint.saved ?? null;
  } catch {
    return null;
  }
}
