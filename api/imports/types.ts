/**
 * What the HTTP layer needs from "imports", as an interface: the Temporal-backed implementation
 * (`createTemporalImports`) in production and end-to-end tests, fakes in the HTTP contract tests.
 */
import type { ResolvedSource } from '../../providers';
import type { ErasureView, ImportPage, ImportView, ListImportsQuery, StartImportBody } from '../schemas';

/** A start as the API hands it on: a connection source already looked up (`resolveSource`). */
export type StartImportRequest = Omit<StartImportBody, 'source'> & { source: ResolvedSource };

export interface StartedImport {
  /** `false` when an import for this user and provider was already running: `view` is that one. */
  created: boolean;
  view: ImportView;
}

/**
 * Every method acts for one tenant (the caller's, from its API key): an import of another tenant
 * is answered exactly as one that does not exist.
 */
export interface Imports {
  /** Starts an import, or returns the one already running for this user and provider. */
  start(tenant: string, request: StartImportRequest): Promise<StartedImport>;
  /** How far along the import is. Throws `ApiError` 404 for an id we did not issue to this tenant. */
  get(tenant: string, importId: string): Promise<ImportView>;
  /** Each throws `ApiError` 404 for an unknown import, 409 when it is no longer running. */
  pause(tenant: string, importId: string): Promise<ImportView>;
  resume(tenant: string, importId: string): Promise<ImportView>;
  cancel(tenant: string, importId: string): Promise<ImportView>;
  /**
   * New credentials for an import in `needs_reauth`: it resumes where it stopped. `ApiError` 404 for
   * an unknown import, 409 when it is not waiting for credentials, 422 for another provider's source.
   */
  renewCredentials(tenant: string, importId: string, source: StartImportRequest['source']): Promise<ImportView>;
  /**
   * The user's import of `source.provider`, when it waits in `needs_reauth`, gets `source` (a
   * connection just repaired) and resumes. Resolves to its id, or `null` when none was waiting.
   */
  renewWaiting(tenant: string, userId: string, source: StartImportRequest['source']): Promise<string | null>;
  /** The tenant's imports, filtered, a page at a time (Temporal visibility). `ApiError` 400 for a cursor it did not issue. */
  list(tenant: string, query: ListImportsQuery): Promise<ImportPage>;
}

/** Whether Temporal answers, for `/healthz`. Rejects when it does not within `deadline` (epoch ms). */
export interface TemporalPing {
  ping(deadline: number): Promise<void>;
}

/** Erasing a user of a tenant: their imports cancelled, then their contacts deleted. */
export interface Erasure {
  /** Accepts the erasure (202); it completes in the background. Repeating it is harmless. */
  erase(tenant: string, userId: string): Promise<ErasureView>;
}
