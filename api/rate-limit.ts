/**
 * Token buckets: one per caller (per API key; one shared bucket for the keyless mode), and one per
 * peer address for requests that carry no key at all. `perSecond` requests a second on average,
 * bursts of up to `burst`. Over the limit, `429 rate_limited` with `Retry-After` saying when the
 * next request will be accepted.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { CallerVariables } from './auth';
import { errorBody } from './errors';
import { peerAddress } from './loopback';

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  now?: () => number;
  /** Buckets kept before idle (full) ones are dropped. */
  maxBuckets?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError(`rate limit needs perSecond > 0 and burst >= 1 (got ${options.perSecond}, ${options.burst})`);
    }
    this.now = options.now ?? Date.now;
  }

  /** Takes one token for `key`: `0` when granted, else the milliseconds until one is available. */
  take(key: string): number {
    const now = this.now();
    const { perSecond, burst } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > (this.options.maxBuckets ?? 100_000)) this.dropOldest();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / perSecond) * 1000);
  }

  /** Map order is last use: the first entries are the longest idle, and idle buckets are full. */
  private dropOldest(): void {
    const excess = this.buckets.size - (this.options.maxBuckets ?? 100_000);
    let dropped = 0;
    for (const key of this.buckets.keys()) {
      if (dropped++ >= excess) break;
      this.buckets.delete(key);
    }
  }
}

/** `429 rate_limited`, with `Retry-After` in whole seconds (at least 1). */
function tooManyRequests(c: Context, waitMs: number, message: string): Response {
  c.header('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
  return c.json(errorBody('rate_limited', message), 429);
}

/** Middleware counting each request against its caller's bucket (after `requireKey`). */
export function rateLimit(buckets: TokenBuckets): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async function rateLimit(c, next) {
    const caller = c.get('caller');
    const waitMs = buckets.take(caller.keyId ?? `open:${caller.tenant}`);
    if (waitMs > 0) return tooManyRequests(c, waitMs, 'Too many requests for this API key; retry after the time in Retry-After');
    await next();
  };
}

/**
 * Middleware counting each request without an `Authorization` header against its peer address's
 * bucket: the keyless mode, the health checks, the progress page, the docs. Register it first, so
 * a peer over its limit costs nothing more, not even a key count. Requests with a key are counted
 * per key instead ({@link rateLimit}). Behind a reverse proxy every request comes from the proxy.
 */
export function rateLimitPeers(buckets: TokenBuckets): MiddlewareHandler {
  return async function rateLimitPeers(c, next) {
    if (c.req.header('authorization') === undefined) {
      // In-process requests (`app.request()`) have no socket: they share one bucket.
      const waitMs = buckets.take(`peer:${peerAddress(c) ?? 'in-process'}`);
      if (waitMs > 0) {
        return tooManyRequests(c, waitMs, 'Too many requests without an API key from this address; retry after the time in Retry-After');
      }
    }
    await next();
  };
}
