/** What POST /v1/imports accepts as a `file` source: an upload of the same user. */
import { z } from '@hono/zod-openapi';

// `.openapi()` exists only on schemas made with zod-openapi's `z`.
export const FileSource = z
  .object({
    provider: z.literal('file'),
    uploadId: z
      .string()
      .regex(/^upl_[A-Za-z0-9_-]{1,64}$/, { message: 'source.uploadId must be an id POST /v1/uploads returned' })
      .openapi({ example: 'upl_Zm9vYmFy' }),
  })
  .strict()
  .openapi('FileSource');
export type FileRequest = z.infer<typeof FileSource>;
