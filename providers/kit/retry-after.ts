/**
 * `Retry-After` (RFC 9110 §10.2.3), as providers and token endpoints send it with a 429 or a 503:
 * the delay that becomes a failure's `nextRetryDelay`, so the retry comes when the server said.
 */

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP-date. `undefined` when absent or
 * unreadable, so the retry policy's own backoff applies.
 */
export function parseRetryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse is lenient ("-5" parses as a year), so insist on the shape of an HTTP-date.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
