/** The HTTP contract, as zod schemas: they validate input and document the API at /openapi.json. */
import { z } from '@hono/zod-openapi';
import { PROVIDER_IDS, SOURCE_REQUESTS } from '../providers';
import { ImportStatus, SyncMode } from '../workflows/contract';
import { MAX_IMPORT_ID_LENGTH } from '../workflows/import-id';

/** User ids end up in workflow IDs and search attributes: keep them to a safe, printable set. */
export const UserId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/, {
    message: 'userId must be 1–128 characters of letters, digits and . _ : @ + - (starting with a letter or digit)',
  })
  .openapi({ example: 'user-42' });

/** Where an import's webhook events go, over the tenant's default URL (`PUT /v1/webhook`). */
export const NotifyBody = z
  .object({
    url: z
      .url({ protocol: /^https?$/, message: 'notify.url must be an http:// or https:// URL' })
      .max(2048)
      .openapi({ description: 'Receives the import\'s events, signed with the tenant\'s webhook secret', example: 'https://app.example.com/hooks/contacts' }),
  })
  .strict()
  .openapi('Notify');

export const StartImportBody = z
  .object({
    userId: UserId,
    source: SOURCE_REQUESTS.start,
    notify: NotifyBody.optional(),
    mode: SyncMode.optional().openapi({
      description:
        '`auto` (the default): only what changed since the last import when a sync token from it is stored, else everything. ' +
        '`full`: everything; contacts the provider no longer has are then marked deleted. `incremental`: only the changes ' +
        '(422 `no_sync_state` when no earlier import left a token; never for `file`). The status says which mode ran.',
      example: 'auto',
    }),
  })
  .strict()
  .openapi('StartImport');
export type StartImportBody = z.infer<typeof StartImportBody>;

/** Why an import is not making progress (`waiting.reason`). */
export const WaitingReason = z.enum([
  'rate_limited',
  'provider_throttled',
  'provider_unavailable',
  'provider_too_slow',
  'response_too_large',
  'needs_reauth',
  'paused',
  'worker_unavailable',
]);
export type WaitingReason = z.infer<typeof WaitingReason>;

export const Waiting = z
  .object({
    reason: WaitingReason,
    since: z.string().describe('When the import last made progress (or was paused)'),
    until: z
      .string()
      .optional()
      .describe("When the next attempt is due (Temporal's retry schedule), or, for `rate_limited`, when the provider's `Retry-After` ends"),
    attempt: z.number().int().min(1).optional().describe('The number of the next (or current) attempt of the batch'),
    message: z.string().describe('What is going on, in words to show a person'),
  })
  .openapi('Waiting');
export type Waiting = z.infer<typeof Waiting>;

/** An import as the API shows it: its status, plus the names that find it. */
export const ImportView = ImportStatus.extend({
  importId: z.string().openapi({ description: 'Opaque; names this import (one continue-as-new chain)' }),
  workflowId: z.string(),
  runId: z.string(),
  userId: z.string(),
  provider: z.enum(PROVIDER_IDS),
  rate: z.number().nonnegative().optional().describe('Contacts saved per second over the last minute, while the import runs'),
  etaSeconds: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('Seconds left at that rate, when the total is known and the import is moving'),
  waiting: Waiting.optional().describe('Present whenever the import is not making progress, saying why'),
}).openapi('Import');
export type ImportView = z.infer<typeof ImportView>;

/** `GET /v1/imports`' query: filters, and a page. */
export const ListImportsQuery = z
  .object({
    userId: UserId.optional().openapi({ param: { name: 'userId', in: 'query' }, description: "Only this user's imports" }),
    provider: z.enum(PROVIDER_IDS).optional().openapi({ param: { name: 'provider', in: 'query' }, description: 'Only imports from this provider' }),
    state: ImportStatus.shape.state.optional().openapi({ param: { name: 'state', in: 'query' }, description: 'Only imports in this state' }),
    limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ param: { name: 'limit', in: 'query' } }),
    cursor: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a nextCursor this API returned, unchanged' })
      .optional()
      .openapi({ param: { name: 'cursor', in: 'query' }, description: 'The `nextCursor` of the previous page, unchanged' }),
  })
  .strict();
export type ListImportsQuery = z.infer<typeof ListImportsQuery>;

export const ImportPage = z
  .object({
    items: z.array(ImportView).describe('Open imports first, then the others, the most recently ended first'),
    nextCursor: z.string().nullable().describe('Pass back as `cursor` for the next page; `null` on the last page'),
  })
  .openapi('ImportPage');
export type ImportPage = z.infer<typeof ImportPage>;

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

/** A status request's 503 while Temporal does not answer: what the store could tell meanwhile. */
export const TemporalUnavailableBody = ErrorBody.extend({
  partial: z
    .object({
      saved: z
        .number()
        .int()
        .nonnegative()
        .describe("Contacts stored so far for this import's user and provider (earlier imports included)"),
    })
    .optional()
    .describe('Present when the store answered while Temporal did not'),
}).openapi('TemporalUnavailable');

export const ImportIdParam = z.object({
  importId: z.string().min(1).max(MAX_IMPORT_ID_LENGTH).openapi({ param: { name: 'importId', in: 'path' } }),
});

export const UserIdParam = z.object({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });

/**
 * A page cursor: opaque to clients, base64url text. Only one this API issued (a page's
 * `nextCursor`, passed back unchanged) names a page; any other value of this shape answers `400
 * invalid_cursor`, one of another shape `422`.
 */
export const Cursor = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a nextCursor this API returned, unchanged' })
  .describe(
    'Opaque: the `nextCursor` of the previous page, passed back unchanged (base64url text). ' +
      'A value this API did not issue answers 400 `invalid_cursor`; omit it to start from the first page.',
  );

export const ContactsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ param: { name: 'limit', in: 'query' } }),
    cursor: Cursor.optional().openapi({ param: { name: 'cursor', in: 'query' } }),
  })
  .strict();

/** What a page answers as its `nextCursor`: a {@link Cursor}, or `null` on the last page. */
const NextCursor = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/)
  .nullable()
  .describe('Pass back as `cursor` for the next page; `null` on the last page');

export const Contact = z
  .object({
    provider: z.string(),
    externalId: z.string(),
    displayName: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    phoneE164: z.string().nullable().describe('The phone number in E.164 when it is a valid number'),
    organization: z.string().nullable(),
    etag: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Contact');

export const ContactPage = z
  .object({ items: z.array(Contact), nextCursor: NextCursor })
  .openapi('ContactPage');

/** `GET /v1/users/{userId}/contacts`' query: a page of the listing, or with `changedSince`, of the change feed. */
export const ListContactsQuery = ContactsQuery.extend({
  changedSince: z
    .string()
    .min(1)
    .max(2048)
    .regex(/^[A-Za-z0-9_-]+$/, { message: 'changedSince must be 0 or a cursor this API returned, unchanged' })
    .optional()
    .openapi({
      param: { name: 'changedSince', in: 'query' },
      description:
        'Turns the listing into the change feed: `0` for every change from the beginning, then the `cursor` of the previous ' +
        'answer, unchanged. Answers a ChangePage instead of a ContactPage; `cursor` is then ignored.',
    }),
}).strict();

/** One change: the contact as it is now (`upsert`), or the ids of one deleted at its provider (`delete`). */
export const ContactChange = z
  .discriminatedUnion('change', [
    Contact.extend({ change: z.literal('upsert') }).openapi('ContactUpsert'),
    z
      .object({ change: z.literal('delete'), provider: z.string(), externalId: z.string(), deletedAt: z.string() })
      .openapi('ContactDeletion'),
  ])
  .openapi('ContactChange');

export const ChangePage = z
  .object({
    items: z.array(ContactChange).describe('Upserts and deletions in commit order, oldest first'),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .describe('Pass back as `changedSince` to get what changed after these; present also when `items` is empty'),
    hasMore: z.boolean().describe('More changes are already waiting: ask again at once rather than on your usual schedule'),
  })
  .openapi('ChangePage');

export const Health = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    temporal: z.enum(['ok', 'unavailable']).optional().describe('Only for callers with an API key'),
    database: z.enum(['ok', 'unavailable']).optional().describe('Only for callers with an API key'),
  })
  .openapi('Health');

/** A record an import set aside instead of saving (the quarantine). */
export const Reject = z
  .object({
    position: z.string().describe("The record's id when it had one, else where it was in the source (`record 17`)"),
    reason: z.enum(['unparseable', 'no_identity', 'invalid_record']),
    message: z.string().describe('What was wrong with it'),
    excerpt: z.string().describe('At most 2 KiB of the record as it came'),
    createdAt: z.string(),
  })
  .openapi('Reject');

export const RejectPage = z.object({ items: z.array(Reject), nextCursor: NextCursor }).openapi('RejectPage');

/** The answer to `DELETE /v1/users/{userId}`: the erasure, which runs as a workflow. */
export const ErasureView = z
  .object({
    userId: z.string(),
    workflowId: z.string().describe('The erasure workflow, for operators'),
    state: z.enum(['accepted']),
  })
  .openapi('Erasure');
export type ErasureView = z.infer<typeof ErasureView>;

/** An uploaded file as `POST /v1/uploads` and `GET /v1/uploads/{uploadId}` answer it: never its bytes. */
export const Upload = z
  .object({
    uploadId: z
      .string()
      .openapi({ description: 'Import it with `"source": {"provider": "file", "uploadId"}`', example: 'upl_Zm9vYmFy' }),
    userId: z.string().describe('The user whose contacts it holds: only their imports may read it'),
    format: z.enum(['vcard', 'csv']).describe('What the content is (found from the bytes, not from the declared content type)'),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/).describe('Hex SHA-256 of the bytes as received'),
    createdAt: z.string(),
  })
  .openapi('Upload');
export type UploadView = z.infer<typeof Upload>;

export const UploadIdParam = z.object({
  uploadId: z.string().min(1).max(128).openapi({ param: { name: 'uploadId', in: 'path' } }),
});

export const UploadQuery = z
  .object({ userId: UserId.openapi({ param: { name: 'userId', in: 'query' }, description: 'The user whose contacts the file holds' }) })
  .strict();

/** A refused upload: the usual error, plus, for a CSV of unknown layout, the columns each layout expects. */
export const UploadRefusedBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      expected: z
        .array(z.object({ layout: z.string(), label: z.string(), required: z.array(z.string()), oneOf: z.array(z.string()) }))
        .optional()
        .describe('unknown_csv_layout: each layout we import, with the columns it needs (all of `required`, one of `oneOf`)'),
      found: z.array(z.string()).optional().describe("unknown_csv_layout: the file's header columns (the first 50)"),
    }),
  })
  .openapi('UploadRefused');
