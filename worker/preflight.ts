/**
 * What a worker checks before it polls. A worker that cannot do imports must refuse to start,
 * rather than take tasks and fail them: the namespace must have our search attributes (every
 * workflow task of an import sets them). The rest of its configuration (Temporal address, store,
 * token key, provider URL) is already checked when it is read.
 */
import type { NativeConnection } from '@temporalio/worker';
import { ConfigError } from '../config/parse';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';

/** Throws {@link ConfigError} saying what to fix when the namespace cannot run imports. */
export async function checkNamespace(
  connection: Pick<NativeConnection, 'operatorService' | 'withDeadline'>,
  namespace: string,
): Promise<void> {
  let names: string[];
  try {
    const { customAttributes } = await connection.withDeadline(Date.now() + 5_000, () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    names = Object.keys(customAttributes ?? {});
  } catch {
    // Temporal Cloud API keys, for one, may not allow the operator service: don't guess.
    return;
  }
  const missing = SEARCH_ATTRIBUTE_DEFINITIONS.map((a) => a.name).filter((name) => !names.includes(name));
  if (missing.length > 0) {
    throw new ConfigError(
      `namespace "${namespace}" lacks the search attributes ${missing.join(', ')}, which every import sets: ` +
        'run `npm run temporal:setup` against this cluster, then start the worker again',
    );
  }
}
