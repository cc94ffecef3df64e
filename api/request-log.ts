/**
 * One log line per request, after it is answered: method, route pattern, status, milliseconds, the
 * caller's tenant and a request id. The id is the caller's `X-Request-Id` when it sends a sane one
 * (a proxy's, so its log and ours join), else a new one; the answer carries it back either way.
 * The raw path and query are not logged: they hold user ids and cursors.
 */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../observability/logger';
import { setAnswerHeader } from './http-hygiene';
import { routeOf } from './metrics';

export const REQUEST_ID_HEADER = 'X-Request-Id' as const;

/** Ids a proxy would send (uuids, hex, base64url): anything else is replaced, never echoed or logged. */
const ACCEPTABLE_ID = /^[A-Za-z0-9._:=+\-/]{1,128}$/;

/** Middleware: sets `X-Request-Id` on every answer and, given a logger, logs the request. */
export function requestLog(log?: Logger): MiddlewareHandler {
  return async function requestLog(c, next) {
    const sent = c.req.header(REQUEST_ID_HEADER);
    const requestId = sent && ACCEPTABLE_ID.test(sent) ? sent : randomUUID();
    const started = performance.now();
    try {
      await next();
    } finally {
      setAnswerHeader(c, REQUEST_ID_HEADER, requestId);
      if (log) {
        const status = c.res.status;
        const caller = (c.var as { caller?: { tenant?: string } }).caller;
        log[status >= 500 ? 'warn' : 'info'](
          {
            requestId,
            method: c.req.method,
            route: routeOf(c),
            status,
            ms: Math.round((performance.now() - started) * 10) / 10,
            ...(caller?.tenant ? { tenant: caller.tenant } : {}),
          },
          'request',
        );
      }
    }
  };
}
