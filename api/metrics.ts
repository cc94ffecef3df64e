/**
 * The API's Prometheus series, served at `GET /metrics` (text exposition format, prom-client):
 * requests by method, route and status, and their latency. `route` is the route's pattern
 * (`/v1/imports/:importId`), never the path a caller sent: a path holds user ids, and every distinct
 * value would be a series of its own. Requests no route matched count as `route="unmatched"`.
 *
 * Who may read it: operator keys, like the codec server; open on a loopback-only API while no
 * operator key exists (the `npm start` default), so a local Prometheus scrapes it without setup.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export const API_METRICS = {
  requests: 'contacts_api_requests_total',
  duration: 'contacts_api_request_duration_seconds',
} as const;

/** The route pattern that answered `c`, or `unmatched`. Middleware (`ALL` routes) does not count. */
export function routeOf(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i -= 1) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}

export interface HttpMetrics {
  registry: Registry;
  /** Counts and times every request; register it before any route. */
  middleware: MiddlewareHandler;
  /** Answers a scrape. */
  scrape: (c: Context) => Promise<Response>;
}

/**
 * A fresh registry with the request series. `processMetrics` adds prom-client's `process_*` and
 * `nodejs_*` series (event-loop lag, heap, GC): for a process's own registry, not for every test app.
 */
export function createHttpMetrics(options: { processMetrics?: boolean } = {}): HttpMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: API_METRICS.requests, help: 'HTTP requests answered, by route pattern and status', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: API_METRICS.duration,
    help: 'Time to answer an HTTP request (to the first byte of a streamed body), by route pattern and status',
    labelNames,
    // Status answers in milliseconds; a start or an upload can take seconds.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    middleware: async function httpMetrics(c, next) {
      const started = performance.now();
      try {
        await next();
      } finally {
        const labels = { method: c.req.method, route: routeOf(c), status: String(c.res.status) };
        requests.inc(labels);
        duration.observe(labels, (performance.now() - started) / 1000);
      }
    },
    scrape: async (c) => {
      c.header('Cache-Control', 'no-store');
      return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType });
    },
  };
}
