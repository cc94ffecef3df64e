/**
 * How webhook requests are signed, and how a receiver checks them. The header is
 * `Contacts-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed by the
 * tenant's webhook secret (the `whsec_…` string itself, as UTF-8). Signing the time with the body
 * lets a receiver refuse an old request replayed at it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The signature header, and the event id header (the same `eventId` as in the body). */
export const WEBHOOK_HEADERS = { signature: 'Contacts-Signature', eventId: 'Contacts-Event-Id' } as const;

/** A new signing secret: 256 random bits, recognisable by its prefix. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The `Contacts-Signature` value for `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const digest = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${digest}`;
}

/**
 * Whether `header` is a valid signature of `body` with `secret`, made at most `toleranceSeconds`
 * before `now` (unix seconds). What a receiver runs before it trusts an event (see the README).
 */
export function verifyWebhook(
  secret: string,
  header: string | null | undefined,
  body: string,
  { now = Math.floor(Date.now() / 1000), toleranceSeconds = 300 }: { now?: number; toleranceSeconds?: number } = {},
): boolean {
  const fields = new Map((header ?? '').split(',').map((part) => part.split('=', 2) as [string, string]));
  const timestamp = Number(fields.get('t'));
  const given = Buffer.from(fields.get('v1') ?? '', 'hex');
  if (!Number.isInteger(timestamp) || Math.abs(now - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body).split('v1=')[1]!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
