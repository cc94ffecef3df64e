/**
 * `importId`: an opaque, URL-safe name for one import (one continue-as-new chain). It carries what
 * is needed to find the chain in Temporal without a lookup table: tenant, provider, user, first
 * run id. It is a name, not a credential: the caller's tenant must match the one inside, or the
 * import does not exist for them.
 *
 * The API issues and reads it; the webhook activity and the worker's log lines name imports by it.
 * It sits beside the contract it is made of, and is sandbox-safe like it (no `Buffer`, no Node
 * built-ins): workflow code may use it too. Which providers exist is the registry's to say
 * (`providers/index.ts`), so whoever reads an id passes its `isProviderId`.
 */
import { importWorkflowId, TenantId, type ImportOwner, type Provider } from './contract';

export interface ImportRef<P extends Provider = Provider> extends ImportOwner {
  provider: P;
  firstRunId: string;
  /** The chain's workflow ID, {@link importWorkflowId} of its owner and provider. */
  workflowId: string;
}

const PREFIX = 'imp_';
/** Temporal run ids are UUIDs; anything else would reach the server as a malformed request. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The longest id we issue is far shorter; the API refuses longer ones before decoding. */
export const MAX_IMPORT_ID_LENGTH = 1024;

/** `imp_` and the base64url of `[tenant, provider, userId, firstRunId]` as JSON. */
export function encodeImportId(ref: Omit<ImportRef, 'workflowId'>): string {
  const parts = [ref.tenant, ref.provider, ref.userId, ref.firstRunId];
  return PREFIX + toBase64Url(new TextEncoder().encode(JSON.stringify(parts)));
}

/** Whether a name is one of the providers that exist: the registry's `isProviderId`. */
export type ProviderGuard<P extends Provider> = (name: unknown) => name is P;

/** `null` for anything that is not an import id we issued, or that names a provider `isProvider` does not know. */
export function decodeImportId<P extends Provider>(importId: string, isProvider: ProviderGuard<P>): ImportRef<P> | null {
  if (!importId.startsWith(PREFIX) || importId.length > MAX_IMPORT_ID_LENGTH) return null;
  const bytes = fromBase64Url(importId.slice(PREFIX.length));
  if (!bytes) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length !== 4) return null;
  const [rawTenant, rawProvider, userId, firstRunId] = parts as unknown[];
  const tenant = TenantId.safeParse(rawTenant);
  if (!tenant.success || !isProvider(rawProvider)) return null;
  if (typeof userId !== 'string' || !userId || typeof firstRunId !== 'string' || !RUN_ID.test(firstRunId)) return null;
  const owner = { tenant: tenant.data, userId };
  return { ...owner, provider: rawProvider, firstRunId, workflowId: importWorkflowId(owner, rawProvider) };
}

/** The import `importId` names, if it is one of `tenant`'s: another tenant's id is as unknown as a made-up one. */
export function resolveImportId<P extends Provider>(tenant: string, importId: string, isProvider: ProviderGuard<P>): ImportRef<P> | null {
  const ref = decodeImportId(importId, isProvider);
  return ref && ref.tenant === tenant ? ref : null;
}

/**
 * The import a run of `ImportContacts` belongs to, from its workflow ID (made by {@link importWorkflowId})
 * and its chain's first run: how a listing of runs names their imports. `null` for any other ID.
 */
export function refOfRun<P extends Provider>(workflowId: string, firstRunId: string, isProvider: ProviderGuard<P>): ImportRef<P> | null {
  const [, rawTenant, rawProvider, ...rest] = workflowId.split('/');
  const tenant = TenantId.safeParse(rawTenant);
  const userId = rest.join('/');
  if (!tenant.success || !isProvider(rawProvider) || !userId || !RUN_ID.test(firstRunId)) return null;
  const owner = { tenant: tenant.data, userId };
  // Made the way importWorkflowId makes it, or not an import's.
  if (importWorkflowId(owner, rawProvider) !== workflowId) return null;
  return { ...owner, provider: rawProvider, firstRunId, workflowId };
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** RFC 4648 base64url without padding: what `Buffer`'s `base64url` writes, which the sandbox lacks. */
function toBase64Url(bytes: Uint8Array): string {
  let text = '';
  for (let at = 0; at < bytes.length; at += 3) {
    const [a = 0, b = 0, c = 0] = bytes.subarray(at, at + 3);
    const group = (a << 16) | (b << 8) | c;
    // Three bytes make four characters; a last one or two bytes make two or three.
    const characters = Math.min(bytes.length - at, 3) + 1;
    for (let k = 0; k < characters; k++) text += BASE64URL.charAt((group >> (18 - 6 * k)) & 63);
  }
  return text;
}

/** The bytes of unpadded base64url text, or `null` when `text` is not such text. */
function fromBase64Url(text: string): Uint8Array | null {
  if (text.length % 4 === 1) return null;
  const bytes = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let pending = 0;
  let at = 0;
  for (const character of text) {
    const digit = BASE64URL.indexOf(character);
    if (digit < 0) return null;
    // At most 14 bits are pending after a digit: 16 bits hold them.
    pending = ((pending << 6) | digit) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[at++] = (pending >> bits) & 0xff;
    }
  }
  return bytes;
}
