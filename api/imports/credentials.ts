/**
 * Credentials on the API's side: a source's credentials are sealed as its provider encodes them
 * (`providers/index.ts`); what must outlast them (a refresh token) is sealed and kept in the store
 * through the {@link CredentialVault}, never in workflow input, which only notes that it is kept. An
 * import waiting in `needs_reauth` gets new credentials through the workflow's `credentials` update.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { TokenSealer } from '../../encryption/token-seal';
import type { CredentialKey, CredentialStore } from '../../db/credentials';
import { encodeCredentials, type CredentialVault } from '../../providers';
import { credentialsUpdate } from '../../workflows/reauth';
import { ApiError } from '../errors';
import type { ImportView } from '../schemas';
import type { ReadStatus } from './status-reader';
import type { StartImportRequest } from './types';

type Source = StartImportRequest['source'];

/**
 * The vault of one tenant, user and provider: a refresh token is sealed and replaces the one kept
 * before (and the access token it gave). Without a store, a source with one is refused (422).
 */
function credentialVault(store: CredentialStore | undefined, sealer: TokenSealer, key: CredentialKey): CredentialVault {
  return {
    async keepRefreshToken(token) {
      if (!store) {
        throw new ApiError(422, 'refresh_tokens_unsupported', 'source.refreshToken: this API has no credential store to keep it in; send an accessToken only');
      }
      await store.replace(key, sealer.seal(token));
    },
  };
}

/**
 * `source`'s credentials as the worker opens them, sealed. What must outlive them goes to the store
 * first, under `owner` and the source's provider: call it before the workflow that reads them starts.
 */
export async function sealCredentials(
  store: CredentialStore | undefined,
  sealer: TokenSealer,
  owner: { tenant: string; userId: string },
  source: Source,
): Promise<string> {
  const vault = credentialVault(store, sealer, { ...owner, provider: source.provider });
  return sealer.seal(await encodeCredentials(source, vault));
}

export interface CredentialRenewalOptions {
  client: Client;
  sealer: TokenSealer;
  credentials?: CredentialStore;
  readStatus: ReadStatus;
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
    const sealedCredentials = await sealCredentials(options.credentials, sealer, { tenant, userId: view.userId }, source);
    const handle = client.workflow.getHandle(view.workflowId, view.runId);
    try {
      await handle.executeUpdate(credentialsUpdate, { args: [{ sealedCredentials }] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) throw notWaiting(await readStatus(tenant, importId));
      throw err;
    }
    options.onChanged(tenant, importId);
    return readStatus(tenant, importId);
  };
}
