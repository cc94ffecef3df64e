/** What POST /v1/imports, PUT /v1/users/{userId}/sync and re-auth accept as a CardDAV `source`. */
import { z } from '@hono/zod-openapi';

// `.openapi()` exists only on schemas made with zod-openapi's `z`.
export const CarddavSource = z
  .object({
    provider: z.literal('carddav'),
    url: z
      .url({ protocol: /^https?$/, message: 'source.url must be an http:// or https:// URL' })
      .max(2048)
      .openapi({ description: 'The server (its address book is discovered) or the address book itself', example: 'https://dav.example.com/' }),
    username: z.string().min(1).max(256),
    password: z.string().min(1).max(1024).openapi({ description: 'Sealed before it leaves the API, like access tokens' }),
  })
  .strict()
  .openapi('CarddavSource');
export type CarddavRequest = z.infer<typeof CarddavSource>;
