/**
 * Whether a request is local: reachable from this machine only, addressed to a loopback name. What
 * the keyless open mode depends on (api/auth.ts), and what the per-peer rate limit counts by.
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/**
 * The loopback addresses. A `BlockList` compares parsed addresses, so every spelling counts: an
 * IPv4-mapped one (`::ffff:127.0.0.1`, which a URL turns into `::ffff:7f00:1`) matches `127.0.0.0/8`,
 * and `0:0:0:0:0:0:0:1` matches `::1`.
 */
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `localhost` and the loopback addresses as URLs and sockets spell them. */
const CANONICAL_LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1']);

/** `127.0.0.0/8`, `::1` (IPv4-mapped too, in any spelling) and `localhost`: the addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  // The usual spellings first: every request asks, and the block list parses each address it checks.
  if (CANONICAL_LOOPBACK.has(bare)) return true;
  if (net.isIPv4(bare)) return LOOPBACK.check(bare, 'ipv4');
  if (net.isIPv6(bare)) return LOOPBACK.check(bare, 'ipv6');
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
