/**
 * `expireUploads`: deletes the uploads past their retention that no import reads. What "reads"
 * means, and why a delete cannot take an upload from under an import that starts meanwhile, is in
 * db/upload-expiry.ts; this activity decides, for each upload listed, whether its import still runs
 * (asking Temporal, with the worker's own client) and deletes it if not.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { UPLOAD_DEFAULTS } from '../config/defaults';
import type { ExpiringUpload, Store } from '../db/types';
import { failure } from '../providers/kit/failures';
import { FAILURE_TYPES, parseOrNull } from '../workflows/contract';
import { ExpireUploadsProgress, type ExpireUploadsInput, type ExpireUploadsResult } from '../workflows/upload-expiry-contract';

/** Uploads listed (and heartbeated) at a time. */
const PAGE = 100;

export interface UploadExpiryDeps {
  store: Store;
  /** A client on the worker's connection: whether an import still runs is Temporal's to say. */
  client?: Client;
  /** A reference younger than this keeps its upload whatever Temporal says (`UPLOAD_DEFAULTS.referenceGraceMs`). */
  referenceGraceMs?: number;
}

export function createUploadExpiryActivities(deps: UploadExpiryDeps) {
  const graceMs = deps.referenceGraceMs ?? UPLOAD_DEFAULTS.referenceGraceMs;

  /** Deletes every upload older than the retention that no running import reads; resolves to the counts. */
  async function expireUploads(input: ExpireUploadsInput): Promise<ExpireUploadsResult> {
    const { client } = deps;
    if (!client) {
      throw failure(FAILURE_TYPES.workerMisconfigured, 'This worker has no Temporal client for upload expiry; another worker should take it');
    }
    const ctx = Context.current();
    const before = new Date(Date.now() - input.retentionSeconds * 1000).toISOString();
    const resumed = parseOrNull(ExpireUploadsProgress, ctx.info.heartbeatDetails).value;
    const progress: ExpireUploadsProgress = resumed ?? { after: null, deleted: 0, bytes: 0, kept: 0 };
    // Each import asked about once per run, however many of its user's uploads are listed.
    const running = new Map<string, Promise<boolean>>();
    const isRunning = (workflowId: string) => {
      let answer = running.get(workflowId);
      if (!answer) {
        answer = client.workflow
          .getHandle(workflowId)
          .describe()
          .then(
            (description) => description.status.name === 'RUNNING',
            (err: unknown) => {
              if (err instanceof WorkflowNotFoundError) return false;
              throw err;
            },
          );
        running.set(workflowId, answer);
      }
      return answer;
    };
    /** Whether an import reads `upload` now, or may be about to. */
    const inUse = async ({ reference }: ExpiringUpload): Promise<boolean> => {
      if (!reference) return false;
      if (Date.now() - Date.parse(reference.at) < graceMs) return true;
      return isRunning(reference.workflowId);
    };

    for (;;) {
      const page = await deps.store.uploads.expiring(before, progress.after, PAGE);
      for (const upload of page) {
        if (!(await inUse(upload)) && (await deps.store.uploads.deleteExpired(upload))) {
          progress.deleted += 1;
          progress.bytes += upload.bytes;
        } else {
          progress.kept += 1;
        }
        progress.after = { createdAt: upload.createdAt, tenant: upload.tenant, uploadId: upload.uploadId };
      }
      ctx.heartbeat(progress);
      if (page.length < PAGE) break;
    }
    const { deleted, bytes, kept } = progress;
    return { deleted, bytes, kept };
  }

  return { expireUploads };
}
