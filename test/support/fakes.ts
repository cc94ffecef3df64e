/**
 * In-memory stand-ins for what the HTTP layer stands on (`AppDeps.imports`, `AppDeps.erasure`,
 * `AppDeps.temporal`), so the HTTP contract runs without Temporal. They keep the semantics the
 * Temporal-backed implementations have and the README promises: one running import per tenant, user
 * and provider, 404 for ids we never issued to the caller's tenant (another tenant's included), 409
 * for acting on a finished import.
 */
import { randomUUID } from 'node:crypto';
import { ServiceError } from '@temporalio/client';
import { ApiError } from '../../api/errors';
import {
  newImportView,
  type Erasure,
  type Imports,
  type StartedImport,
  type StartImportRequest,
  type TemporalPing,
} from '../../api/imports';
import type { ErasureView, ImportPage, ImportView, ListImportsQuery } from '../../api/schemas';
import { eraseWorkflowId, type ImportStatus } from '../../workflows/contract';
import { isProviderId } from '../../providers';
import { resolveImportId } from '../../workflows/import-id';

/** gRPC status UNAVAILABLE (the gRPC spec's code 14): the server could not be reached. */
const GRPC_UNAVAILABLE = 14;

/**
 * The error `@temporalio/client` throws when the server cannot be reached: a `ServiceError` whose
 * cause is the gRPC error (`code`, `details`, `metadata`, as `@grpc/grpc-js` builds it). This is
 * what `temporalUnavailable()` in `api/errors.ts` recognises (on the error or on its cause).
 */
export function temporalUnavailableError(operation = 'describe workflow'): ServiceError {
  const details = 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7233';
  const grpcError = Object.assign(new Error(`${GRPC_UNAVAILABLE} UNAVAILABLE: ${details}`), {
    code: GRPC_UNAVAILABLE,
    details,
    metadata: {},
  });
  return new ServiceError(`Failed to ${operation}`, { cause: grpcError });
}

type Action = 'pause' | 'resume' | 'cancel';

/** One call that reached a fake: which method, for which tenant, with what. */
export interface FakeCall<M extends string, A> {
  method: M;
  tenant: string;
  argument: A;
}

/**
 * {@link Imports} in memory, per tenant. Commands answer with the import as it was when they
 * reached it (as the Temporal-backed one does) and take effect at once: after `pause`, `get` says
 * `paused`. An import id of another tenant is answered exactly as one never issued: 404.
 */
export class FakeImports implements Imports {
  /** Every call that reached this fake, in order: a request the HTTP layer refused is not here. */
  readonly calls: Array<FakeCall<keyof Imports, string | StartImportRequest>> = [];
  /** When set, every method rejects with it (e.g. {@link temporalUnavailableError}). */
  failure: Error | undefined;

  private readonly imports = new Map<string, { tenant: string; view: ImportView }>();
  private clock = Date.UTC(2025, 0, 1);

  async start(tenant: string, request: StartImportRequest): Promise<StartedImport> {
    this.enter('start', tenant, request);
    const { userId, source } = request;
    const running = [...this.imports.values()].find(
      (entry) =>
        entry.tenant === tenant && entry.view.userId === userId && entry.view.provider === source.provider && isRunning(entry.view),
    );
    if (running) return { created: false, view: { ...running.view } };
    const runId = randomUUID();
    const now = this.tick();
    const view = newImportView({ tenant, provider: source.provider, userId, firstRunId: runId }, runId, now);
    this.imports.set(view.importId, { tenant, view });
    return { created: true, view: { ...view } };
  }

  async get(tenant: string, importId: string): Promise<ImportView> {
    this.enter('get', tenant, importId);
    return { ...this.find(tenant, importId) };
  }

  pause(tenant: string, importId: string): Promise<ImportView> {
    return this.act(tenant, importId, 'pause');
  }

  resume(tenant: string, importId: string): Promise<ImportView> {
    return this.act(tenant, importId, 'resume');
  }

  cancel(tenant: string, importId: string): Promise<ImportView> {
    return this.act(tenant, importId, 'cancel');
  }

  /** Resumes an import in `needs_reauth` (put there with {@link set}); 409 otherwise, as the workflow's validator does. */
  async renewCredentials(tenant: string, importId: string, source: StartImportRequest['source']): Promise<ImportView> {
    this.enter('renewCredentials', tenant, importId);
    const view = this.find(tenant, importId);
    if (view.state !== 'needs_reauth') throw new ApiError(409, 'import_not_waiting', `Import ${importId} is ${view.state}`);
    if (source.provider !== view.provider) throw new ApiError(422, 'provider_mismatch', `source.provider: import ${importId} reads ${view.provider}`);
    return { ...this.update(view, { state: 'running', error: undefined, errorType: undefined, reauthBy: undefined }) };
  }

  /** Resumes the user's import of that provider when it waits in `needs_reauth`. */
  async renewWaiting(tenant: string, userId: string, source: StartImportRequest['source']): Promise<string | null> {
    this.enter('renewWaiting', tenant, userId);
    const waiting = [...this.imports.values()].find(
      ({ tenant: t, view }) => t === tenant && view.userId === userId && view.provider === source.provider && view.state === 'needs_reauth',
    );
    if (!waiting) return null;
    this.update(waiting.view, { state: 'running', error: undefined, errorType: undefined, reauthBy: undefined });
    return waiting.view.importId;
  }

  /** The tenant's imports, newest first, filtered as asked; the cursor is the position of the next one. */
  async list(tenant: string, query: ListImportsQuery): Promise<ImportPage> {
    this.enter('list', tenant, JSON.stringify(query));
    const matching = [...this.imports.values()]
      .filter(({ tenant: t, view }) => t === tenant && (query.userId ?? view.userId) === view.userId)
      .filter(({ view }) => (query.provider ?? view.provider) === view.provider && (query.state ?? view.state) === view.state)
      .map(({ view }) => ({ ...view }))
      .reverse();
    const from = query.cursor === undefined ? 0 : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
    if (!Number.isInteger(from) || from < 0) throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API issued');
    const next = from + query.limit;
    return {
      items: matching.slice(from, next),
      nextCursor: next < matching.length ? Buffer.from(String(next)).toString('base64url') : null,
    };
  }

  /** Moves an import along, as its workflow would: `set(id, { state: 'completed', saved: 10 })`. */
  set(importId: string, patch: Partial<ImportStatus>): ImportView {
    const entry = this.imports.get(importId);
    if (!entry) throw new Error(`FakeImports.set: no import ${importId}`);
    return { ...this.update(entry.view, patch) };
  }

  private update(view: ImportView, patch: Partial<ImportStatus>): ImportView {
    Object.assign(view, { updatedAt: this.tick() }, patch);
    if (!isRunning(view)) view.completedAt ??= view.updatedAt;
    return view;
  }

  private async act(tenant: string, importId: string, action: Action): Promise<ImportView> {
    this.enter(action, tenant, importId);
    const view = this.find(tenant, importId);
    if (!isRunning(view)) {
      throw new ApiError(409, 'import_not_running', `Cannot ${action} import ${importId}: it is ${view.state}`);
    }
    const before = { ...view };
    this.update(view, { state: action === 'pause' ? 'paused' : action === 'resume' ? 'running' : 'cancelled' });
    return before;
  }

  private enter(method: keyof Imports, tenant: string, argument: string | StartImportRequest): void {
    this.calls.push({ method, tenant, argument });
    if (this.failure) throw this.failure;
  }

  /** The tenant's import, or the same 404 for an id never issued and for another tenant's. */
  private find(tenant: string, importId: string): ImportView {
    const entry = resolveImportId(tenant, importId, isProviderId) ? this.imports.get(importId) : undefined;
    if (!entry || entry.tenant !== tenant) throw new ApiError(404, 'import_not_found', `No import with id "${importId}"`);
    return entry.view;
  }

  /** A clock that moves one second per change, so `updatedAt` visibly moves. */
  private tick(): string {
    this.clock += 1_000;
    return new Date(this.clock).toISOString();
  }
}

/** {@link Erasure} in memory: records each request and accepts it, as the workflow-backed one does. */
export class FakeErasure implements Erasure {
  readonly calls: Array<FakeCall<'erase', string>> = [];
  /** When set, `erase` rejects with it. */
  failure: Error | undefined;

  async erase(tenant: string, userId: string): Promise<ErasureView> {
    this.calls.push({ method: 'erase', tenant, argument: userId });
    if (this.failure) throw this.failure;
    return { userId, workflowId: eraseWorkflowId({ tenant, userId }), state: 'accepted' };
  }
}

function isRunning(view: ImportView): boolean {
  return view.state === 'running' || view.state === 'paused' || view.state === 'needs_reauth';
}

/** {@link TemporalPing} that answers (`'ok'`) or rejects as an unreachable server does (`'failing'`). */
export function fakeTemporalPing(initial: 'ok' | 'failing' = 'ok'): TemporalPing & { state: 'ok' | 'failing' } {
  return {
    state: initial,
    async ping() {
      if (this.state === 'failing') throw temporalUnavailableError('get system info');
    },
  };
}
