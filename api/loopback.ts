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

/** The host name of a `Host` header's value (`[::1]:3000` → `[::1]`); the value itself when it does not parse. */
function hostName(header: string): string {
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return header;
  }
}

/**
 * The request's {@link RequestOrigin}. The host is the `Host` header's and the URL's: they differ
 * only for a request in absolute form (`GET http://localhost/ HTTP/1.1` with another `Host`), and
 * then whichever is not loopback is the one that counts. `@hono/node-server` builds the URL from
 * the `Host` header or the absolute target, `app.request()` from the URL it was given.
 */
export function requestOrigin(c: Context): RequestOrigin {
  const header = c.req.header('host');
  const hosts = [new URL(c.req.url).hostname, ...(header === undefined ? [] : [hostName(header)])];
  return { host: hosts.find((host) => !isLoopbackHost(host)) ?? hosts[0]!, peer: peerAddress(c) };
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
