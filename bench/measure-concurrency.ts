/**
 * Many imports at once, on one worker of its own: `--concurrent` imports (20) of
 * `--concurrent-contacts` (50,000) each, started together, with the total throughput and the
 * worker's peak RSS; then a 1,000-contact import started while `--concurrent / 2` (10) large ones
 * run, timed against the same import alone.
 *
 * The worker reads the provider through its router (`provider-process.ts`): the small import's
 * token (`small-…`) reaches a provider of 1,000 contacts, every other import's the large one.
 */
import { randomBytes } from 'node:crypto';
import { importsApi, type ImportsApi } from './http-client';
import type { Store } from './options';
import { SMALL_CONTACTS, SMALL_TOKEN_PREFIX } from './remote-provider';
import { serviceCpu, serviceCpuSince, startService, stopService, type BenchRun, type ServiceCpu, type Teardown } from './service';
import { RssSampler, fmt, mb, round } from './support';

export interface ConcurrencyFigures {
  store: Store;
  imports: number;
  contactsEach: number;
  seconds: number;
  contactsPerSecond: number;
  workerPeakRssMB: number;
  workerStartRssMB: number;
  cpuSeconds: ServiceCpu;
  /** Status reads answered 503 `temporal_unavailable` while the imports ran (read again a second later, as a client does). */
  statusUnavailable: number;
  small?: {
    contacts: number;
    /** The small import alone on the worker: POST to the poll that sees `completed`. */
    aloneSeconds: number;
    /** The same with `largeImports` running. */
    underLoadSeconds: number;
    ratio: number;
    largeImports: number;
  };
}

/** Starts its own worker and API (the router as provider), measures, and stops them. */
export async function measureConcurrency(run: BenchRun, store: Store, teardown: Teardown): Promise<ConcurrencyFigures> {
  const { progress, options } = run;
  const { concurrent, concurrentContacts: each } = options;
  const service = await startService({ ...run, baseEnv: { ...run.baseEnv, GOOGLE_PEOPLE_BASE_URL: run.provider.routerUrl } }, store, teardown);
  try {
    await run.provider.configure({ contacts: each });
    const small = importsApi(service.imports.url, `${SMALL_TOKEN_PREFIX}${randomBytes(6).toString('hex')}`, progress);
    const timeSmall = async (label: string): Promise<number> => {
      const started = performance.now();
      const { view } = await small.postImport(`${run.tag}small-${label}`);
      const end = await small.waitForEnd(view.importId, 600_000);
      if (end.state !== 'completed' || end.saved !== SMALL_CONTACTS) throw new Error(`small import ended ${end.state} with ${end.saved} saved`);
      return round((performance.now() - started) / 1000, 2);
    };
    progress(`${store}: ${SMALL_CONTACTS} contacts alone (after one unmeasured import warms the worker up)`);
    await timeSmall('warm-up');
    const aloneSeconds = await timeSmall('alone');

    progress(`${store}: ${concurrent} imports of ${fmt(each)} at once`);
    const sampler = new RssSampler(service.worker.pid).start();
    const before = serviceCpu(run, service);
    const started = performance.now();
    const ids = await startMany(service.imports, `${run.tag}many`, concurrent);
    const statusUnavailable = await waitAll(service.imports, ids, each);
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = serviceCpuSince(before, serviceCpu(run, service));
    sampler.stop();
    const figures: ConcurrencyFigures = {
      store,
      imports: concurrent,
      contactsEach: each,
      seconds: round(seconds, 2),
      contactsPerSecond: Math.round((concurrent * each) / seconds),
      workerPeakRssMB: mb(sampler.peak),
      workerStartRssMB: mb(sampler.first ?? 0),
      cpuSeconds,
      statusUnavailable,
    };
    progress(`  ${fmt(figures.contactsPerSecond)} contacts/s in all (${figures.seconds} s), worker peak RSS ${figures.workerPeakRssMB} MB, ${statusUnavailable} status reads answered 503, CPU s ${JSON.stringify(cpuSeconds)}`);
    await service.admin.deleteUsers(`${run.tag}many`);

    const large = Math.max(1, Math.floor(concurrent / 2));
    progress(`${store}: ${SMALL_CONTACTS} contacts while ${large} imports of ${fmt(each)} run`);
    const busy = await startMany(service.imports, `${run.tag}busy`, large);
    // Every large import is under way (its first page saved) before the small one starts.
    for (const id of busy) {
      while ((await service.imports.getImport(id)).saved === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const underLoadSeconds = await timeSmall('under-load');
    for (const id of busy) await service.imports.cancelImport(id);
    for (const id of busy) {
      while (['running', 'paused'].includes((await service.imports.getImport(id)).state)) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    figures.small = { contacts: SMALL_CONTACTS, aloneSeconds, underLoadSeconds, ratio: round(underLoadSeconds / aloneSeconds, 2), largeImports: large };
    progress(`  alone ${aloneSeconds} s, beside ${large} large imports ${underLoadSeconds} s (${figures.small.ratio}×)`);
    return figures;
  } finally {
    await stopService(run, service);
  }
}

/** Starts `count` imports for users `<prefix>-<i>`; resolves to their import ids. */
async function startMany(imports: ImportsApi, prefix: string, count: number): Promise<string[]> {
  const views = await Promise.all(Array.from({ length: count }, (_, i) => imports.postImport(`${prefix}-${i}`)));
  return views.map((v) => v.view.importId);
}

/**
 * Waits for every import to end, reading each once a second: at the 100 ms of `waitForEnd`, 20
 * imports would be 200 status queries a second, which the worker answers on the thread it imports with.
 * A read answered 503 `temporal_unavailable` (the worker's query answer late on a loaded machine) is
 * read again at the next round, as a client does on `Retry-After`; resolves to how many were.
 */
async function waitAll(imports: ImportsApi, ids: readonly string[], each: number): Promise<number> {
  const open = new Set(ids);
  let unavailable = 0;
  const deadline = Date.now() + 1_800_000;
  while (open.size > 0) {
    if (Date.now() > deadline) throw new Error(`${open.size} concurrent imports still running after 30 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const id of [...open]) {
      const view = await imports.getImport(id).catch((error: unknown) => {
        if (error instanceof Error && error.message.includes('answered 503') && error.message.includes('temporal_unavailable')) return null;
        throw error;
      });
      if (view === null) {
        unavailable += 1;
        continue;
      }
      if (view.state === 'running' || view.state === 'paused') continue;
      if (view.state !== 'completed' || view.saved !== each) throw new Error(`a concurrent import ended ${view.state} with ${view.saved} of ${each} saved`);
      open.delete(id);
    }
  }
  return unavailable;
}
