/**
 * Adds `importId` to every log line of an import's batch, beside the SDK's own `workflowId`,
 * `workflowRunId` and `attempt`: the id the web app and the API's request log know the import by.
 * An activity interceptor: the batch input names the chain (tenant, provider, user, first run).
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { ImportBatchInput, parseOrNull } from '../workflows/contract';
import { encodeImportId } from '../workflows/import-id';

/** The `importId` of a batch input, or `undefined` for other activities and inputs without a key. */
export function importIdOfBatch(input: unknown): string | undefined {
  const batch = parseOrNull(ImportBatchInput, input).value;
  if (!batch?.importKey) return undefined;
  const firstRunId = batch.importKey.slice(batch.importKey.lastIndexOf('/') + 1);
  return encodeImportId({ tenant: batch.tenant, provider: batch.provider, userId: batch.userId, firstRunId });
}

/** For `WorkerOptions.interceptors.activity`. */
export const importLogContext: ActivityInterceptorsFactory = () => {
  let importId: string | undefined;
  return {
    inbound: {
      execute(input, next) {
        importId = importIdOfBatch(input.args[0]);
        return next(input);
      },
    },
    outbound: {
      getLogAttributes: (attributes, next) => next(importId ? { ...attributes, importId } : attributes),
    },
  };
};
