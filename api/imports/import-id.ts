/**
 * `importId`: an opaque, URL-safe name for one import (one continue-as-new chain). It carries what
 * is needed to find the chain in Temporal without a lookup table: tenant, provider, user, first
 * run id. It is a name, not a credential: the caller's tenant must match the one inside, or the
 * import does not exist for them.
 */
import { isProviderId, type ProviderId } from '../../providers';
import { DEFAULT_TENANT, importWorkflowId, legacyImportWorkflowId, TenantId, type ImportOwner } from '../../workflows/contract';

export interface ImportRef extends ImportOwner {
  provider: ProviderId;
  firstRunId: string;
  /** The chain's workflow ID (ids issued before tenants name the workflow ID of their time). */
  workflowId: string;
}

const PREFIX = 'imp_';
/** Temporal run ids are UUIDs; anything else would reach the server as a malformed request. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The longest id we issue is far shorter; the API refuses longer ones before decoding. */
export const MAX_IMPORT_ID_LENGTH = 1024;

export function encodeImportId(ref: ImportOwner & { provider: string; firstRunId: string }): string {
  const parts = [ref.tenant, ref.provider, ref.userId, ref.firstRunId];
  return PREFIX + Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** `null` for anything that is not an import id we issued. */
export function decodeImportId(importId: string): ImportRef | null {
  if (!importId.startsWith(PREFIX) || importId.length > MAX_IMPORT_ID_LENGTH) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(importId.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parts)) return null;
  // Ids issued before tenants: [provider, userId, firstRunId], all of the default tenant.
  const legacy = parts.length === 3;
  if (!legacy && parts.length !== 4) return null;
  const [rawTenant, rawProvider, userId, firstRunId] = legacy ? [DEFAULT_TENANT, ...parts] : (parts as unknown[]);
  const tenant = TenantId.safeParse(rawTenant);
  // A provider the registry does not list names no import.
  if (!tenant.success || !isProviderId(rawProvider)) return null;
  if (typeof userId !== 'string' || !userId || typeof firstRunId !== 'string' || !RUN_ID.test(firstRunId)) return null;
  const owner = { tenant: tenant.data, userId };
  return {
    ...owner,
    provider: rawProvider,
    firstRunId,
    workflowId: legacy ? legacyImportWorkflowId(rawProvider, userId) : importWorkflowId(owner, rawProvider),
  };
}

/** The import `importId` names, if it is one of `tenant`'s: another tenant's id is as unknown as a made-up one. */
export function resolveImportId(tenant: string, importId: string): ImportRef | null {
  const ref = decodeImportId(importId);
  return ref && ref.tenant === tenant ? ref : null;
}
