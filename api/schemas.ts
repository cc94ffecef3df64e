/** The HTTP contract, as zod schemas: they validate input and document the API at /openapi.json. */
import { z } from '@hono/zod-openapi';
import { ImportStatus, Provider, PROVIDERS } from '../workflows/contract';

/** User ids end up in workflow IDs and search attributes: keep them to a safe, printable set. */
export const UserId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/, {
    message: 'userId must be 1–128 characters of letters, digits and . _ : @ + - (starting with a letter or digit)',
  })
  .openapi({ example: 'user-42' });

export const StartImportBody = z
  .object({
    userId: UserId,
    source: z
      .object({
        // A schema of our own: `.openapi()` exists only on schemas made after zod-openapi loaded.
        provider: z.enum(PROVIDERS).openapi({ example: 'google-people' }),
        accessToken: z
          .string()
          .min(1, { message: 'source.accessToken must not be empty' })
          .max(4096)
          // It goes into an HTTP header: printable ASCII only (RFC 6750's token characters and then some).
          .regex(/^[\x21-\x7E]+$/, { message: 'source.accessToken must be printable ASCII without spaces' })
          .openapi({ example: 'ya29.a0Af...' }),
      })
      .strict(),
  })
  .strict()
  .openapi('StartImport');
export type StartImportBody = z.infer<typeof StartImportBody>;

/** An import as the API shows it: its status, plus the names that find it. */
export const ImportView = ImportStatus.extend({
  importId: z.string().openapi({ description: 'Opaque; names this import (one continue-as-new chain)' }),
  workflowId: z.string(),
  runId: z.string(),
  userId: z.string(),
  provider: Provider,
}).openapi('Import');
export type ImportView = z.infer<typeof ImportView>;

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

export const ImportIdParam = z.object({
  importId: z.string().min(1).max(1024).openapi({ param: { name: 'importId', in: 'path' } }),
});

export const UserIdParam = z.object({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });

export const ContactsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ param: { name: 'limit', in: 'query' } }),
    cursor: z.string().min(1).max(2048).optional().openapi({ param: { name: 'cursor', in: 'query' } }),
  })
  .strict();

export const Contact = z
  .object({
    provider: z.string(),
    externalId: z.string(),
    displayName: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    organization: z.string().nullable(),
    etag: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Contact');

export const ContactPage = z
  .object({ items: z.array(Contact), nextCursor: z.string().nullable() })
  .openapi('ContactPage');

export const Health = z
  .object({ status: z.enum(['ok', 'unavailable']), temporal: z.string(), database: z.string() })
  .openapi('Health');
