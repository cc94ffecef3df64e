/** Whether an address is reachable from this machine only: what the keyless open modes depend on. */
import net from 'node:net';

/** `127.0.0.0/8`, `::1` (IPv4-mapped too) and `localhost`: the addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}
