/**
 * 6. File and CardDAV throughput: the plain loop (`bench/files-loop.ts`, a process of its
 * own) and one service import of the same source, side by side, per store.
 *
 * - vCard file: `--file-contacts` cards written once per run by the tests' generator
 *   (`test/support/contact-files.ts`: about 1% malformed, a few repeated ids, vCard 2.1/3.0/4.0).
 *   Loop: `readVCardBatch` in batches of 1,000 + upsert. Service: `POST /v1/uploads` (timed on its
 *   own), then `POST /v1/imports` with the upload, timed from that POST to the poll that sees
 *   `completed`.
 * - CardDAV: `--carddav-contacts` cards in a Radicale started once per run (skipped, with the
 *   reason, when `/usr/bin/radicale` is absent). Loop: the CardDAV source's `fetchPage` + upsert.
 *   Service: `POST /v1/imports` with the CardDAV credentials, timed the same way.
 *
 * Contacts/s counts records read (saved + rejected), the same number for both sides. Both sides'
 * results are checked (saved and rejected counts, rows in the table) and deleted afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImportView } from '../api/schemas';
import { radicaleMissing, startRadicale, type RadicaleServer } from '../scripts/radicale';
import { writeVCardFile, type ContactFileExpectation } from '../test/support/contact-files';
import type { FilesLoopResult } from './files-loop';
import type { BenchOptions, Store } from './options';
import { serviceCpu, serviceCpuSince, type BenchRun, type Service, type ServiceCpu, type Teardown } from './service';
import { RssSampler, cpuSeconds, fmt, mb, round, spawnScript, type Progress } from './support';

export type FileSourceKind = 'vcard' | 'carddav';

/** CPU seconds each process used during one import. */
export interface SourceCpuSplit {
  worker: number;
  api: number;
  temporal: number;
  /** This process: the upload's sending side and status polling. */
  bench: number;
  /** Radicale (CardDAV only). */
  radicale?: number;
  /** The plain loop's own process. */
  loop?: number;
}

export interface SourceLoopFigures {
  seconds: number;
  contactsPerSecond: number;
  pages: number;
  peakRssMB: number;
  cpuSeconds: SourceCpuSplit;
}

export interface SourceServiceFigures {
  seconds: number;
  contactsPerSecond: number;
  workerPeakRssMB: number;
  /** vCard file: `POST /v1/uploads` of the file, not part of `seconds`. */
  upload?: { seconds: number; bytes: number; megabytesPerSecond: number };
  cpuSeconds: SourceCpuSplit;
}

/** One row of the file/CardDAV table (`results.sourceThroughput`). */
export interface SourceRow {
  source: FileSourceKind;
  store: Store;
  /** Records in the source (cards), malformed and repeated ones included: what contacts/s counts. */
  records: number;
  /** Expected contacts saved and records rejected. */
  saved: number;
  rejected: number;
  /** Size of the vCard file in bytes. */
  bytes?: number;
  /** Why the row was not measured (CardDAV without Radicale). */
  skipped?: string;
  loadAverage?: { loop?: number; service?: number };
  loop?: SourceLoopFigures;
  service?: SourceServiceFigures;
  ratio?: number;
}

/** What the phase imports, prepared once per run and shared by the stores. */
export interface FileFixtures {
  vcard: ContactFileExpectation & { bytes: number };
  carddav: { radicale: RadicaleServer; credentials: { url: string; username: string; password: string }; warmed: boolean } | { skipped: string };
}

/** Writes the vCard file and starts a seeded Radicale; `teardown` removes and stops them. */
export async function prepareFileFixtures(options: BenchOptions, progress: Progress, teardown: Teardown): Promise<FileFixtures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contacts-bench-files-'));
  teardown.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, `cards-${options.fileContacts}.vcf`);
  const expectation = writeVCardFile(file, options.fileContacts);
  const bytes = fs.statSync(file).size;
  progress(`files: wrote ${fmt(expectation.records)} vCards (${mb(bytes)} MB; ${fmt(expectation.saved)} to save, ${fmt(expectation.rejected)} malformed, ${fmt(expectation.duplicates)} repeated ids)`);
  const missing = radicaleMissing();
  if (missing) {
    progress(`files: CardDAV skipped: ${missing}`);
    return { vcard: { ...expectation, bytes }, carddav: { skipped: missing } };
  }
  progress(`files: starting Radicale with ${fmt(options.carddavContacts)} cards (about 1 s per 1,000 on /dev/shm)`);
  const seeding = performance.now();
  const radicale = await startRadicale({ cards: options.carddavContacts });
  teardown.add(() => radicale.stop());
  progress(`  Radicale pid ${radicale.pid} at ${radicale.addressBookUrl}, seeded in ${round((performance.now() - seeding) / 1000)} s`);
  return {
    vcard: { ...expectation, bytes },
    carddav: {
      radicale,
      credentials: { url: radicale.addressBookUrl, username: radicale.username, password: radicale.password },
      warmed: false,
    },
  };
}

/** The vCard and CardDAV rows of one store, appended to `rows` as they start (an error leaves what was measured). */
export async function measureFiles(run: BenchRun, service: Service, fixtures: FileFixtures, rows: SourceRow[]): Promise<void> {
  const { progress } = run;
  const { store, admin } = service;
  const prefix = `${run.tag}${store}-files-`;
  try {
    const file = fixtures.vcard;
    const vcard: SourceRow = { source: 'vcard', store, records: file.records, saved: file.saved, rejected: file.rejected, bytes: file.bytes };
    rows.push(vcard);
    await measureOne(run, service, vcard, `${prefix}vcard-`, {
      loopEnv: { BENCH_SOURCE: 'vcard', BENCH_VCARD_FILE: file.path },
      serviceSource: async (userId) => {
        const uploaded = await upload(service, userId, file.path);
        progress(`  upload ${mb(file.bytes)} MB in ${uploaded.figures.seconds} s (${uploaded.figures.megabytesPerSecond} MB/s), not part of the import's time`);
        return { source: { provider: 'file', uploadId: uploaded.uploadId }, upload: uploaded.figures };
      },
    });

    const cards = run.options.carddavContacts;
    const carddav: SourceRow = { source: 'carddav', store, records: cards, saved: cards, rejected: 0 };
    rows.push(carddav);
    const dav = fixtures.carddav;
    if ('skipped' in dav) {
      carddav.skipped = dav.skipped;
      return;
    }
    const loopEnv = { BENCH_SOURCE: 'carddav', BENCH_CARDDAV_CREDENTIALS: JSON.stringify(dav.credentials) };
    if (!dav.warmed) {
      // Radicale builds its per-card cache on the first read of each card: whoever reads first pays
      // for it. One unmeasured pass first, so the loop and the service both read a warm server.
      progress(`carddav ${fmt(cards)}: warm-up pass (unmeasured)`);
      await runLoop(run, service, `${prefix}carddav-warmup`, loopEnv, cards, dav.radicale.pid);
      dav.warmed = true;
    }
    await measureOne(run, service, carddav, `${prefix}carddav-`, {
      loopEnv,
      radicalePid: dav.radicale.pid,
      serviceSource: async () => ({ source: { provider: 'carddav', ...dav.credentials } }),
    });
  } finally {
    await admin.deleteUsers(prefix);
    await admin.deleteRejectsAndUploads(prefix);
  }
}

const LABEL: Record<FileSourceKind, string> = { vcard: 'vCard file', carddav: 'CardDAV' };

/** The loop, then the service, for one source on one store; fills `row` as figures arrive. */
async function measureOne(
  run: BenchRun,
  service: Service,
  row: SourceRow,
  userPrefix: string,
  how: { loopEnv: Record<string, string>; radicalePid?: number; serviceSource: (userId: string) => Promise<{ source: Record<string, string>; upload?: SourceServiceFigures['upload'] }> },
): Promise<void> {
  const { progress } = run;
  const { admin, store } = service;
  const label = `${LABEL[row.source]} ${store} ${fmt(row.records)}`;

  const loopUser = `${userPrefix}loop`;
  progress(`${label}: plain loop`);
  const loop = await runLoop(run, service, loopUser, how.loopEnv, row.records, how.radicalePid);
  if (loop.result.saved !== row.saved || loop.result.rejected !== row.rejected) {
    throw new Error(`plain loop saved ${loop.result.saved} and rejected ${loop.result.rejected}, expected ${row.saved} and ${row.rejected}`);
  }
  const loopRows = await admin.count(loopUser);
  if (loopRows !== row.saved) throw new Error(`plain loop left ${loopRows} rows, expected ${row.saved}`);
  row.loop = loop.figures;
  row.loadAverage = { loop: round(os.loadavg()[0] ?? 0, 2) };
  progress(`  plain loop ${fmt(loop.figures.contactsPerSecond)} contacts/s (${loop.figures.seconds} s), CPU s ${JSON.stringify(loop.figures.cpuSeconds)}`);
  await admin.deleteUsers(loopUser);

  const serviceUser = `${userPrefix}service`;
  progress(`${label}: service import`);
  const { source, upload: uploaded } = await how.serviceSource(serviceUser);
  const sampler = new RssSampler(service.worker.pid).start();
  const before = cpuSnapshot(run, service, how.radicalePid);
  const started = performance.now();
  let view: ImportView | undefined;
  let end: ImportView;
  try {
    view = await postImport(service, serviceUser, source);
    end = await service.imports.waitForEnd(view.importId, Math.max(180_000, row.records * 5));
  } catch (err) {
    // Not left retrying in the worker while the next measurement runs.
    if (view) await service.imports.cancelImport(view.importId).catch(() => undefined);
    throw err;
  } finally {
    // Its timer would keep the benchmark's process alive after an error.
    sampler.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const after = cpuSnapshot(run, service, how.radicalePid);
  if (end.state !== 'completed') throw new Error(`service import ended ${end.state}: ${end.errorType ?? ''} ${end.error ?? ''}`);
  if (end.saved !== row.saved || end.rejected !== row.rejected) {
    throw new Error(`service import says ${end.saved} saved and ${end.rejected} rejected, expected ${row.saved} and ${row.rejected}`);
  }
  const serviceRows = await admin.count(serviceUser);
  if (serviceRows !== row.saved) throw new Error(`service import left ${serviceRows} rows, expected ${row.saved}`);
  row.service = {
    ...(uploaded ? { upload: uploaded } : {}),
    seconds: round(seconds, 2),
    contactsPerSecond: Math.round(row.records / seconds),
    workerPeakRssMB: mb(sampler.peak),
    cpuSeconds: cpuSince(before, after),
  };
  row.loadAverage = { ...row.loadAverage, service: round(os.loadavg()[0] ?? 0, 2) };
  row.ratio = round(row.service.contactsPerSecond / loop.figures.contactsPerSecond, 2);
  progress(`  service ${fmt(row.service.contactsPerSecond)} contacts/s (${row.service.seconds} s), ratio ${row.ratio}, worker peak RSS ${row.service.workerPeakRssMB} MB, CPU s ${JSON.stringify(row.service.cpuSeconds)}`);
  await admin.deleteUsers(serviceUser);
}

async function runLoop(
  run: BenchRun,
  service: Service,
  userId: string,
  extraEnv: Record<string, string>,
  records: number,
  radicalePid: number | undefined,
): Promise<{ result: FilesLoopResult; figures: SourceLoopFigures }> {
  const before = cpuSnapshot(run, service, radicalePid);
  const child = spawnScript('files-loop', 'bench/files-loop.ts', { ...service.env, ...extraEnv, BENCH_USER_ID: userId });
  const line = await child.waitFor(/^(\{.*\})$/, Math.max(180_000, records * 5));
  await child.exited;
  const after = cpuSnapshot(run, service, radicalePid);
  const result = JSON.parse(line) as FilesLoopResult;
  return {
    result,
    figures: {
      seconds: round(result.seconds, 2),
      // Records in the source, as for the service.
      contactsPerSecond: Math.round(records / result.seconds),
      pages: result.pages,
      peakRssMB: mb(result.peakRssBytes),
      cpuSeconds: { ...cpuSince(before, after), loop: round(result.cpuSeconds) },
    },
  };
}

async function upload(service: Service, userId: string, file: string): Promise<{ uploadId: string; figures: NonNullable<SourceServiceFigures['upload']> }> {
  const body = fs.readFileSync(file);
  const started = performance.now();
  const response = await fetch(`${service.imports.url}/v1/uploads?userId=${encodeURIComponent(userId)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/vcard' },
    body,
  });
  const answer = (await response.json()) as { uploadId?: string };
  const seconds = (performance.now() - started) / 1000;
  if (response.status !== 201 || !answer.uploadId) throw new Error(`POST /v1/uploads answered ${response.status}: ${JSON.stringify(answer)}`);
  return {
    uploadId: answer.uploadId,
    figures: { seconds: round(seconds, 2), bytes: body.length, megabytesPerSecond: round(body.length / 1024 / 1024 / seconds) },
  };
}

/** `POST /v1/imports` with any source; 202 (or 200, already running) resolves. */
async function postImport(service: Service, userId: string, source: Record<string, string>): Promise<ImportView> {
  const response = await fetch(`${service.imports.url}/v1/imports`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId, source }),
  });
  const body = (await response.json()) as ImportView;
  if (response.status !== 202 && response.status !== 200) throw new Error(`POST /v1/imports answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

type CpuSnapshot = ServiceCpu & { radicale?: number };

function cpuSnapshot(run: BenchRun, service: Service, radicalePid: number | undefined): CpuSnapshot {
  return { ...serviceCpu(run, service), ...(radicalePid === undefined ? {} : { radicale: cpuSeconds(radicalePid) }) };
}

function cpuSince(before: CpuSnapshot, after: CpuSnapshot): SourceCpuSplit {
  const split: SourceCpuSplit = serviceCpuSince(before, after);
  if (before.radicale !== undefined && after.radicale !== undefined) split.radicale = round(after.radicale - before.radicale);
  return split;
}
