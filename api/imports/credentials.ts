/**
 * Credentials that last, on the API's side: a Google refresh token is sealed and kept in the store
 * (never in workflow input, which only notes that it is stored), and an import waiting in
 * `needs_reauth` gets new credentials through the workflow's `credentials` update, sealed too.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { TokenSealer } from '../../encryption/token-seal';
import type { CredentialStore } from '../../db/credentials';
import { credentialsUpdate } from '../../workflows/reauth';
import { ApiError } from '../errors';
import type { ImportView } from '../schemas';
import type { ReadStatus } from './status-reader';
import type { StartImportRequest } from './types';

type Source = StartImportRequest['source'];

/**
 * Keeps a Google source's refresh token, sealed, where the workers look for it (replacing the one
 * kept before, and the access token it gave). Nothing to do for a source without one.
 */
export async function keepRefreshToken(
  store: CredentialStore | undefined,
  sealer: TokenSealer,
  owner: { tenant: string; userId: string },
  source: Source,
): Promise<void> {
  if (source.provider !== 'google-people' || source.refreshToken === undefined) return;
  if (!store) {
    throw new ApiError(422, 'refresh_tokens_unsupported', 'source.refreshToken: this API has no credential store to keep it in; send an accessToken only');
  }
  await store.replace({ tenant: owner.tenant, userId: owner.userId, provider: source.provider }, sealer.seal(source.refreshToken));
}

export interface CredentialRenewalOptions {
  client: Client;
  sealer: TokenSealer;
  credentials?: CredentialStore;
  readStatus: ReadStatus;
  /** Seals a source's credentials exactly as a new import's are (`credentialsOf`). */
  credentialsOf: (source: Source) => string;
  onChanged: (tenant: string, importId: string) => void;
}

const notWaiting = (view: ImportView) =>
  new ApiError(
    409,
    'import_not_waiting',
    `Import ${view.importId} is ${view.state}: only an import in needs_reauth takes new credentials (start a new import instead)`,
  );

/**
 * `renewCredentials(tenant, importId, source)`: hands an import in `needs_reauth` new credentials;
 * it resumes from its checkpoint. 409 when it is not waiting for them (the workflow's validator
 * decides, so a race with the re-auth window's end answers 409 too), 422 for another provider's.
 */
export function createCredentialRenewal(options: CredentialRenewalOptions) {
  const { client, sealer, readStatus } = options;
  return async function renewCredentials(tenant: string, importId: string, source: Source): Promise<ImportView> {
    const view = await readStatus(tenant, importId);
    if (view.state !== 'needs_reauth') throw notWaiting(view);
    if (source.provider !== view.provider) {
      throw new ApiError(422, 'provider_mismatch', `source.provider: import ${importId} reads ${view.provider}, not ${source.provider}`);
    }
    await keepRefreshToken(options.credentials, sealer, { tenant, userId: view.userId }, source);
    const handle = client.workflow.getHandle(view.workflowId, view.runId);
    try {
      await handle.executeUpdate(credentialsUpdate, { args: [{ sealedCredentials: sealer.seal(options.credentialsOf(source)) }] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) throw notWaiting(await readStatus(tenant, importId));
      throw err;
    }
    options.onChanged(tenant, importId);
    return readStatus(tenant, importId);
  };
}
