/**
 * The plain loops the file and CardDAV imports are measured against: the same parsing and the
 * same inserts as the service, in one process, with no Temporal, no API and no pipelining.
 *
 * - `BENCH_SOURCE=vcard`: `readVCardBatch` over `BENCH_VCARD_FILE` (opened with
 *   `openFileByteSource`) in batches of 1,000 records → `upsertContacts` each batch (and
 *   `recordRejects` for the batch's rejects, as the service does) → repeat, sequentially.
 * - `BENCH_SOURCE=carddav`: the service's CardDAV source (the registry's, so cards are read with
 *   the same vCard reader the worker uses) over `BENCH_CARDDAV_CREDENTIALS` (`{"url","username",
 *   "password"}`): `fetchPage` (pageSize 1,000) → `upsertContacts` (+ rejects) → repeat.
 *
 * Run by `bench/measure-files.ts` as a child process, so it has a process of its own exactly as
 * the worker does. Reads the worker's environment (`DATA_DIR`, `DATABASE_URL`,
 * `DEFAULT_PHONE_REGION`, `SOURCES_ALLOW_PRIVATE_ADDRESSES`) plus `BENCH_USER_ID`, and prints one
 * JSON line: {@link FilesLoopResult}. Timed from the first read to the last save.
 */
import { openSource, type ProviderSettings } from '../providers';
import { openFileByteSource, readVCardBatch, START_CURSOR, type FileCursor } from '../providers/formats';
import type { AppConfig } from '../config';
import { DEFAULT_TUNING } from '../config/defaults';
import type { ContactStore } from '../db/types';
import type { PhoneRegion } from '../providers/kit/normalize';
import { DEFAULT_TENANT } from '../workflows/contract';
import { openLoopProcess } from './loop-process';

export interface FilesLoopResult {
  /** Records read: contacts saved (after in-batch dedupe) plus records rejected. */
  saved: number;
  rejected: number;
  pages: number;
  seconds: number;
  peakRssBytes: number;
  /** CPU seconds of this process, user + system, during the loop. */
  cpuSeconds: number;
}

type Step = () => Promise<{ saved: number; rejected: number; more: boolean }>;

function vcardLoop(file: string, userId: string, contacts: ContactStore, defaultRegion: PhoneRegion): { step: Step; close: () => Promise<void> } {
  const opened = openFileByteSource(file);
  let cursor: FileCursor | null = START_CURSOR;
  return {
    async step() {
      const bytes = await opened;
      const batch = await readVCardBatch(bytes, cursor ?? START_CURSOR, DEFAULT_TUNING.pageSize, { defaultRegion });
      await contacts.upsertContacts(userId, 'file', batch.records);
      if (batch.rejected.length > 0) await contacts.recordRejects(`${userId}/plain-loop`, userId, batch.rejected);
      cursor = batch.nextCursor;
      return { saved: batch.records.length, rejected: batch.rejected.length, more: cursor !== null };
    },
    close: async () => (await opened).close(),
  };
}

function carddavLoop(credentials: string, userId: string, contacts: ContactStore, config: AppConfig, providers: ProviderSettings): { step: Step; close: () => Promise<void> } {
  const source = openSource(
    'carddav',
    credentials,
    {
      providers,
      defaultPhoneRegion: config.defaultPhoneRegion,
      allowPrivateAddresses: config.sourcesAllowPrivateAddresses,
    },
    { tenant: DEFAULT_TENANT, userId },
  );
  const signal = new AbortController().signal;
  let cursor: string | null = null;
  return {
    async step() {
      const page = await (await source).fetchPage({ cursor, pageSize: DEFAULT_TUNING.pageSize, signal });
      await contacts.upsertContacts(userId, 'carddav', page.contacts);
      if (page.rejected?.length) await contacts.recordRejects(`${userId}/plain-loop`, userId, page.rejected);
      cursor = page.nextCursor;
      return { saved: page.contacts.length, rejected: page.rejected?.length ?? 0, more: cursor !== null };
    },
    close: async () => (await source).close?.(),
  };
}

async function main(): Promise<void> {
  const kind = process.env.BENCH_SOURCE;
  const { userId, config, providers, store, contacts } = await openLoopProcess('loop');
  try {
    let loop: { step: Step; close: () => Promise<void> };
    if (kind === 'vcard') {
      const file = process.env.BENCH_VCARD_FILE;
      if (!file) throw new Error('BENCH_VCARD_FILE must be set');
      loop = vcardLoop(file, userId, contacts, config.defaultPhoneRegion);
    } else if (kind === 'carddav') {
      const credentials = process.env.BENCH_CARDDAV_CREDENTIALS;
      if (!credentials) throw new Error('BENCH_CARDDAV_CREDENTIALS must be set');
      loop = carddavLoop(credentials, userId, contacts, config, providers);
    } else {
      throw new Error(`BENCH_SOURCE must be vcard or carddav (got ${kind ?? 'nothing'})`);
    }
    let peakRssBytes = process.memoryUsage.rss();
    let saved = 0;
    let rejected = 0;
    let pages = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    try {
      for (;;) {
        const page = await loop.step();
        saved += page.saved;
        rejected += page.rejected;
        pages += 1;
        peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
        if (!page.more) break;
      }
    } finally {
      await loop.close();
    }
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const result: FilesLoopResult = { saved, rejected, pages, seconds, peakRssBytes, cpuSeconds: (used.user + used.system) / 1e6 };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(`files-loop: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
