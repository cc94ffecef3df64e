/**
 * Credentials on the API's side: a source's credentials are sealed as its provider encodes them
 * (`providers/index.ts`); what must outlast them (a refresh token) is sealed and kept in the store
 * as the user's connection through the {@link CredentialVault}, never in workflow input, which only
 * notes that it is kept. A source that names a connection is looked up first ({@link resolveSource}).
 * An import waiting in `needs_reauth` gets new credentials through the workflow's `credentials` update.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { TokenSealer } from '../../encryption/token-seal';
import type { ConnectionKey, ConnectionStore } from '../../db/connections';
import { encodeCredentials, isConnectProviderId, type ConnectionSource, type CredentialVault, type ResolvedSource, type SourceRequest } from '../../providers';
import { importWorkflowId } from '../../workflows/contract';
import { encodeImportId } from '../../workflows/import-id';
import { credentialsUpdate } from '../../workflows/reauth';
import { ApiError } from '../errors';
import type { ImportView } from '../schemas';
import type { ReadStatus } from './status-reader';

type Source = ResolvedSource;

/**
 * The vault of one tenant, user and provider: a refresh token is sealed and becomes the user's
 * connection's secret, replacing the one kept before (and the access token it gave). Without a
 * store, a source with one is refused (422).
 */
function credentialVault(store: ConnectionStore | undefined, sealer: TokenSealer, key: ConnectionKey): CredentialVault {
  return {
    async keepRefreshToken(token) {
      if (!store) {
        throw new ApiError(422, 'refresh_tokens_unsupported', 'source.refreshToken: this API has no credential store to keep it in; send an accessToken only');
      }
      // The scopes of a token given as it is are unknown.
      await store.keep(key, { sealedSecret: sealer.seal(token), scopes: [] });
    },
  };
}

/**
 * The source an import or a schedule of `userId` reads: a provider's own request as it came, or the
 * connection it names, looked up among the tenant's (422 `unknown_connection` for another tenant's
 * or another user's, 409 while it waits for its user to reconnect or once revoked).
 */
export async function resolveSource(
  store: ConnectionStore | undefined,
  tenant: string,
  userId: string,
  source: SourceRequest | ConnectionSource,
): Promise<ResolvedSource> {
  if (!('connection' in source)) return source;
  const connection = store ? await store.byId(tenant, source.connection) : null;
  if (!connection || connection.userId !== userId) {
    throw new ApiError(422, 'unknown_connection', `source.connection: user ${userId} has no connection ${source.connection}`);
  }
  if (source.provider !== undefined && source.provider !== connection.provider) {
    throw new ApiError(422, 'provider_mismatch', `source.provider: connection ${source.connection} is to ${connection.provider}, not ${source.provider}`);
  }
  if (connection.status === 'needs_reauth') {
    throw new ApiError(409, 'connection_needs_reauth', `Connection ${source.connection} waits for its user to reconnect: start a connect session for ${connection.provider}`);
  }
  if (connection.status === 'revoked') {
    throw new ApiError(409, 'connection_revoked', `Connection ${source.connection} was disconnected: start a connect session to connect again`);
  }
  if (!isConnectProviderId(connection.provider)) {
    throw new ApiError(422, 'unknown_connection', `source.connection: ${connection.provider} accounts are not read by connection any more`);
  }
  return { provider: connection.provider, connection: connection.connectionId };
}

/**
 * `source`'s credentials as the worker opens them, sealed. What must outlive them goes to the store
 * first, under `owner` and the source's provider: call it before the workflow that reads them starts.
 */
export async function sealCredentials(
  store: ConnectionStore | undefined,
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
  connections?: ConnectionStore;
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
    const sealedCredentials = await sealCredentials(options.connections, sealer, { tenant, userId: view.userId }, source);
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

/**
 * `renewWaiting(tenant, userId, source)`: the user's import of `source.provider`, when it waits in
 * `needs_reauth`, gets `source` (a connection just repaired) and resumes. Resolves to its import id,
 * or `null` when none was waiting.
 */
export function createWaitingRenewal(client: Client, renew: ReturnType<typeof createCredentialRenewal>) {
  return async function renewWaiting(tenant: string, userId: string, source: ResolvedSource): Promise<string | null> {
    let firstRunId: string | undefined;
    try {
      const description = await client.workflow.getHandle(importWorkflowId({ tenant, userId }, source.provider)).describe();
      if (description.status.name !== 'RUNNING') return null;
      firstRunId = description.raw.workflowExecutionInfo?.firstRunId || undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
    if (!firstRunId) return null;
    const importId = encodeImportId({ tenant, provider: source.provider, userId, firstRunId });
    try {
      await renew(tenant, importId, source);
      return importId;
    } catch (err) {
      // Not waiting for credentials (running, paused): nothing to wake.
      if (err instanceof ApiError && err.code === 'import_not_waiting') return null;
      throw err;
    }
  };
}
