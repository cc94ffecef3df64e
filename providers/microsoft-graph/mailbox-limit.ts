/**
 * How many Graph requests one mailbox may have in flight. Microsoft Graph lets an app make 4
 * concurrent requests per mailbox to Outlook resources (contacts among them) and answers more with
 * `429`; every request of a source waits here for its turn, the folder listings it fans out
 * included.
 *
 * The bound holds per source, i.e. per batch: an import runs one batch at a time, so it is one
 * mailbox's bound as long as one import reads that mailbox at a time. A rate governor shared by the
 * workers takes the place of {@link mailboxRequests} to hold it across imports and processes.
 */
import { createConcurrencyLimit, type ConcurrencyLimit } from '../kit/concurrency';

/** Microsoft Graph's limit of concurrent requests per app and mailbox for Outlook resources. */
export const MAX_CONCURRENT_REQUESTS_PER_MAILBOX = 4;

/** Where one mailbox's requests wait for their turn. */
export type MailboxRequests = ConcurrencyLimit;

/** The bound for the requests of one source (one batch). */
export function mailboxRequests(): MailboxRequests {
  return createConcurrencyLimit(MAX_CONCURRENT_REQUESTS_PER_MAILBOX);
}
