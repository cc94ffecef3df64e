/**
 * What a Google People import's sealed credentials hold: the access token the user gave, if any,
 * and whether a refresh token is kept. The refresh token itself is kept sealed in the store
 * (`db/credentials.ts`, through the API's vault), never in workflow history.
 */
import { z } from 'zod';
import type { CredentialVault } from '../types';
import type { GooglePeopleRequest } from './request';

export const GoogleCredentials = z
  .object({
    accessToken: z.string().min(1).nullable(),
    /** `stored`: the refresh token is in the store, under the import's tenant, user and provider. */
    refreshToken: z.literal('stored').nullable(),
  })
  .refine((credentials) => credentials.accessToken !== null || credentials.refreshToken !== null, {
    message: 'Google credentials need an access token, a stored refresh token, or both',
  });
export type GoogleCredentials = z.infer<typeof GoogleCredentials>;

/** The credentials to seal for `request`; a refresh token goes to `vault` first, and only a note of it into them. */
export async function toGoogleCredentials(request: GooglePeopleRequest, vault: CredentialVault): Promise<GoogleCredentials> {
  if (request.refreshToken !== undefined) await vault.keepRefreshToken(request.refreshToken);
  return { accessToken: request.accessToken ?? null, refreshToken: request.refreshToken === undefined ? null : 'stored' };
}
