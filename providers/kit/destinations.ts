/**
 * Where an outbound request may connect. An address that comes from a user (a CardDAV `url`, a
 * webhook `notify.url`, any redirect) must be public: otherwise any tenant's user could make our
 * workers call loopback services, the private network or a cloud metadata endpoint, and read the
 * answers back through error messages. The operator's own endpoints (a provider's API, its token
 * endpoint) may be private; the embedded single-machine setup and the tests, whose servers are on
 * loopback, allow private addresses everywhere (`SOURCES_ALLOW_PRIVATE_ADDRESSES=true`).
 *
 * The check is pinned to the connection: `kit/http.ts` connects through {@link guardedLookup}, which
 * resolves a host once, judges every address it got and hands exactly those to the socket. A name
 * that answers a public address to a check and a private one to the connection (DNS rebinding)
 * therefore never reaches the private one. Every redirect hop is a new connection, judged again.
 */
import { lookup } from 'node:dns/promises';
import net, { type LookupFunction } from 'node:net';

/** Which addresses one request may connect to. Plain data: it travels to decode threads. */
export interface DestinationPolicy {
  /** Loopback and private addresses allowed everywhere (`SOURCES_ALLOW_PRIVATE_ADDRESSES`). */
  allowPrivate: boolean;
  /** Origins the operator configured (`https://people.googleapis.com`): these may be private. */
  trustedOrigins?: readonly string[];
}

/** One address a name resolved to, as `dns.lookup` gives it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has; the system resolver unless a test swaps it. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

/** IPv4 ranges no user-supplied URL may reach: this network, private, CGNAT, loopback, link-local, IETF, benchmarking, multicast and reserved. */
const BLOCKED_V4 = new net.BlockList();
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
  BLOCKED_V4.addSubnet(address, prefix, 'ipv4');
}

/**
 * IPv6 ranges refused whatever they hold: IPv4-compatible (`::/96`, which holds `::` and `::1`),
 * unique local, site-local (deprecated, still routed on old networks), link-local, multicast, and
 * the local-use NAT64 prefix (`64:ff9b:1::/48`, whose IPv4 position depends on the site).
 */
const BLOCKED_V6 = new net.BlockList();
for (const [address, prefix] of [
  ['::', 96],
  ['fc00::', 7],
  ['fec0::', 10],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b:1::', 48],
] as const) {
  BLOCKED_V6.addSubnet(address, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 included); `null` when it is not one. */
function ipv6Groups(address: string): number[] | null {
  if (!net.isIPv6(address)) return null;
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 ? groups : null;
}

const ipv4Of = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;

/**
 * The IPv4 address an IPv6 one stands for, judged in its place: IPv4-mapped (`::ffff:a.b.c.d`),
 * NAT64 (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002:AABB:CCDD::/16`). Judging the embedded address
 * rather than refusing these prefixes outright keeps public hosts reachable from IPv6-only networks
 * with DNS64, while `64:ff9b::7f00:1` (127.0.0.1 through the translator) is refused.
 */
function embeddedIpv4(groups: readonly number[]): string | undefined {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return ipv4Of(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return ipv4Of(g6, g7);
  if (g0 === 0x2002) return ipv4Of(g1, g2);
  return undefined;
}

/** True for an address a user-supplied URL must not reach. */
export function isPrivateAddress(address: string): boolean {
  if (net.isIPv4(address)) return BLOCKED_V4.check(address, 'ipv4');
  const groups = ipv6Groups(address);
  // Neither IPv4 nor IPv6: nothing we could connect to, so nothing we may.
  if (groups === null) return true;
  const embedded = embeddedIpv4(groups);
  if (embedded !== undefined) return BLOCKED_V4.check(embedded, 'ipv4');
  return BLOCKED_V6.check(address.replace(/%.*$/, ''), 'ipv6');
}

/** Whether `url` may be connected to at a private address under `policy`. */
export function mayBePrivate(url: URL, policy: DestinationPolicy): boolean {
  return policy.allowPrivate || (policy.trustedOrigins ?? []).includes(url.origin);
}

/** `url`'s host as an address, when it is one (`[::1]` → `::1`); `undefined` for a name. */
export function literalAddress(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(host) ? host : undefined;
}

/** What {@link guardedLookup} fails a connection with when a name resolves to a private address. */
export class DestinationRefusedError extends Error {
  override name = 'DestinationRefusedError';
  readonly code = 'EDESTINATIONREFUSED';
  constructor(readonly hostname: string) {
    super(`${hostname} resolves to a loopback or private-network address`);
  }
}

/**
 * A `lookup` for `node:net` that resolves with `resolve`, once per connection, and fails with
 * {@link DestinationRefusedError} when any address is private (unless `allowPrivate`). The socket
 * connects to the addresses it judged, and to no others.
 */
export function guardedLookup(resolve: Resolver, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (resolved) => {
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const addresses = resolved.filter((entry) => family === undefined || entry.family === family);
        if (!allowPrivate && resolved.some((entry) => isPrivateAddress(entry.address))) {
          callback(new DestinationRefusedError(hostname), '', 4);
          return;
        }
        const first = addresses[0];
        if (first === undefined) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 4);
          return;
        }
        if (options.all) (callback as unknown as (err: null, all: ResolvedAddress[]) => void)(null, [...addresses]);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 4),
    );
  };
}
