/**
 * What the HTTP layer needs from "imports", as an interface: the Temporal-backed implementation
 * (`createTemporalImports`) in production and end-to-end tests, fakes in the HTTP contract tests.
 */
import type { ImportView, StartImportBody } from '../schemas';

export type StartImportRequest = StartImportBody;

export interface StartedImport {
  /** `false` when an import for this user and provider was already running: `view` is that one. */
  created: boolean;
  view: ImportView;
}

export interface Imports {
  /** Starts an import, or returns the one already running for this user and provider. */
  start(request: StartImportRequest): Promise<StartedImport>;
  /** How far along the import is. Throws `ApiError` 404 for an id we did not issue. */
  get(importId: string): Promise<ImportView>;
  /** Each throws `ApiError` 404 for an unknown import, 409 when it is no longer running. */
  pause(importId: string): Promise<ImportView>;
  resume(importId: string): Promise<ImportView>;
  cancel(importId: string): Promise<ImportView>;
}

/** Whether Temporal answers, for `/healthz`. Rejects when it does not within `deadline` (epoch ms). */
export interface TemporalPing {
  ping(deadline: number): Promise<void>;
}
