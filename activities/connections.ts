/**
 * Activities over the users' connections (`db/connections.ts`): the event a refused connection is
 * told with, and erasure's revocation of every connection of the user at its provider.
 */
import { Context } from '@temporalio/activity';
import { WEBHOOK_DEFAULTS } from '../config/defaults';
import type { Store } from '../db/types';
import { SealedTokenError, type TokenSealer } from '../encryption/token-seal';
import { revokeSecret, type SourceSettings } from '../providers';
import { failure, workerMisconfigured } from '../providers/kit/failures';
import type { EraseUserInput } from '../workflows/contract';
import { ConnectionOwner, type DeliverWebhookInput } from '../workflows/hooks-contract';

export interface ConnectionActivityDeps {
  store: Store;
  sealer: TokenSealer;
  sources: SourceSettings;
}

/** Erasure tries a provider that does not answer this many times, then goes on without its revocation. */
const REVOKE_ATTEMPTS = 5;

export function createConnectionActivities(deps: ConnectionActivityDeps) {
  /**
   * The `connection.needs_reauth` delivery to start for the user's connection to the provider, when
   * it waits for its user (its secret was refused) and the tenant has a webhook URL; else `null`.
   */
  async function connectionNeedingReauth(raw: ConnectionOwner & { retryInitialIntervalMs?: number }): Promise<DeliverWebhookInput | null> {
    const owner = ConnectionOwner.parse(raw);
    const connection = await deps.store.connections.get(owner);
    if (connection?.status !== 'needs_reauth') return null;
    const url = (await deps.store.webhooks.get(owner.tenant))?.url;
    if (!url) return null;
    return {
      url,
      retryInitialIntervalMs: raw.retryInitialIntervalMs ?? WEBHOOK_DEFAULTS.retryInitialIntervalMs,
      event: {
        // The refused secret's generation: a reconnect and a later refusal are another event.
        eventId: `evt_${connection.connectionId}_${connection.generation}`,
        type: 'connection.needs_reauth',
        occurredAt: connection.updatedAt,
        tenant: owner.tenant,
        userId: owner.userId,
        provider: owner.provider,
        connectionId: connection.connectionId,
      },
    };
  }

  /**
   * Revokes each of the user's connections at its provider, where the provider offers revocation.
   * A provider that refuses or does not answer is tried again on the next attempts, then left: the
   * erasure deletes the secret anyway. Resolves to how many were revoked. Idempotent.
   */
  async function revokeUserConnections(owner: EraseUserInput): Promise<number> {
    const ctx = Context.current();
    let revoked = 0;
    const failed: string[] = [];
    for (const listed of await deps.store.connections.listUser(owner.tenant, owner.userId)) {
      const connection = await deps.store.connections.get(listed);
      if (!connection?.sealedSecret) continue;
      let secret: string;
      try {
        secret = deps.sealer.open(connection.sealedSecret);
      } catch (err) {
        // Another worker, with the key it was sealed with, can revoke it.
        if (err instanceof SealedTokenError && err.reason === 'other-key') throw workerMisconfigured(err.message);
        continue;
      }
      const revocation = await revokeSecret(connection.provider, secret, deps.sources.providers);
      if (revocation.outcome === 'revoked') revoked += 1;
      if (revocation.outcome === 'failed') failed.push(`${connection.provider}: ${revocation.reason}`);
      ctx.heartbeat();
    }
    if (failed.length > 0) {
      if (ctx.info.attempt < REVOKE_ATTEMPTS) throw failure('RevocationFailed', `Could not revoke every connection (${failed.join('; ')})`);
      ctx.log.warn('Erasing without revoking every connection at its provider', { failed: failed.length });
    }
    return revoked;
  }

  return { connectionNeedingReauth, revokeUserConnections };
}
