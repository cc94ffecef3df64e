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
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => c.json(errorBody('payload_too_large', `The request body is larger than ${shown}`), 413),
  });
}
