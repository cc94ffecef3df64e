/**
 * The failures activities and sources throw, built one way: an `ApplicationFailure` whose `type`
 * is one of the contract's `FAILURE_TYPES`, retryable unless said otherwise.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../../workflows/contract';

export interface FailureOptions {
  nonRetryable?: boolean;
  /** From the provider's `Retry-After`: overrides the retry policy's backoff for this attempt. */
  nextRetryDelay?: number;
  cause?: Error;
}

export function failure(type: string, message: string, options: FailureOptions = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: options.nonRetryable ?? false,
    nextRetryDelay: options.nextRetryDelay,
    cause: options.cause,
  });
}

/** Input no retry can make valid: a non-retryable `InvalidImportInput`. */
export function invalidInput(message: string): ApplicationFailure {
  return failure(FAILURE_TYPES.invalidImportInput, message, { nonRetryable: true });
}

/** `text` parsed as JSON, or `undefined` when it is not JSON (for a schema to refuse with its own words). */
export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A network error in words: "fetch failed: connect ECONNREFUSED 127.0.0.1:5232" (undici hides the
 * useful part in `cause`).
 */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${error.message}: ${cause.message}${typeof code === 'string' ? ` (${code})` : ''}`;
  }
  return error.message;
}
