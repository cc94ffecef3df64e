/**
 * The contract between the API, the worker and the workflow: everything that crosses the
 * workflow boundary is declared here, and only here. Sandbox-safe: no Node built-ins, no I/O.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** The task queue every import worker polls. Several workers may share it. */
export const TASK_QUEUE = 'contacts-import';

/** Workflow type name, as operators see it in the Web UI and type it in the CLI. */
export const WORKFLOW_TYPE = 'ImportContacts';

export const PROVIDERS = ['google-people'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const IMPORT_STATES = ['running', 'paused', 'completed', 'failed', 'cancelled'] as const;
export type ImportState = (typeof IMPORT_STATES)[number];

/**
 * The one workflow ID per (provider, user). Together with the `USE_EXISTING` conflict policy it is
 * what guarantees at most one running import per user and provider.
 */
export function importWorkflowId(provider: Provider, userId: string): string {
  return `import-contacts/${provider}/${userId}`;
}

/** Failure types no retry can fix: the import fails at once with the failure's message. */
export const NON_RETRYABLE_FAILURE_TYPES = [
  'ProviderUnauthenticated',
  'ProviderPermissionDenied',
  'ProviderInvalidRequest',
  'InvalidImportInput',
] as const;

/** Where the import stands in the provider's list; carried across activities and continue-as-new. */
export interface ImportCheckpoint {
  /** Provider page token of the next page to fetch; `null` before the first page. */
  cursor: string | null;
  fetched: number;
  saved: number;
  pages: number;
  /** `totalPeople` as last reported by the provider, when it reports one. */
  total: number | null;
}

/** Tuning knobs; defaults come from the API's configuration and are fixed for the whole import. */
export interface ImportTuning {
  /** Contacts per provider page (the People API allows at most 1000). */
  pageSize: number;
  /** Pages one activity fetches and saves before it reports back to the workflow. */
  pagesPerBatch: number;
  /** Continue-as-new after this many batches even if the server does not suggest it yet. */
  maxBatchesPerRun: number;
}

export interface ImportInput {
  userId: string;
  provider: Provider;
  /**
   * The provider access token, sealed (AES-256-GCM) by the API with the key the workers share.
   * Never the clear token: workflow history is readable by operators.
   */
  sealedAccessToken: string;
  tuning: ImportTuning;
  /** ISO time the import was requested; kept across continue-as-new. */
  startedAt: string;
  /** Set only by continue-as-new. */
  carried?: CarriedState;
}

/** What one run hands to the next through continue-as-new: plain JSON, no contact data. */
export interface CarriedState {
  checkpoint: ImportCheckpoint;
  paused: boolean;
  runs: number;
}

/** The answer to "how far along is it?", as the `status` query returns it. */
export interface ImportStatus {
  state: ImportState;
  fetched: number;
  saved: number;
  pages: number;
  total: number | null;
  startedAt: string;
  updatedAt: string;
  completedAt?: string;
  error?: string;
}

/** Workflow result: the final status. Counts only, never contacts. */
export type ImportSummary = ImportStatus;

/** What the `status` query answers: the status plus which run of the chain answered. */
export interface RunStatus extends ImportStatus {
  runId: string;
  firstExecutionRunId: string;
}

/** Query `status`: the current {@link RunStatus}. Read-only. */
export const statusQuery = defineQuery<RunStatus>('status');
/** Signal `pause`: stop between batches, holding no worker slot, until `resume`. */
export const pauseSignal = defineSignal('pause');
/** Signal `resume`: continue a paused import. */
export const resumeSignal = defineSignal('resume');

/** Search attributes the workflow keeps current (register them with `npm run temporal:setup`). */
export const searchAttributes = {
  userId: defineSearchAttributeKey('ImportUserId', 'KEYWORD'),
  provider: defineSearchAttributeKey('ImportProvider', 'KEYWORD'),
  state: defineSearchAttributeKey('ImportState', 'KEYWORD'),
  contactsSaved: defineSearchAttributeKey('ContactsSaved', 'INT'),
} as const;

/** The same attributes as `temporal operator search-attribute create` wants them. */
export const SEARCH_ATTRIBUTE_DEFINITIONS = [
  { name: 'ImportUserId', type: 'Keyword' },
  { name: 'ImportProvider', type: 'Keyword' },
  { name: 'ImportState', type: 'Keyword' },
  { name: 'ContactsSaved', type: 'Int' },
] as const;

/**
 * Memo keys mirrored from the status at every batch, so the API can answer from `describe` when
 * no worker is up to answer the query. Counts and times only: no PII, no secrets.
 */
export const MEMO_PROGRESS_KEY = 'progress';
export const MEMO_START_TOKEN_KEY = 'startToken';
