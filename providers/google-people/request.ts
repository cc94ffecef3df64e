/** What POST /v1/imports, PUT /v1/users/{userId}/sync and re-auth accept as a Google People `source`. */
import { z } from '@hono/zod-openapi';

/** An OAuth token: it goes into an HTTP header or a form body, so printable ASCII only (RFC 6750's token characters and then some). */
function token(field: string) {
  return z
    .string()
    .min(1, { message: `source.${field} must not be empty` })
    .max(4096)
    .regex(/^[\x21-\x7E]+$/, { message: `source.${field} must be printable ASCII without spaces` })
    .optional();
}

// `.openapi()` exists only on schemas made with zod-openapi's `z`.
export const GooglePeopleSource = z
  .object({
    provider: z.literal('google-people'),
    accessToken: token('accessToken').openapi({ example: 'ya29.a0Af...' }),
    refreshToken: token('refreshToken').openapi({
      description:
        'Lets the import refresh its access token (with GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET). Kept sealed in the store, never in workflow history',
      example: '1//0gAbC...',
    }),
  })
  .strict()
  .refine((source) => source.accessToken !== undefined || source.refreshToken !== undefined, {
    message: 'source needs an accessToken, a refreshToken, or both',
  })
  // The refinement in the document's terms: `provider` and at least one token (no other field is allowed).
  .openapi('GooglePeopleSource', { minProperties: 2 });
export type GooglePeopleRequest = z.infer<typeof GooglePeopleSource>;
