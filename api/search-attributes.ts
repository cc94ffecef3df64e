/**
 * The API sets our search attributes when it starts an import; on a cluster where nobody ran
 * `npm run temporal:setup`, every start would fail. Say so once, at start, in words that say what
 * to do, rather than on every request.
 */
import type { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';

/** Names of our search attributes the namespace lacks; `null` when the cluster would not tell us. */
export async function missingSearchAttributes(connection: Connection, namespace: string): Promise<string[] | null> {
  try {
    const { customAttributes } = await connection.withDeadline(Date.now() + 5_000, () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    return SEARCH_ATTRIBUTE_DEFINITIONS.map((a) => a.name).filter((name) => !customAttributes?.[name]);
  } catch {
    // Temporal Cloud API keys, for one, may not allow the operator service: don't guess.
    return null;
  }
}
