/**
 * The API's part of sync modes: refusing, before anything starts, an `incremental` import that
 * could only fail or quietly read everything. The worker resolves `auto` (and falls back to a full
 * read when a stored token turns out unusable); see activities/import-sync.ts.
 */
import type { Store } from '../../db/types';
import { providerById } from '../../providers';
import type { ProviderCapabilities } from '../../providers/types';
import { ApiError } from '../errors';
import type { StartImportRequest } from './types';

/**
 * Throws 422 for `mode: "incremental"` of a provider without sync tokens (a file), or of a user and
 * provider no earlier import left a token for.
 */
export async function checkSyncMode(store: Store, tenant: string, request: StartImportRequest): Promise<void> {
  if (request.mode !== 'incremental') return;
  const { provider } = request.source;
  const capabilities: ProviderCapabilities = providerById(provider).capabilities;
  if (!capabilities.incremental) {
    const auto = capabilities.fullReadSweeps === 'always' ? '' : ', which adds it to earlier imports';
    throw new ApiError(422, 'incremental_unavailable', `mode: a ${provider} import is always read whole; use "full" (or "auto"${auto})`);
  }
  if ((await store.syncState.get(tenant, request.userId, provider)) === null) {
    throw new ApiError(
      422,
      'no_sync_state',
      `mode: no earlier ${provider} import of user ${request.userId} left a sync token; import with mode "auto" or "full" first`,
    );
  }
}
