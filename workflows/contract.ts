/**
 * The contract between the API, the worker and the workflow. Every value that crosses the workflow
 * boundary is defined here, once, as a zod schema with its TypeScript type derived from it: workflow
 * input and carried state, batch input/result, status, memo, search attributes, messages and
 * failure types. The checkpoint they carry, and what a batch heartbeats and fails with, are in
 * `./checkpoint.ts`. Whoever reads such a value back from Temporal parses it with its schema
 * ({@link parseOrNull}) instead of casting it.
 *
 * Sandbox-safe: zod and Temporal's definitions only; no Node built-ins, no I/O.
 */
import { z } from 'zod';
import { ApplicationFailure, defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { ImportCheckpoint, ResolvedSyncMode } from './checkpoint';
import { parseOrNull } from './parse';

export { parseOrNull };

/** The task queue every import worker polls. Several workers may share it. */
export const TASK_QUEUE = 'contacts-import';

/**
 * Workflow type name, as operators see it in the Web UI and type it in the CLI. The API starts the
 * workflow by reference (`ImportContacts`), so this is for humans and their tools.
 */
export const WORKFLOW_TYPE = 'ImportContacts';

/**
 * Where contacts come from, by name (`google-people`): in workflow ids, import ids, search
 * attributes and metrics. The providers themselves are listed in `providers/index.ts`, which
 * refuses a name it does not know; here it is only a name of a safe shape.
 */
export const Provider = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, {
  message: 'a provider is 1–32 characters of lower-case letters, digits and -, starting with a letter',
});
export type Provider = z.infer<typeof Provider>;

/**
 * A tenant: one web app, with its own API keys, that sees only its own imports and contacts. It
 * comes from the caller's API key, never from the request.
 */
export const TenantId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
  message: 'a tenant id is 1–63 characters of lower-case letters, digits, - and _, starting with a letter or digit',
});
export type TenantId = z.infer<typeof TenantId>;

/**
 * The tenant of the keyless loopback mode: requests without a key, while the API listens on
 * loopback only and no tenant key exists (`api/auth.ts`), act as this tenant.
 */
export const DEFAULT_TENANT = 'default';

/** Whose contacts: one user of one tenant. */
export interface ImportOwner {
  tenant: TenantId;
  userId: string;
}

/**
 * The one workflow ID per (tenant, provider, user). Together with the `USE_EXISTING` conflict
 * policy it is what guarantees at most one running import per user and provider.
 */
export function importWorkflowId({ tenant, userId }: ImportOwner, provider: Provider): string {
  return `import-contacts/${tenant}/${provider}/${userId}`;
}

/** `needs_reauth`: credentials rejected for good; waiting, with no worker slot, for new ones (workflows/reauth.ts). */
export const ImportState = z.enum(['running', 'paused', 'needs_reauth', 'completed', 'failed', 'cancelled']);
export type ImportState = z.infer<typeof ImportState>;
export const IMPORT_STATES = ImportState.options;

/**
 * `type` of every `ApplicationFailure` an import can fail or retry with, for retry policies and
 * for telling failures apart in the workflow, the API and tests.
 */
export const FAILURE_TYPES = {
  /** 401: the token is expired or revoked. Not retryable: the user has to reconnect. */
  providerUnauthenticated: 'ProviderUnauthenticated',
  /** 403: the token lacks the contacts scope, or the API is disabled. Not retryable. */
  providerPermissionDenied: 'ProviderPermissionDenied',
  /** 400, 404 and other 4xx: the request itself is wrong. Not retryable. */
  providerInvalidRequest: 'ProviderInvalidRequest',
  /** 429: slow down; retryable, after `Retry-After` when the server sends one. */
  providerThrottled: 'ProviderThrottled',
  /** 5xx, network errors, dropped connections, a connection not accepted in time. Retryable. */
  providerUnavailable: 'ProviderUnavailable',
  /**
   * The answer missed a time limit (its first byte, a silence mid-body, the whole request's
   * deadline): `PROVIDER_*_TIMEOUT`. Retryable.
   */
  providerTooSlow: 'ProviderTooSlow',
  /** The answer passed `PROVIDER_MAX_RESPONSE_BYTES` while it streamed in. Retryable: the next answer may be smaller. */
  responseTooLarge: 'ResponseTooLarge',
  /** A 2xx whose body is not the documented shape. Retryable: usually a proxy or a cut-off body. */
  providerBadResponse: 'ProviderBadResponse',
  /** The workflow or batch input does not match this contract (or its sealed credentials are malformed). */
  invalidImportInput: 'InvalidImportInput',
  /**
   * The worker that ran the attempt lacks what the import needs (the key its credentials were sealed
   * with): a fault of that worker, not of the import. Retryable, so another worker takes it; a worker
   * that keeps hitting this stops polling (`worker/misconfiguration-guard.ts`).
   */
  workerMisconfigured: 'WorkerMisconfigured',
  /** An activity failure that carried no type of its own. */
  importFailed: 'ImportFailed',
  /** The import waited in `needs_reauth` for its whole re-auth window and got no new credentials. */
  reauthTimedOut: 'ReauthTimedOut',
} as const;
export type FailureType = (typeof FAILURE_TYPES)[keyof typeof FAILURE_TYPES];

/** Failure types no retry can fix: the import fails at once with the failure's message. */
export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureType[] = [
  FAILURE_TYPES.providerUnauthenticated,
  FAILURE_TYPES.providerPermissionDenied,
  FAILURE_TYPES.providerInvalidRequest,
  FAILURE_TYPES.invalidImportInput,
];

/**
 * Failure types of a source that does not deliver (outages, limits, throttling, garbage): a batch
 * failing with these retries with backoff until it has saved nothing for `IMPORT_GIVE_UP_AFTER`,
 * and the import then fails with the last one as its `errorType`.
 */
export const SOURCE_FAILURE_TYPES: readonly FailureType[] = [
  FAILURE_TYPES.providerUnavailable,
  FAILURE_TYPES.providerTooSlow,
  FAILURE_TYPES.responseTooLarge,
  FAILURE_TYPES.providerThrottled,
  FAILURE_TYPES.providerBadResponse,
];

const count = z.number().int().nonnegative();
const isoTime = z.string().min(1);

/**
 * How an import is asked to read its source: `full` (everything), `incremental` (what changed since
 * the last import's sync token), `auto` (incremental when a usable token is stored). The first batch
 * resolves it into the checkpoint's mode (activities/import-sync.ts).
 */
export const SyncMode = z.enum(['auto', ...ResolvedSyncMode.options]);
export type SyncMode = z.infer<typeof SyncMode>;

/** How an import is cut; fixed for the whole import (defaults: `config/defaults.ts`). */
export const ImportTuning = z.object({
  /** Contacts per provider page (the People API allows at most 1000). */
  pageSize: z.number().int().min(1).max(1000),
  /** Pages one activity fetches and saves before it reports back to the workflow. */
  pagesPerBatch: z.number().int().min(1),
  /** Continue-as-new after this many batches even if the server does not suggest it yet. */
  maxBatchesPerRun: z.number().int().min(1),
  /** `REAUTH_TIMEOUT`: how long `needs_reauth` waits for new credentials; 0 fails the import at once. */
  reauthTimeoutSeconds: z.number().int().min(0),
  /** `IMPORT_GIVE_UP_AFTER`: how long batches may fail on the source without saving a page before the import fails. */
  giveUpAfterSeconds: z.number().int().min(1),
});
export type ImportTuning = z.infer<typeof ImportTuning>;

/** `[epoch ms, saved]` at batch completions of the last minute, at most one a second: the API's rate and ETA. */
export const ProgressSamples = z.array(z.tuple([z.number().int().nonnegative(), count])).max(128);
export type ProgressSamples = z.infer<typeof ProgressSamples>;

/** What one run hands to the next through continue-as-new: plain JSON, no contact data. */
export const CarriedState = z.object({
  checkpoint: ImportCheckpoint,
  paused: z.boolean(),
  runs: z.number().int().min(1),
  samples: ProgressSamples,
});
export type CarriedState = z.infer<typeof CarriedState>;

/** `ImportContacts`' one argument. */
export const ImportInput = z.object({
  tenant: TenantId,
  userId: z.string().min(1),
  provider: Provider,
  /**
   * The source's credentials (for Google People, the access token), sealed (AES-256-GCM) by the
   * API with the key the workers share. Never in clear: workflow history is readable by operators.
   */
  sealedCredentials: z.string().min(1),
  tuning: ImportTuning,
  /** ISO time the import was requested; kept across continue-as-new. */
  startedAt: isoTime,
  /** Set only by continue-as-new. */
  carried: CarriedState.optional(),
  /** How to read the source; the first batch resolves it into the checkpoint. */
  mode: SyncMode,
  /** Where webhook events go, and the first retry's delay (`./hooks-contract.ts`); absent: nobody is told. */
  notify: z.object({ url: z.string().url().max(2048), retryInitialIntervalMs: z.number().int().min(1) }).optional(),
});
export type ImportInput = z.infer<typeof ImportInput>;

/** One `importBatch` activity: up to `maxPages` pages from `checkpoint` on. */
export const ImportBatchInput = z.object({
  tenant: TenantId,
  userId: z.string().min(1),
  provider: Provider,
  sealedCredentials: z.string().min(1),
  pageSize: ImportTuning.shape.pageSize,
  /** Pages to import before reporting back to the workflow. */
  maxPages: z.number().int().min(1),
  checkpoint: ImportCheckpoint,
  /**
   * Names the import (continue-as-new chain) its checkpoint is stored and its rejects are filed
   * under: `importKey(workflowId, firstRunId)`.
   */
  importKey: z.string().min(1),
  /** The import's requested mode (its input's); the first batch resolves it into the checkpoint. */
  mode: SyncMode,
});
export type ImportBatchInput = z.infer<typeof ImportBatchInput>;

/** The key an import's checkpoint and rejects are filed under: one import is one chain, named by its workflow ID and first run. */
export function importKey(workflowId: string, firstRunId: string): string {
  return `${workflowId}/${firstRunId}`;
}

export const ImportBatchResult = z.object({
  checkpoint: ImportCheckpoint,
  /** The provider has no more pages: the import is complete. */
  done: z.boolean(),
});
export type ImportBatchResult = z.infer<typeof ImportBatchResult>;

const checkpointField = ImportCheckpoint.shape;

/** The answer to "how far along is it?": the state, and the counts of the import's checkpoint (`statusCounts`). */
export const ImportStatus = z.object({
  state: ImportState,
  fetched: checkpointField.fetched,
  saved: checkpointField.saved,
  rejected: checkpointField.rejected.describe('Records set aside instead of saved: GET /v1/imports/{importId}/rejects lists them'),
  pages: checkpointField.pages,
  total: checkpointField.total.describe('Contacts the provider reports in all, once known: saved / total is the progress'),
  startedAt: isoTime,
  updatedAt: isoTime,
  completedAt: isoTime.optional(),
  error: z.string().optional().describe('Why the import failed, in words a person can act on'),
  errorType: z.string().optional().describe('The failure type, for programs (e.g. ProviderUnauthenticated: ask the user to reconnect)'),
  reauthBy: isoTime.optional().describe('needs_reauth: new credentials must reach POST /v1/imports/{importId}/credentials by then'),
  mode: checkpointField.mode.describe(
    'How the import reads its source: `full` (everything) or `incremental` (only what changed since the last import). Absent until the first batch decides',
  ),
  deleted: checkpointField.deleted
    .optional()
    .describe('Contacts this import marked deleted (the provider reported them gone, or a full listing no longer had them)'),
});
export type ImportStatus = z.infer<typeof ImportStatus>;

/** Workflow result: the final status. Counts only, never contacts. */
export const ImportSummary = ImportStatus;
export type ImportSummary = ImportStatus;

/** What the `status` query answers: the status plus which run of the chain answered. */
export const RunStatus = ImportStatus.extend({
  runId: z.string().min(1),
  firstExecutionRunId: z.string().min(1),
  /** Recent progress, for the API's `rate` and `etaSeconds`. */
  samples: ProgressSamples,
});
export type RunStatus = z.infer<typeof RunStatus>;

/** Query `status`: the current {@link RunStatus}. Read-only. */
export const statusQuery = defineQuery<RunStatus>('status');
/** Signal `pause`: stop the running batch at its next page, then hold no worker slot until `resume`. */
export const pauseSignal = defineSignal('pause');
/** Signal `resume`: continue a paused import. */
export const resumeSignal = defineSignal('resume');

/**
 * The memo. `progress` mirrors the status at every batch, so the API can answer from `describe`
 * when no worker is up to answer the query; `startToken` tells the API's own start apart from an
 * import that was already running; `firstRunId` names the chain a run belongs to, which a listing
 * of runs (visibility) does not say. Counts, times, ids and a random token: no PII, no secrets.
 */
export const MEMO_KEYS = { progress: 'progress', startToken: 'startToken', firstRunId: 'firstRunId' } as const;
export const ImportMemo = z.object({
  [MEMO_KEYS.progress]: ImportStatus.optional(),
  [MEMO_KEYS.startToken]: z.string().optional(),
  [MEMO_KEYS.firstRunId]: z.string().optional(),
});
export type ImportMemo = z.infer<typeof ImportMemo>;

/** Search attributes the workflow keeps current (register them with `npm run temporal:setup`). */
export const searchAttributes = {
  tenant: defineSearchAttributeKey('ImportTenant', 'KEYWORD'),
  userId: defineSearchAttributeKey('ImportUserId', 'KEYWORD'),
  provider: defineSearchAttributeKey('ImportProvider', 'KEYWORD'),
  state: defineSearchAttributeKey('ImportState', 'KEYWORD'),
  contactsSaved: defineSearchAttributeKey('ContactsSaved', 'INT'),
} as const;

/** `EraseUser`'s argument: whose data to erase. */
export const EraseUserInput = z.object({ tenant: TenantId, userId: z.string().min(1) });
export type EraseUserInput = z.infer<typeof EraseUserInput>;

export const EraseUserResult = z.object({
  /** Imports that were running and were cancelled (and waited for) before the delete. */
  cancelledImports: count,
  deletedContacts: count,
});
export type EraseUserResult = z.infer<typeof EraseUserResult>;

/** One erasure per user at a time; repeating `DELETE` while it runs joins it. */
export function eraseWorkflowId({ tenant, userId }: ImportOwner): string {
  return `erase-user/${tenant}/${userId}`;
}

/** The SDK's type names as `temporal operator search-attribute create --type` spells them. */
const CLI_TYPE_NAMES = {
  KEYWORD: 'Keyword',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
} as const;
export type SearchAttributeCliType = (typeof CLI_TYPE_NAMES)[keyof typeof CLI_TYPE_NAMES];

/** The same attributes, derived from {@link searchAttributes}, as the CLI and the operator API want them. */
export const SEARCH_ATTRIBUTE_DEFINITIONS: ReadonlyArray<{ name: string; type: SearchAttributeCliType }> = Object.values(
  searchAttributes,
).map((key) => ({ name: key.name, type: CLI_TYPE_NAMES[key.type] }));

/**
 * A workflow's or activity's argument read with its contract schema. Input that does not match
 * fails at once as non-retryable `InvalidImportInput`, saying `what` and where: no retry would
 * make it valid.
 */
export function readInput<T extends z.ZodType>(schema: T, raw: unknown, what: string): z.infer<T> {
  const parsed = parseOrNull(schema, raw);
  if (parsed.value !== null) return parsed.value;
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.invalidImportInput,
    message: `The ${what} does not match the contract (${parsed.problem})`,
    nonRetryable: true,
  });
}
