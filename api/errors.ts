/** The one error shape the API answers with: `{ "error": { "code", "message" } }`. */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isGrpcServiceError, isGrpcDeadlineError } from '@temporalio/client';
import { TEMPORAL_OUTAGE_DEFAULTS } from '../config/defaults';
import { routeOf } from './metrics';

export interface ErrorBody {
  error: { code: string; message: string };
}

/** An expected failure: answered with its status, code and message as they are. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** What the store could tell while Temporal did not answer: contacts saved for the import's user and provider. */
export interface PartialStatus {
  saved: number;
}

/**
 * Temporal did not answer in time (or is known to be down): 503 `temporal_unavailable` with
 * `Retry-After`, and `partial` when the store could say part of what was asked.
 */
export class TemporalUnavailableError extends ApiError {
  constructor(readonly partial?: PartialStatus) {
    super(503, 'temporal_unavailable', 'Temporal is not answering; try again shortly');
    this.name = 'TemporalUnavailableError';
  }
}

/** gRPC status codes meaning "the server did not answer" (from the gRPC spec). */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

export function temporalUnavailable(err: unknown): boolean {
  if (isGrpcDeadlineError(err)) return true;
  return isGrpcServiceError(err) && (err.code === GRPC_UNAVAILABLE || err.code === GRPC_DEADLINE_EXCEEDED);
}

/** Whether `err` (or its cause, where the client wraps the gRPC error) means Temporal did not answer. */
export function isTemporalUnavailable(err: unknown): boolean {
  if (err instanceof TemporalUnavailableError) return true;
  return temporalUnavailable(err) || (err instanceof Error && err.cause !== undefined && temporalUnavailable(err.cause));
}

/**
 * Maps anything thrown by a route to JSON. Unexpected errors are logged (message only: a stack can
 * carry request data) and answered with a generic 500, never with a stack trace.
 */
export function onError(err: Error, c: Context): Response {
  if (isTemporalUnavailable(err)) {
    const unavailable = err instanceof TemporalUnavailableError ? err : new TemporalUnavailableError();
    c.header('Retry-After', String(TEMPORAL_OUTAGE_DEFAULTS.retryAfterSeconds));
    const body = errorBody(unavailable.code, unavailable.message);
    return c.json(unavailable.partial ? { ...body, partial: unavailable.partial } : body, 503);
  }
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status);
  if (err instanceof HTTPException) {
    const code = err.status === 400 ? 'invalid_request' : `http_${err.status}`;
    return c.json(errorBody(code, err.message || 'Bad request'), err.status as ContentfulStatusCode);
  }
  // The route's pattern, not the path: paths carry user ids.
  console.error(`api: unexpected error on ${c.req.method} ${routeOf(c)}: ${err.name}: ${err.message}`);
  return c.json(errorBody('internal', 'Something went wrong on our side; the error has been logged'), 500);
}
