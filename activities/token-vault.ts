/**
 * The worker's side of kept secrets: the store's connections (`db/connections.ts`), opened and
 * sealed with the worker's key, as the sources' {@link TokenVault}.
 */
import { SealedTokenError, type TokenSealer } from '../encryption/token-seal';
import type { ConnectionKey, ConnectionStore } from '../db/connections';
import { workerMisconfigured } from '../providers/kit/failures';
import type { KeptTokens, TokenVault } from '../providers/types';

export class SealedTokenVault implements TokenVault {
  constructor(
    readonly store: ConnectionStore,
    readonly sealer: TokenSealer,
  ) {}

  async load(key: ConnectionKey): Promise<KeptTokens | null> {
    const row = await this.store.get(key);
    // Only a connected one: a refused secret would be refused again, a revoked one is gone.
    if (row?.status !== 'connected' || !row.sealedSecret) return null;
    return {
      secret: this.#open(row.sealedSecret),
      accessToken: row.sealedAccessToken
        ? { token: this.#open(row.sealedAccessToken), expiresAt: row.accessExpiresAt ? Date.parse(row.accessExpiresAt) : null }
        : null,
      generation: row.generation,
    };
  }

  async saveRefreshed(key: ConnectionKey, refreshed: { accessToken: string; expiresAt: number | null; refreshToken: string | null }): Promise<void> {
    await this.store.saveRefreshed(key, {
      sealedAccessToken: this.sealer.seal(refreshed.accessToken),
      accessExpiresAt: refreshed.expiresAt === null ? null : new Date(refreshed.expiresAt).toISOString(),
      sealedRefreshToken: refreshed.refreshToken === null ? undefined : this.sealer.seal(refreshed.refreshToken),
    });
  }

  async refused(key: ConnectionKey, generation: number): Promise<void> {
    await this.store.markNeedsReauth(key, generation);
  }

  /** Another worker, with the key these were sealed with, can do the batch. */
  #open(sealed: string): string {
    try {
      return this.sealer.open(sealed);
    } catch (err) {
      if (err instanceof SealedTokenError) throw workerMisconfigured(`The stored refresh token does not open: ${err.message}`);
      throw err;
    }
  }
}
