/**
 * `importId`: an opaque, URL-safe name for one import (one continue-as-new chain). It carries what
 * is needed to find the chain in Temporal without a lookup table: provider, user, first run id.
 */
import { Provider } from '../../workflows/contract';

export interface ImportRef {
  provider: Provider;
  userId: string;
  firstRunId: string;
}

const PREFIX = 'imp_';
/** Temporal run ids are UUIDs; anything else would reach the server as a malformed request. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeImportId(ref: ImportRef): string {
  return PREFIX + Buffer.from(JSON.stringify([ref.provider, ref.userId, ref.firstRunId])).toString('base64url');
}

/** `null` for anything that is not an import id we issued. */
export function decodeImportId(importId: string): ImportRef | null {
  if (!importId.startsWith(PREFIX) || importId.length > 1024) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(importId.slice(PREFIX.length), 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== 3) return null;
    const [rawProvider, userId, firstRunId] = parsed as unknown[];
    const provider = Provider.safeParse(rawProvider);
    if (!provider.success) return null;
    if (typeof userId !== 'string' || !userId || typeof firstRunId !== 'string' || !RUN_ID.test(firstRunId)) return null;
    return { provider: provider.data, userId, firstRunId };
  } catch {
    return null;
  }
}
