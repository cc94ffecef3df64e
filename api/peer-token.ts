/**
 * The token a request takes from its peer address's bucket (api/rate-limit.ts), held until its key
 * verifies: then the key's own bucket counts the request, and the peer's is given back. What the
 * rate limit and the places that check keys (api/auth.ts, the codec server, `/healthz`) share.
 */
import type { Context } from 'hono';

const PEER_REFUND = 'peerRefund';

/** Records how to give the request's peer token back; called by the per-peer limit. */
export function holdPeerToken(c: Context, refund: () => void): void {
  let refunded = false;
  c.set(PEER_REFUND, () => {
    if (refunded) return;
    refunded = true;
    refund();
  });
}

/**
 * Tells the per-peer limit that the request's key verified, so its peer gets the token back. Call it
 * as soon as the key is known good (a long event stream or upload must not hold the token); a
 * request the per-peer limit did not count is left alone, and a second call does nothing.
 */
export function keyVerified(c: Context): void {
  const refund: unknown = c.get(PEER_REFUND);
  if (typeof refund === 'function') (refund as () => void)();
}
