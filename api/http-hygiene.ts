/**
 * What every route shares beyond its own contract: `405` with `Allow` for a known path asked with
 * a method it does not serve (rather than a misleading `404`), and per-route body limits.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { errorBody } from './errors';

interface RouteLike {
  method: string;
  path: string;
}

/** `/v1/imports/:importId/cancel` (Hono's spelling) as a regular expression on request paths. */
function pathPattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

/**
 * The methods served at `path`, from the app's route table (HEAD wherever GET is: Hono answers it
 * from the GET handler), or an empty list when no route has this path.
 */
export function allowedMethods(routes: readonly RouteLike[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === 'ALL' || !pathPattern(route.path).test(path)) continue;
    methods.add(route.method);
    if (route.method === 'GET') methods.add('HEAD');
  }
  return [...methods].sort();
}

/** The `notFound` handler: 405 + Allow for a known path, else 404, both with the usual body. */
export function notFoundOrNotAllowed(routes: () => readonly RouteLike[]) {
  return (c: Context): Response => {
    const allow = allowedMethods(routes(), c.req.path);
    if (allow.length > 0 && !allow.includes(c.req.method)) {
      c.header('Allow', allow.join(', '));
      return c.json(errorBody('method_not_allowed', `${c.req.path} answers ${allow.join(', ')}, not ${c.req.method}`), 405);
    }
    return c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}`), 404);
  };
}

/** A body limit answering `413` with the usual error body. */
export function limitBody(maxBytes: number): MiddlewareHandler {
  const shown = maxBytes >= 1024 * 1024 ? `${maxBytes / 1024 / 1024} MiB` : `${maxBytes / 1024} KiB`;
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => c.json(errorBody('payload_too_large', `The request body is larger than ${shown}`), 413),
  });
  // A GET or HEAD request has no body in the Fetch API (the Node adapter never gives it one), and
  // asking for it would make the adapter build the whole Request object, a large part of a status
  // answer's CPU.
  return function limitBody(c, next) {
    return c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limit(c, next);
  };
}

/**
 * Sets a header on the answer after `next()`, on the response object itself. `c.header` would do
 * it too, but on an answer already made it copies the response first, which makes the Node adapter
 * build the whole Response object. A response with immutable headers (one passed through from
 * `fetch`) is answered as a copy.
 */
export function setAnswerHeader(c: Context, name: string, value: string): void {
  try {
    c.res.headers.set(name, value);
  } catch {
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set(name, value);
  }
}
