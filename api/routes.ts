/**
 * The HTTP contract, route by route: method, path, input schemas and every answer a route can
 * give. `api/app.ts` attaches the handlers; `/openapi.json` is generated from these.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { HEALTH_DEFAULTS } from '../config/defaults';
import {
  ChangePage,
  ContactPage,
  ContactsQuery,
  ErasureView,
  ErrorBody,
  Health,
  ImportIdParam,
  ImportPage,
  ImportView,
  ListImportsQuery,
  ListContactsQuery,
  RejectPage,
  StartImportBody,
  TemporalUnavailableBody,
  Upload,
  UploadIdParam,
  UploadQuery,
  UploadRefusedBody,
  UserIdParam,
} from './schemas';

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 421 | 422 | 429 | 503;

const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'Malformed request (JSON that does not parse, a cursor this API did not issue)',
  401: 'No API key, or one that is unknown or revoked (`WWW-Authenticate: Bearer`)',
  403: 'Keyless mode only: the request comes from another machine (`peer_not_allowed`)',
  404: 'No such import for this API key',
  409: 'The import is no longer running',
  413: 'The request body is too large for this route',
  415: 'The body is of a content type this route does not take',
  421: 'Keyless mode only: the request is addressed to a host other than localhost, 127.0.0.1 or [::1] (`host_not_allowed`)',
  422: 'A field is missing, invalid or unknown',
  429: 'Too many requests for this API key, or without a key from this address (`rate_limited`, with `Retry-After`); see docs/limits.md for the other limits',
  503: 'Temporal (`temporal_unavailable`, with `Retry-After`) or the database (`store_unavailable`) does not answer',
};

const SECONDS_HEADER = { schema: { type: 'integer' as const, minimum: 0 } };

function errorResponse(code: ErrorStatus) {
  const headers =
    code === 429 || code === 503
      ? { 'Retry-After': { ...SECONDS_HEADER, description: 'Seconds to wait before asking again' } }
      : code === 401
        ? { 'WWW-Authenticate': { schema: { type: 'string' as const }, description: 'Bearer challenge' } }
        : undefined;
  return {
    description: ERROR_DESCRIPTIONS[code],
    content: { 'application/json': { schema: code === 503 ? TemporalUnavailableBody : ErrorBody } },
    ...(headers ? { headers } : {}),
  };
}

/** The 429 of a route with limits of its own besides the rate limits, which `also` describes. */
function tooManyRequests(also?: string) {
  return {
    description: also ? `${ERROR_DESCRIPTIONS[429]}; or ${also}` : ERROR_DESCRIPTIONS[429],
    content: { 'application/json': { schema: ErrorBody } },
    headers: { 'Retry-After': { ...SECONDS_HEADER, description: 'Seconds to wait before asking again (rate limits only)' } },
  };
}

/**
 * The error answers of a `/v1` route: every one can answer 401 (421 or 403 in the keyless mode),
 * 429 and 503 (its key cannot be checked while the database is down), plus `codes`.
 */
export const v1Errors = (...codes: ErrorStatus[]) =>
  Object.fromEntries([...new Set<ErrorStatus>([401, 403, 421, 429, 503, ...codes])].map((code) => [code, errorResponse(code)]));

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** Every `/v1` route needs an API key (`Authorization: Bearer …`). */
export const security = [{ apiKey: [] }];

/**
 * The document's `info`, shown at the top of `/docs`. It names the guides in the repository's
 * `docs/` by path: a link would resolve against this API's own address, which does not serve them.
 */
export const API_INFO = {
  title: 'Contacts import',
  version: '1.0.0',
  description:
    "Imports a web app's users' contacts as durable workflows: start an import, follow its progress, read the " +
    'contacts and the change feed. Every `/v1` route takes `Authorization: Bearer <key>` ' +
    '(`npm run api-key -- create --tenant TENANT --name NAME`).\n\n' +
    'The guide to these routes and the flows behind them (progress, re-auth, webhooks, errors) is `docs/api.md` in ' +
    "the service's repository; `docs/sync.md` covers sync modes, the change feed and schedules.",
};

export const startImport = createRoute({
  method: 'post',
  path: '/v1/imports',
  summary: "Start importing a user's contacts, or get the import already running",
  security,
  request: { body: { required: true, content: { 'application/json': { schema: StartImportBody } } } },
  responses: {
    202: json(ImportView, 'Import started'),
    200: json(ImportView, 'An import for this user and provider is already running: this is it'),
    ...v1Errors(400, 413, 422, 503),
    409: json(ErrorBody, '`notify` given, and the tenant has no webhook secret yet (`webhook_not_configured`): `PUT /v1/webhook` first'),
  },
});

export const listImports = createRoute({
  method: 'get',
  path: '/v1/imports',
  summary: "The tenant's imports, open ones first, then the most recently ended: by user, provider or state, a page at a time",
  description:
    'Read from Temporal visibility (each import carries its tenant, user, provider and state as search attributes), so a ' +
    'web app need not remember every import id. The counts are those the import last published (at each batch).',
  security,
  request: { query: ListImportsQuery },
  responses: { 200: json(ImportPage, 'A page of imports'), ...v1Errors(400, 422, 503) },
});

export const getImport = createRoute({
  method: 'get',
  path: '/v1/imports/{importId}',
  summary: 'How far along an import is',
  security,
  request: { params: ImportIdParam },
  responses: { 200: json(ImportView, 'The import'), ...v1Errors(404, 422, 503) },
});

export const importEvents = createRoute({
  method: 'get',
  path: '/v1/imports/{importId}/events',
  summary: "An import's status as Server-Sent Events, live",
  description:
    'An `status` event (data: the Import, as `GET /v1/imports/{importId}` answers it) whenever the status changes, ' +
    'a `: keepalive` comment every 15 s, and an `end` event with the final status, after which the stream closes. ' +
    "Each event's `id` names its status: reconnecting with `Last-Event-ID` sends only what changed since " +
    '(`EventSource` does this by itself); 204 when that id is the final status already. One status read per second ' +
    'per import, however many streams watch it. A key holds at most `EVENT_STREAMS_PER_KEY` streams open per API ' +
    'process; a revoked key\'s streams end within seconds.',
  security,
  request: { params: ImportIdParam },
  responses: {
    200: {
      description: 'The event stream',
      // Each event, as the SSE format has it: `data` is the Import (`GET /v1/imports/{importId}`) as JSON.
      content: {
        'text/event-stream': {
          schema: {
            type: 'object' as const,
            properties: {
              event: { type: 'string' as const, enum: ['status', 'end'] },
              id: { type: 'string' as const, description: 'Names the status: send it back as `Last-Event-ID` to resume' },
              data: { type: 'string' as const, description: 'The Import, as JSON' },
            },
            required: ['event', 'id', 'data'],
          },
        },
      },
    },
    204: { description: '`Last-Event-ID` names the final status: nothing more will come' },
    ...v1Errors(404, 422, 503),
    429: tooManyRequests('this key holds `EVENT_STREAMS_PER_KEY` streams open on this API process already (`too_many_streams`)'),
  },
});

export const importAction = (action: 'cancel' | 'pause' | 'resume', summary: string) =>
  createRoute({
    method: 'post',
    path: `/v1/imports/{importId}/${action}`,
    summary,
    security,
    request: { params: ImportIdParam },
    responses: {
      202: json(ImportView, 'Requested; the import acts on it at its next page'),
      ...v1Errors(404, 409, 413, 422, 503),
    },
  });

export const listRejects = createRoute({
  method: 'get',
  path: '/v1/imports/{importId}/rejects',
  summary: 'Records an import set aside instead of saving (unreadable, or nothing to identify them by), a page at a time',
  security,
  request: { params: ImportIdParam, query: ContactsQuery },
  responses: { 200: json(RejectPage, 'A page of rejects'), ...v1Errors(400, 404, 422) },
});

export const listContacts = createRoute({
  method: 'get',
  path: '/v1/users/{userId}/contacts',
  summary: "A user's imported contacts, a page at a time; or, with `changedSince`, what changed",
  description:
    'Without `changedSince`: the contacts as they are (deleted ones left out), a ContactPage, paged with `cursor`. ' +
    'With `changedSince` (`0`, then each answer\'s `cursor`): the change feed, a ChangePage of upserts and deletions in ' +
    'commit order, to keep a copy current without reading everything again.',
  security,
  request: { params: UserIdParam, query: ListContactsQuery },
  responses: {
    200: json(z.union([ContactPage, ChangePage]), 'A ContactPage, or a ChangePage when `changedSince` was given'),
    ...v1Errors(400, 422),
  },
});

export const eraseUser = createRoute({
  method: 'delete',
  path: '/v1/users/{userId}',
  summary:
    "Erase a user: cancel their imports, then delete their contacts. Durable (a workflow) and idempotent: repeat it safely",
  security,
  request: { params: UserIdParam },
  responses: { 202: json(ErasureView, 'Erasure accepted; it completes in the background'), ...v1Errors(413, 422, 503) },
});

/** A file's bytes, documented only: the handler streams them itself (a zod schema here would buffer them). */
const FILE_BYTES = { type: 'string' as const, format: 'binary' };
/** A vCard file (2.1, 3.0 or 4.0), as it starts: a BOM or blank lines before `BEGIN:VCARD` are fine too. */
const VCARD_FILE = {
  type: 'string' as const,
  pattern: '^BEGIN:VCARD\\r?\\n',
  example: 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nEMAIL:ada@example.com\r\nEND:VCARD\r\n',
};
/** A Google Contacts or Outlook CSV export: its header row decides (see the 422). */
const CSV_FILE = { ...FILE_BYTES, example: 'First Name,Last Name,E-mail 1 - Value\r\nAda,Lovelace,ada@example.com\r\n' };

export const createUpload = createRoute({
  method: 'post',
  path: '/v1/uploads',
  summary: "Upload a user's contacts file (vCard or CSV export) to import with the `file` source",
  description:
    'The body is the file itself (`text/vcard`, `text/x-vcard`, `text/csv`) or a `multipart/form-data` form with exactly ' +
    'one file field (any name) and no other field, up to `UPLOAD_MAX_BYTES` (50 MiB unless configured). The format is ' +
    'found from the content, whatever the declared type: a vCard sent as `text/csv` is stored as `vcard`. A CSV must be ' +
    "a Google Contacts or Outlook export: any other header answers 422 `unknown_csv_layout`, with each layout's columns " +
    'in `error.expected`. A refused upload keeps nothing.',
  security,
  request: {
    query: UploadQuery,
    body: {
      required: true,
      content: {
        'text/vcard': { schema: VCARD_FILE },
        'text/x-vcard': { schema: VCARD_FILE },
        'text/csv': { schema: CSV_FILE },
        // One file part and no other: a form with another field is refused (422 `one_file_expected`).
        'multipart/form-data': { schema: { type: 'object', properties: { file: FILE_BYTES }, required: ['file'], additionalProperties: false } },
      },
    },
  },
  responses: {
    201: {
      ...json(Upload, 'Stored; import it with `{"source": {"provider": "file", "uploadId"}}`'),
      headers: { Location: { schema: { type: 'string' }, description: '`/v1/uploads/{uploadId}`' } },
    },
    ...v1Errors(413, 415, 503),
    429: tooManyRequests("the tenant's uploads are at `UPLOAD_QUOTA_BYTES` (`upload_quota_exceeded`)"),
    400: json(ErrorBody, 'A multipart/form-data body that does not parse (`invalid_multipart`)'),
    422: json(
      UploadRefusedBody,
      'A bad `userId` (`validation_failed`); an empty file (`empty_upload`); a CSV whose header is no layout we import ' +
        '(`unknown_csv_layout`, `empty_csv`); a `text/vcard` body that is neither vCard nor a known CSV (`invalid_vcard`); ' +
        'a form with a field, no file or several files (`one_file_expected`)',
    ),
  },
});

export const getUpload = createRoute({
  method: 'get',
  path: '/v1/uploads/{uploadId}',
  summary: 'An uploaded file: its user, format, size and SHA-256 (never its bytes)',
  security,
  request: { params: UploadIdParam },
  responses: {
    200: json(Upload, 'The upload'),
    ...v1Errors(422, 503),
    404: json(ErrorBody, 'No such upload for this API key'),
  },
});

export const livez = createRoute({
  method: 'get',
  path: '/livez',
  summary: 'Whether this API process is up (checks nothing else: for liveness probes)',
  responses: { 200: json(Health.pick({ status: true }), 'Up'), 429: tooManyRequests() },
});

export const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Whether Temporal and the database answer (which one does not: only with an API key)',
  description: `Answered from a check at most ${HEALTH_DEFAULTS.cacheMs / 1000} s old: however many probes come, Temporal and the database see one check each per interval.`,
  responses: { 200: json(Health, 'Both answer'), 503: json(Health, 'One of them does not'), 429: tooManyRequests() },
});
