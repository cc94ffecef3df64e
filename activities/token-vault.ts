/**
 * The worker's side of kept tokens: the store's sealed credentials (`db/credentials.ts`), opened and
 * sealed with the worker's key, as the sources' {@link TokenVault}.
 */
import { SealedTokenError, type TokenSealer } from '../encryption/token-seal';
import type { CredentialKey, CredentialStore } from '../db/credentials';
import { workerMisconfigured } from '../providers/kit/failures';
import type { KeptTokens, TokenVault } from '../providers/types';

export class SealedTokenVault implements TokenVault {
  constructor(
    readonly store: CredentialStore,
    readonly sealer: TokenSealer,
  ) {}

  async load(key: CredentialKey): Promise<KeptTokens | null> {
    const row = await this.store.get(key);
    if (!row?.sealedRefreshToken) return null;
    return {
      refreshToken: this.#open(row.sealedRefreshToken),
      accessToken: row.sealedAccessToken
        ? { token: this.#open(row.sealedAccessToken), expiresAt: row.accessExpiresAt ? Date.parse(row.accessExpiresAt) : null }
        : null,
    };
  }

  async saveRefreshed(key: CredentialKey, refreshed: { accessToken: string; expiresAt: number | null; refreshToken: string | null }): Promise<void> {
    await this.store.saveRefreshed(key, {
      sealedAccessToken: this.sealer.seal(refreshed.accessToken),
      accessExpiresAt: refreshed.expiresAt === null ? null : new Date(refreshed.expiresAt).toISOString(),
      sealedRefreshToken: refreshed.refreshToken === null ? undefined : this.sealer.seal(refreshed.refreshToken),
    });
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
