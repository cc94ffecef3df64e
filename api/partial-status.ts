/**
 * While Temporal does not answer, the store can still say part of how far an import got: how many
 * contacts are saved for its user and provider. A status request then gets that in its 503.
 */
import { TEMPORAL_OUTAGE_DEFAULTS } from '../config/defaults';
import { isTemporalUnavailable, TemporalUnavailableError } from './errors';
import { isProviderId } from '../providers';
import { decodeImportId, type ImportRef } from '../workflows/import-id';

/**
 * The error to answer a status request with: `err` as it is, unless it means Temporal did not
 * answer; then a {@link TemporalUnavailableError} with `partial.saved` when `countSaved` answers
 * within `withinMs` (the contacts stored for the import's user and provider, earlier imports
 * included; `undefined` when the caller may not see that import).
 */
export async function withPartialStatus(
  err: unknown,
  importId: string,
  countSaved: (ref: ImportRef) => Promise<number | undefined>,
  withinMs: number = TEMPORAL_OUTAGE_DEFAULTS.partialStatusMs,
): Promise<unknown> {
  if (!isTemporalUnavailable(err)) return err;
  const ref = decodeImportId(importId, isProviderId);
  if (!ref) return err;
  let timer: NodeJS.Timeout | undefined;
  const saved = await Promise.race([
    countSaved(ref).catch(() => undefined),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), withinMs))),
  ]);
  clearTimeout(timer);
  return new TemporalUnavailableError(saved === undefined ? undefined : { saved });
}
