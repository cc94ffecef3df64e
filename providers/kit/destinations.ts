/**
 * Where a source may connect when the address comes from a user (a CardDAV `url`): public
 * addresses only. Otherwise any tenant's user could make our workers call loopback services,
 * the private network or a cloud metadata endpoint, and read the answers back through error
 * messages. The embedded single-machine setup and the tests, whose servers are on loopback, turn
 * this off (`SOURCES_ALLOW_PRIVATE_ADDRESSES=true`; `npm start` sets it for its own worker).
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { FAILURE_TYPES } from '../../workflows/contract';
import { failure } from './failures';

/** Ranges no user-supplied URL may reach: loopback, private, link-local, CGNAT, multicast, reserved. */
const BLOCKED = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  BLOCKED.addSubnet(address, prefix, 'ipv4');
}
for (const [address, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(address, prefix, 'ipv6');
}

/** True for an address a user-supplied URL must not reach (IPv4-mapped IPv6 judged as its IPv4). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return BLOCKED.check(mapped, 'ipv4');
  return BLOCKED.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}

/**
 * Resolves `url`'s host and refuses (non-retryable `ProviderInvalidRequest`) when any address it
 * names is private, unless `allowPrivate`. Called before every request, redirects included.
 */
export async function checkDestination(url: URL, allowPrivate: boolean, what: string): Promise<void> {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = net.isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  if (addresses.some(isPrivateAddress)) {
    throw failure(
      FAILURE_TYPES.providerInvalidRequest,
      `${what}: ${url.origin} is a loopback or private-network address, which imports may not reach. Use the server's public address.`,
      { nonRetryable: true },
    );
  }
}
