/** What a CardDAV import's sealed credentials hold: the account, exactly as the user gave it. */
import { z } from 'zod';
import type { CarddavRequest } from './request';

export const CarddavCredentials = z.object({
  url: z.url({ protocol: /^https?$/ }),
  username: z.string().min(1),
  password: z.string(),
});
export type CarddavCredentials = z.infer<typeof CarddavCredentials>;

/** The credentials to seal for `request`: the whole account, sealed, since nothing outlives the import. */
export function toCarddavCredentials({ url, username, password }: CarddavRequest): Promise<CarddavCredentials> {
  return Promise.resolve({ url, username, password });
}
