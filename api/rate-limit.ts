/**
 * A token bucket per caller (per API key; one shared bucket for the keyless loopback mode):
 * `perSecond` requests a second on average, bursts of up to `burst`. Over the limit, `429` with
 * `Retry-After` saying when the next request will be accepted.
 */
import type { MiddlewareHandler } from 'hono';
import type { CallerVariables } from './auth';
import { errorBody } from './errors';

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

/** Middleware counting each request against its caller's bucket (after `requireKey`). */
export function rateLimit(buckets: TokenBuckets): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async function rateLimit(c, next) {
    const caller = c.get('caller');
    const waitMs = buckets.take(caller.keyId ?? `open:${caller.tenant}`);
    if (waitMs > 0) {
      c.header('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
      return c.json(errorBody('rate_limited', 'Too many requests for this API key; retry after the time in Retry-After'), 429);
    }
    await next();
  };
}
