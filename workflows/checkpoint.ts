/**
 * The checkpoint: where an import stands in its provider's list. Its fields are declared here, once,
 * with the pure functions over them: how a saved page moves it, how a refused sync token turns it
 * into a full read, where a retried batch resumes, and which status fields it gives. The workflow
 * carries it, the batch activity moves and heartbeats it, the store keeps it (one JSON column parsed
 * with {@link ImportCheckpoint}) and the API's status reader takes its counts.
 *
 * Sandbox-safe: zod only; no Node built-ins, no I/O.
 */
import { z } from 'zod';
import { parseOrNull } from './parse';

const count = z.number().int().nonnegative();

/** How an import reads its source once its first batch decided: everything, or what changed since a sync token. */
export const ResolvedSyncMode = z.enum(['full', 'incremental']);
export type ResolvedSyncMode = z.infer<typeof ResolvedSyncMode>;

/** Where an import stands; carried across activities and continue-as-new, and stored with every page. */
export const ImportCheckpoint = z.object({
  /** Provider page token of the next page to fetch; `null` before the first page and after the last. */
  cursor: z.string().nullable(),
  /** Records read: saved plus rejected. */
  fetched: count,
  saved: count,
  /** Records set aside (quarantined) instead of saved. */
  rejected: count,
  pages: count,
  /** The provider's count of all contacts, as last reported, when it reports one. */
  total: count.nullable(),
  /** Absent only until the import's first batch resolves the requested mode (activities/import-sync.ts). */
  mode: ResolvedSyncMode.optional(),
  /** Contacts this import marked deleted (tombstones). */
  deleted: count,
  /** A full read that sweeps at its end (the user had contacts): the user's change number when it began. */
  sweepAt: count.optional(),
  /** Incremental: the token it reads changes since (the store's is replaced at the last page). Not a credential. */
  syncToken: z.string().min(1).optional(),
});
export type ImportCheckpoint = z.infer<typeof ImportCheckpoint>;

/** Where every import begins: nothing read, the mode not yet resolved. */
export const EMPTY_CHECKPOINT: ImportCheckpoint = { cursor: null, fetched: 0, saved: 0, rejected: 0, pages: 0, total: null, deleted: 0 };

/** The provider has no more pages: at least one page was read and it named no next one. */
export function isFinished(checkpoint: ImportCheckpoint): boolean {
  return checkpoint.pages > 0 && checkpoint.cursor === null;
}

/** What one saved page did, in counts: all {@link advance} needs of it. */
export interface SavedPage {
  /** Contacts saved. */
  saved: number;
  /** Records set aside instead. */
  rejected: number;
  /** The provider's token for the page after it; `null` on the last page. */
  nextCursor: string | null;
  /** The provider's count of all contacts, when this page reported one. */
  total: number | null;
  /** Contacts its bookkeeping tombstoned (deletions the source reported, the sweep). */
  deleted: number;
}

/** The checkpoint after `page` was saved; the sync fields (mode, sweep, token) carry on unchanged. */
export function advance(checkpoint: ImportCheckpoint, page: SavedPage): ImportCheckpoint {
  return {
    ...checkpoint,
    cursor: page.nextCursor,
    fetched: checkpoint.fetched + page.saved + page.rejected,
    saved: checkpoint.saved + page.saved,
    rejected: checkpoint.rejected + page.rejected,
    pages: checkpoint.pages + 1,
    total: page.total ?? checkpoint.total,
    deleted: checkpoint.deleted + page.deleted,
  };
}

/**
 * `checkpoint` with `deleted` more contacts tombstoned: what a page's deletions add, counted in the
 * transaction that saves the page (db/contact-upsert.ts), so a retried page counts them once.
 */
export function countDeletions(checkpoint: ImportCheckpoint, deleted: number): ImportCheckpoint {
  return deleted === 0 ? checkpoint : { ...checkpoint, deleted: checkpoint.deleted + deleted };
}

/**
 * The checkpoint of an import whose sync token the source refused: from here on it is a full read
 * that sweeps, at its end, what it neither wrote nor saw since change number `sweepAt`.
 */
export function fallBackToFullRead({ syncToken: _refused, ...checkpoint }: ImportCheckpoint, sweepAt: number): ImportCheckpoint {
  return { ...checkpoint, mode: 'full', sweepAt };
}

/** What a batch heartbeats after every saved page, and a retry of it resumes from. */
export const BatchHeartbeat = z.object({
  checkpoint: ImportCheckpoint,
  /** Pages this batch saved so far, across its attempts. */
  pagesThisBatch: count,
});
export type BatchHeartbeat = z.infer<typeof BatchHeartbeat>;

/**
 * `details[0]` of a batch that stopped early (cancelled, or failed for good): how far it got, so
 * the import's final counts are exact.
 */
export const BatchFailureDetails = ImportCheckpoint;
export type BatchFailureDetails = z.infer<typeof BatchFailureDetails>;

/**
 * `checkpoint`, or the one a batch that stopped early reported in its failure `details` when that
 * is not behind it; `problem` says why details that came were not read. A batch cancelled before an
 * attempt ran (queued, or between retries) has the server's own word there
 * (`ACTIVITY_ID_NOT_STARTED`), no checkpoint: nothing to read, and nothing wrong.
 */
export function afterStoppedBatch(
  checkpoint: ImportCheckpoint,
  details: readonly unknown[] | null | undefined,
): { checkpoint: ImportCheckpoint; problem?: string } {
  if (!details?.length || typeof details[0] !== 'object' || details[0] === null) return { checkpoint };
  const reported = parseOrNull(BatchFailureDetails, details[0]);
  if (reported.value === null) return { checkpoint, problem: reported.problem };
  return { checkpoint: reported.value.pages >= checkpoint.pages ? reported.value : checkpoint };
}

/** Where a batch attempt continues, which record said so, and why: the attempt's log line. */
export interface Resumption {
  point: BatchHeartbeat;
  from: 'batch start' | 'heartbeat' | 'stored checkpoint';
  why: string;
  /** Set when heartbeat details came but do not parse: what is wrong with them. */
  unreadableHeartbeat?: string;
}

/** Where an attempt of a batch that began at `batchStart` continues by its heartbeat details alone. */
function fromHeartbeat(batchStart: ImportCheckpoint, heartbeatDetails: unknown): Resumption {
  const start = { checkpoint: batchStart, pagesThisBatch: 0 };
  if (heartbeatDetails === undefined) return { point: start, from: 'batch start', why: 'no earlier attempt heartbeated' };
  const heartbeat = parseOrNull(BatchHeartbeat, heartbeatDetails);
  if (heartbeat.value === null) {
    return { point: start, from: 'batch start', why: 'the last heartbeat does not parse', unreadableHeartbeat: heartbeat.problem };
  }
  // Behind the batch's own start it cannot be, unless a stranger wrote it: then it is not trusted.
  if (heartbeat.value.checkpoint.pages < batchStart.pages) {
    return { point: start, from: 'batch start', why: 'the last heartbeat is behind the batch start' };
  }
  return { point: heartbeat.value, from: 'heartbeat', why: 'the last heartbeat is where an earlier attempt got to' };
}

/**
 * Where a batch that began at `batchStart` (for at most `maxPages` pages) continues: its last
 * heartbeat when that is readable and not behind the start; the checkpoint stored with the import's
 * last committed page when that is further still and inside this batch's pages. The heartbeat lags
 * the store by up to a page (more when a kill lands between the commit and the heartbeat), so
 * resuming from the store re-fetches and re-writes nothing already saved. A stored checkpoint past
 * this batch's pages belongs to no attempt of it and is not trusted.
 */
export function resumeFrom(
  batchStart: ImportCheckpoint,
  maxPages: number,
  heartbeatDetails: unknown,
  stored: ImportCheckpoint | null,
): Resumption {
  const resumption = fromHeartbeat(batchStart, heartbeatDetails);
  if (stored === null || stored.pages <= resumption.point.checkpoint.pages) return resumption;
  const pagesThisBatch = stored.pages - batchStart.pages;
  if (pagesThisBatch > maxPages) return resumption;
  return {
    ...resumption,
    point: { checkpoint: stored, pagesThisBatch },
    from: 'stored checkpoint',
    why: 'the checkpoint stored with the last saved page is further',
  };
}

/** The status fields a checkpoint gives; `deleted` is left out while it is 0. */
export type StatusCounts = Pick<ImportCheckpoint, 'fetched' | 'saved' | 'rejected' | 'pages' | 'total' | 'mode'> &
  Partial<Pick<ImportCheckpoint, 'deleted'>>;

/**
 * The status fields of `checkpoint` (or of a status, which has them too). `mode` and `deleted` are
 * left out, not `undefined`, while they say nothing: before the mode is resolved, and while no
 * contact was deleted.
 */
export function statusCounts({ fetched, saved, rejected, pages, total, mode, deleted }: StatusCounts): StatusCounts {
  return { fetched, saved, rejected, pages, total, ...(mode ? { mode } : {}), ...(deleted ? { deleted } : {}) };
}

/**
 * `status` with the counts of `stored` (the checkpoint committed with the import's last saved page)
 * when that has more pages. The workflow's own counts move a batch at a time, the store's with every
 * page: taking the further keeps a progress bar from stepping back. A total the stored checkpoint
 * does not know keeps the status's.
 */
export function furthest<S extends StatusCounts>(status: S, stored: ImportCheckpoint | null): S {
  if (stored === null || stored.pages <= status.pages) return status;
  return { ...status, ...statusCounts(stored), total: stored.total ?? status.total };
}
