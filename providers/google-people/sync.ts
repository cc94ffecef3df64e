/**
 * Google People sync tokens, the parts the client (`client.ts`) needs for incremental imports:
 *
 * - a full listing asks for a token (`requestSyncToken=true`, on every page: Google wants every
 *   page's parameters to match the first's) and gets it as `nextSyncToken` on the last page;
 * - an incremental one sends it back (`syncToken`, again on every page) and gets the people changed
 *   since, deleted ones as `{resourceName, metadata: {deleted: true}}`;
 * - an expired token is `400 FAILED_PRECONDITION` with reason `EXPIRED_SYNC_TOKEN` (some proxies
 *   and older answers say `410 Gone`): the import then reads everything.
 */
import type { SyncRequest } from '../types';

/** The fingerprint of the request a token is valid with: the fields asked for (we send no `sources`). */
export function googleSyncParams(personFields: string): string {
  return `google-people;personFields=${personFields}`;
}

/** Adds the sync parameters of `sync` to a `connections.list` query. */
export function setSyncParams(params: URLSearchParams, sync: SyncRequest | undefined): void {
  if (sync === undefined) return;
  if ('since' in sync) params.set('syncToken', sync.since);
  else params.set('requestSyncToken', 'true');
}

/** Whether an error answer to a request that carried a sync token says the token has expired. */
export function isExpiredSyncToken(httpStatus: number, body: string): boolean {
  if (httpStatus === 410) return true;
  return httpStatus === 400 && body.includes('EXPIRED_SYNC_TOKEN');
}

/** A person Google reports deleted: its `resourceName`, else `null` (a live person, or not a person). */
export function deletedResourceName(person: unknown): string | null {
  if (typeof person !== 'object' || person === null) return null;
  const { resourceName, metadata } = person as { resourceName?: unknown; metadata?: { deleted?: unknown } };
  return metadata?.deleted === true && typeof resourceName === 'string' && resourceName !== '' ? resourceName : null;
}

/** The people of a page split into the live ones and the resource names of the deleted ones. */
export function splitDeleted(people: readonly unknown[]): { live: unknown[]; deleted: string[] } {
  const live: unknown[] = [];
  const deleted: string[] = [];
  for (const person of people) {
    const name = deletedResourceName(person);
    if (name === null) live.push(person);
    else deleted.push(name);
  }
  return { live, deleted };
}
