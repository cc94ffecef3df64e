/**
 * 7. Microsoft Graph throughput: the plain loop reading the demo provider's Graph side
 * (`bench/plain-loop.ts` with `PLAIN_LOOP_API=graph`: every contact folder, each with the contact
 * delta query, one transaction per page) and one service import of `microsoft-graph` of the same
 * people, side by side, per store. The demo provider splits its people over three folders, so both
 * sides read three delta rounds and list the folders first.
 */
import os from 'node:os';
import { plainLoopTarget, runPlainLoop, runService, type ThroughputRow } from './measure-throughput';
import { dropPlainLoopTable } from './plain-loop';
import type { BenchRun, Service } from './service';
import { fmt, round } from './support';

/** One row of the Graph table (`results.graph`): the throughput table's figures, for Graph. */
export type GraphRow = Pick<ThroughputRow, 'store' | 'contacts' | 'loadAverage' | 'plainLoop' | 'service' | 'ratio' | 'cpuRatio'>;

/** Imports `row.contacts` through the plain loop, then the service, checks the rows and deletes them; fills `row` as figures arrive. */
export async function measureGraph(run: BenchRun, service: Service, row: GraphRow): Promise<void> {
  const { progress } = run;
  const { store, contacts: n } = row;
  await run.provider.configure({ contacts: n });
  progress(`Microsoft Graph ${store} ${fmt(n)}: plain loop`);
  try {
    row.plainLoop = await runPlainLoop(run, service, n, `${run.tag}${store}-graph-loop-${n}`, 'graph');
  } finally {
    await dropPlainLoopTable(plainLoopTarget(run, service));
  }
  row.loadAverage = { plainLoop: round(os.loadavg()[0] ?? 0, 2) };
  progress(`  plain loop ${fmt(row.plainLoop.contactsPerSecond)} contacts/s (${row.plainLoop.seconds} s), CPU s ${JSON.stringify(row.plainLoop.cpuSeconds)}`);

  const user = `${run.tag}${store}-graph-${n}`;
  progress(`Microsoft Graph ${store} ${fmt(n)}: service import`);
  const { figures } = await runService(run, service, user, n, 'microsoft-graph');
  const rows = await service.admin.count(user);
  if (rows !== n) throw new Error(`service import left ${rows} rows, expected ${n}`);
  row.service = figures;
  row.loadAverage = { ...row.loadAverage, service: round(os.loadavg()[0] ?? 0, 2) };
  row.ratio = round(figures.contactsPerSecond / row.plainLoop.contactsPerSecond, 2);
  row.cpuRatio = round(figures.cpuSeconds.worker / row.plainLoop.cpuSeconds.loop, 2);
  progress(`  service ${fmt(figures.contactsPerSecond)} contacts/s (${figures.seconds} s), ratio ${row.ratio}, worker peak RSS ${figures.workerPeakRssMB} MB, CPU s ${JSON.stringify(figures.cpuSeconds)}`);
  await service.admin.deleteUsers(user);
}
