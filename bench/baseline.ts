/**
 * The baseline the service is measured against: the plainest correct import loop, in one process,
 * with no Temporal. Fetch a page of 1000 (the service's default page size), upsert it (one
 * statement, so one transaction), repeat.
 *
 * Run by `bench/run.ts` as a child process, so it has a process of its own exactly as the worker
 * does (the demo provider lives in the bench process for both). Reads the same environment as the
 * worker (`DATA_DIR`, `DATABASE_URL`, `GOOGLE_PEOPLE_BASE_URL`) plus `BENCH_USER_ID`, and prints
 * one JSON line: {@link BaselineResult}.
 */
import { fetchConnectionsPage } from '../providers/google-people/client';
import { DEFAULT_TUNING } from '../config/defaults';
import { openLoopProcess } from './loop-process';

export interface BaselineResult {
  contacts: number;
  pages: number;
  seconds: number;
  peakRssBytes: number;
  /** CPU seconds of this process, user + system, during the loop. */
  cpuSeconds: number;
}

async function main(): Promise<void> {
  const { userId, providers, store, contacts: contactsOfTenant } = await openLoopProcess('baseline');
  try {
    let peakRssBytes = process.memoryUsage.rss();
    let cursor: string | null = null;
    let contacts = 0;
    let pages = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    do {
      const page = await fetchConnectionsPage({
        baseUrl: providers['google-people'].baseUrl,
        accessToken: 'bench-baseline-token',
        pageSize: DEFAULT_TUNING.pageSize,
        pageToken: cursor,
      });
      await contactsOfTenant.upsertContacts(userId, 'google-people', page.contacts);
      contacts += page.contacts.length;
      pages += 1;
      cursor = page.nextPageToken;
      peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    } while (cursor !== null);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const result: BaselineResult = {
      contacts,
      pages,
      seconds,
      peakRssBytes,
      cpuSeconds: (used.user + used.system) / 1e6,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(`baseline: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
