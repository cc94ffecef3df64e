/**
 * The contract of upload expiry: what crosses the boundary of `ExpireUploads` and its activity, and
 * the schedule that starts it. Counts and positions only: upload ids and tenants, never contents.
 *
 * Sandbox-safe: zod only.
 */
import { z } from 'zod';

/**
 * The schedule that expires the uploads of the deployment whose workers poll `taskQueue`
 * (`temporal schedule describe --schedule-id upload-expiry/contacts-import`): one per task queue, so
 * deployments sharing a namespace, each with its own store, each expire their own.
 */
export function uploadExpiryScheduleId(taskQueue: string): string {
  return `upload-expiry/${taskQueue}`;
}

const count = z.number().int().nonnegative();

/** `ExpireUploads`' (and `expireUploads`') argument. */
export const ExpireUploadsInput = z.object({
  /** `UPLOAD_RETENTION`: uploads older than this that no running import reads are deleted. */
  retentionSeconds: z.number().int().positive(),
});
export type ExpireUploadsInput = z.infer<typeof ExpireUploadsInput>;

export const ExpireUploadsResult = z.object({
  /** Uploads deleted. */
  deleted: count,
  /** Bytes they held. */
  bytes: count,
  /** Uploads past their retention kept because an import reads (or is about to read) them. */
  kept: count,
});
export type ExpireUploadsResult = z.infer<typeof ExpireUploadsResult>;

/** The activity's heartbeat: how far it got, so a retry goes on from there with the counts so far. */
export const ExpireUploadsProgress = ExpireUploadsResult.extend({
  /** The last upload looked at, in listing order (created, tenant, upload id). */
  after: z.object({ createdAt: z.string().min(1), tenant: z.string().min(1), uploadId: z.string().min(1) }).nullable(),
});
export type ExpireUploadsProgress = z.infer<typeof ExpireUploadsProgress>;
