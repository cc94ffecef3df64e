/**
 * Sources that read a kept secret: an import by connection seals only a note that the user's
 * secret is kept (`db/connections.ts`); its source reads the secret from the worker's vault when it
 * opens, and tells the vault when the provider refuses it for good, so the connection waits for its
 * user to reconnect.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../../workflows/contract';
import type { ContactSource, KeptTokens, SourceContext } from '../types';
import { failure, workerMisconfigured } from './failures';

/** The secret kept for the context's owner at `provider`; a non-retryable `ProviderUnauthenticated` when none is usable. */
export async function loadKeptSecret(context: SourceContext, provider: string): Promise<KeptTokens> {
  if (!context.tokens) throw workerMisconfigured('This worker has no credential store to read connections from');
  const kept = await context.tokens.load({ ...context.owner, provider });
  if (kept === null) {
    throw failure(
      FAILURE_TYPES.providerUnauthenticated,
      'The connection this import reads is gone or waits for its user to reconnect. Ask the user to reconnect their account.',
      { nonRetryable: true },
    );
  }
  return kept;
}

/** `source`, reporting to the vault a page refused as unauthenticated: the kept secret of `generation` no longer works. */
export function reportingRefusal(source: ContactSource, context: SourceContext, provider: string, generation: number): ContactSource {
  const close = source.close?.bind(source);
  return {
    ...(source.syncParams === undefined ? {} : { syncParams: source.syncParams }),
    ...(source.budgetKeys === undefined ? {} : { budgetKeys: source.budgetKeys }),
    async fetchPage(request) {
      try {
        return await source.fetchPage(request);
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === FAILURE_TYPES.providerUnauthenticated) {
          await context.tokens?.refused({ ...context.owner, provider }, generation);
        }
        throw err;
      }
    },
    ...(close ? { close } : {}),
  };
}
