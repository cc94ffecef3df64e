/**
 * The failures activities and sources throw, built one way: an `ApplicationFailure` whose `type`
 * is one of the contract's `FAILURE_TYPES`, retryable unless said otherwise. Providers classify an
 * HTTP answer with {@link httpStatusFailure}, in their own words.
 */
import { ApplicationFailure } from '@temporalio/common';
import { msOptionalToNumber } from '@temporalio/common/lib/time';
import { FAILURE_TYPES } from '../../workflows/contract';
import type { HttpProblem, TimeLimit } from './http';
import { parseRetryAfter } from './retry-after';

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

/**
 * This worker lacks part of its own configuration (an OAuth client, a key, a store): retryable,
 * because another worker, or this one fixed, can do the batch.
 */
export function workerMisconfigured(message: string): ApplicationFailure {
  return failure(FAILURE_TYPES.workerMisconfigured, message);
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

/** A request that brought no answer, as plain data: an {@link HttpProblem}, or a network error in words. */
export type OutboundProblem = HttpProblem | { kind: 'network'; message: string };

/** `outcome` as plain data, its network error put in words (it crosses threads, and a message is all we keep). */
export function plainProblem<P extends HttpProblem>(outcome: P | { kind: 'network'; error: unknown }): P | { kind: 'network'; message: string } {
  return outcome.kind === 'network' ? { kind: 'network', message: describeNetworkError(outcome.error) } : (outcome as P);
}

/** `n` bytes in words: "32 MiB", "4096 bytes". */
function bytes(n: number): string {
  const mib = n / (1024 * 1024);
  return mib >= 1 ? `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB` : `${n} bytes`;
}

/** How a request that passed each time limit is told, and which setting raises it. */
const TOO_SLOW: Record<Exclude<TimeLimit, 'connect'>, (ms: number) => string> = {
  first_byte: (ms) => `did not start answering within ${ms} ms (PROVIDER_FIRST_BYTE_TIMEOUT)`,
  idle: (ms) => `sent nothing for ${ms} ms in the middle of its answer (PROVIDER_IDLE_TIMEOUT)`,
  deadline: (ms) => `did not answer within ${ms} ms`,
};

/**
 * The failure for a request that brought no answer (not for an abort: the caller rethrows its
 * signal's reason), in the words of `who` ("The CardDAV server") and `where` (" (the listing at
 * https://dav.example/…)", or empty): a connection not accepted or a network error is a retryable
 * `ProviderUnavailable`, any other time limit a retryable `ProviderTooSlow`, the byte cap a retryable
 * `ResponseTooLarge`, a refused destination a non-retryable `ProviderInvalidRequest`. The messages
 * name the limit, never the body or the address a name resolved to.
 */
export function outboundFailure(problem: Exclude<OutboundProblem, { kind: 'aborted' }>, who: string, where = ''): ApplicationFailure {
  switch (problem.kind) {
    case 'network':
      return failure(FAILURE_TYPES.providerUnavailable, `Could not reach ${who}${where}: ${problem.message}`);
    case 'refused':
      return failure(
        FAILURE_TYPES.providerInvalidRequest,
        `${who}${where} is at a loopback or private-network address (${problem.origin}), which imports may not reach. Use the server's public address.`,
        { nonRetryable: true },
      );
    case 'too_large':
      return failure(
        FAILURE_TYPES.responseTooLarge,
        `${who} sent an answer larger than ${bytes(problem.maxBytes)}${where} (PROVIDER_MAX_RESPONSE_BYTES); it was not read further.`,
      );
    case 'timeout':
      if (problem.limit === 'connect') {
        return failure(FAILURE_TYPES.providerUnavailable, `${who} did not accept a connection within ${problem.timeoutMs} ms${where} (PROVIDER_CONNECT_TIMEOUT).`);
      }
      return failure(FAILURE_TYPES.providerTooSlow, `${who} ${TOO_SLOW[problem.limit](problem.timeoutMs)}${where}.`);
  }
}

/** What a provider's unwanted HTTP status means, in the words of {@link httpStatusFailure}'s caller. */
export interface HttpStatusMessages {
  /** 401. */
  unauthenticated: string;
  /** 403. */
  permissionDenied: string;
  /** 429; `after` is " Retrying after N s." when the server said when, else empty. */
  throttled(after: string): string;
  /** 408 and 5xx, with `after` as for `throttled`. */
  unavailable(after: string): string;
  /** Any other 4xx. */
  invalidRequest: string;
  /** Anything else (a 1xx or 3xx where none belongs). */
  unexpected: string;
}

/**
 * The failure for a provider's answer with an unwanted HTTP status: 401 → `ProviderUnauthenticated`,
 * 403 → `ProviderPermissionDenied`, 429 → `ProviderThrottled`, 408 and 5xx → `ProviderUnavailable`
 * (both retryable, after `Retry-After` when sent), other 4xx → `ProviderInvalidRequest`; the 4xx
 * other than 429 are not retryable. Anything else is a retryable `ProviderBadResponse`.
 */
export function httpStatusFailure(status: number, retryAfter: string | null, say: HttpStatusMessages): ApplicationFailure {
  const nextRetryDelay = parseRetryAfter(retryAfter);
  const after = nextRetryDelay === undefined ? '' : ` Retrying after ${Math.ceil(nextRetryDelay / 1000)} s.`;
  if (status === 401) return failure(FAILURE_TYPES.providerUnauthenticated, say.unauthenticated, { nonRetryable: true });
  if (status === 403) return failure(FAILURE_TYPES.providerPermissionDenied, say.permissionDenied, { nonRetryable: true });
  if (status === 429) return failure(FAILURE_TYPES.providerThrottled, say.throttled(after), { nextRetryDelay });
  // 408 is the server giving up on a slow request: as transient as a 5xx.
  if (status >= 500 || status === 408) return failure(FAILURE_TYPES.providerUnavailable, say.unavailable(after), { nextRetryDelay });
  if (status >= 400) return failure(FAILURE_TYPES.providerInvalidRequest, say.invalidRequest, { nonRetryable: true });
  return failure(FAILURE_TYPES.providerBadResponse, say.unexpected);
}

/**
 * `error` with every one of `secrets` cut out of its message, whatever a server echoed: no message
 * leaves a source with a credential in it. Anything but an `ApplicationFailure` is returned as it is.
 */
export function redactSecrets(error: unknown, secrets: readonly string[]): unknown {
  if (!(error instanceof ApplicationFailure)) return error;
  const present = secrets.filter((secret) => secret !== '' && error.message.includes(secret));
  if (present.length === 0) return error;
  const message = present.reduce((text, secret) => text.split(secret).join('[redacted]'), error.message);
  return failure(error.type ?? FAILURE_TYPES.providerBadResponse, message, {
    nonRetryable: error.nonRetryable ?? false,
    nextRetryDelay: msOptionalToNumber(error.nextRetryDelay ?? undefined),
  });
}
