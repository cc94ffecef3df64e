/**
 * What a CardDAV import's sealed credentials hold: the account exactly as the user gave it, or,
 * for an import by connection, a note that the account is kept (`db/connections.ts`).
 */
import { z } from 'zod';
import type { CarddavRequest } from './request';

/** A CardDAV account: the server (or address book) and who the user is there. */
export const CarddavCredentials = z.object({
  url: z.url({ protocol: /^https?$/ }),
  username: z.string().min(1),
  password: z.string(),
});
export type CarddavCredentials = z.infer<typeof CarddavCredentials>;

/** What an import seals: the account, or `{account: "stored"}` for the one its connection keeps. */
export const CarddavSourceCredentials = z.union([CarddavCredentials, z.object({ account: z.literal('stored') }).strict()]);
export type CarddavSourceCredentials = z.infer<typeof CarddavSourceCredentials>;

/** The credentials to seal for `request`: the whole account, sealed, since nothing outlives the import. */
export function toCarddavCredentials({ url, username, password }: CarddavRequest): Promise<CarddavSourceCredentials> {
  return Promise.resolve({ url, username, password });
}
