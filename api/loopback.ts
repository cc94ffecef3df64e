/**
 * Whether a request is local: reachable from this machine only, addressed to a loopback name. What
 * the keyless open mode depends on (api/auth.ts), and what the per-peer rate limit counts by.
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** `127.0.0.0/8`, `::1` (IPv4-mapped too) and `localhost`: the addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

/** Where a request came from, and whom it was addressed to. */
export interface RequestOrigin {
  /** The host name the request was addressed to (its `Host`, without the port). */
  host: string;
  /** The peer's address; `undefined` for a request made in-process (`app.request()`), which has no socket. */
  peer: string | undefined;
}

/** What `@hono/node-server` passes as `c.env`: the Node request, directly or under `server`. */
interface NodeBindings {
  incoming?: IncomingMessage;
  server?: { incoming?: IncomingMessage };
}

/** The address of the connection a request came on, or `undefined` when it came on none. */
export function peerAddress(c: Context): string | undefined {
  const env = c.env as NodeBindings | undefined;
  return (env?.server?.incoming ?? env?.incoming)?.socket?.remoteAddress;
}

/**
 * The request's {@link RequestOrigin}. The host is the URL's: `@hono/node-server` builds it from the
 * `Host` header (and refuses a malformed one), `app.request()` from the URL it was given.
 */
export function requestOrigin(c: Context): RequestOrigin {
  return { host: new URL(c.req.url).hostname, peer: peerAddress(c) };
}

/**
 * Why `origin` may not use the keyless mode, or `null` when it may: a peer on this machine that
 * addressed the API by a loopback name. A page on another site that the developer visits can reach
 * a loopback API through DNS rebinding, but its requests then name that site's host.
 */
export function notLocal(origin: RequestOrigin): 'host' | 'peer' | null {
  if (!isLoopbackHost(origin.host)) return 'host';
  // No socket: a request made in-process, by this process's own code.
  if (origin.peer !== undefined && !isLoopbackHost(origin.peer)) return 'peer';
  return null;
}
