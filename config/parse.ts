/**
 * The one home of the small parsers every process uses on its environment and flags, so
 * `PORT=abc`, `--contacts 1e3` and `DEMO_CONTACTS=-1` are refused the same way, with a message
 * that names the variable and says what it takes. It also reads the payload keyring's
 * `id:base64key` entries, the one format of `PAYLOAD_ENCRYPTION_KEYS` and of the key file
 * (`encryption/payload-keys.ts`).
 */

/** A value from the environment or the command line that does not parse. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Exit code of a process that refuses to run with its configuration (sysexits' `EX_CONFIG`).
 * `npm start` does not restart a part that exits with it: the same configuration would fail again.
 */
export const CONFIG_EXIT_CODE = 78;

export interface IntegerRange {
  min: number;
  max: number;
}

/**
 * `raw` as an integer in `[min, max]`; `fallback` when `raw` is absent or empty. Underscores are
 * allowed as digit separators (`1_000_000`). Throws {@link ConfigError} naming `name` otherwise.
 */
export function parseInteger(name: string, raw: string | undefined, fallback: number, range: IntegerRange): number;
export function parseInteger(
  name: string,
  raw: string | undefined,
  fallback: number | undefined,
  range: IntegerRange,
): number | undefined;
export function parseInteger(
  name: string,
  raw: string | undefined,
  fallback: number | undefined,
  { min, max }: IntegerRange,
): number | undefined {
  if (raw === undefined || raw.trim() === '') return fallback;
  const text = raw.trim();
  const value = /^-?\d[\d_]*$/.test(text) ? Number(text.replaceAll('_', '')) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

/** A TCP port: 0 (let the OS choose) to 65535. */
export const PORT_RANGE: IntegerRange = { min: 0, max: 65_535 };

/** `true`/`false` (also `1`/`0`, `yes`/`no`); `fallback` when absent or empty. */
export function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === '') return fallback;
  const text = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no'].includes(text)) return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

const DURATION_UNITS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;

/**
 * A duration in whole seconds: `90`, `90s`, `15m`, `12h` or `7d`; `fallback` when absent or empty.
 * Throws {@link ConfigError} naming `name` otherwise, or past `maxSeconds`.
 */
export function parseDurationSeconds(name: string, raw: string | undefined, fallback: number, maxSeconds: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const match = /^(\d{1,9})\s*([smhd]?)$/i.exec(raw.trim());
  const unit = (match?.[2] || 's').toLowerCase() as keyof typeof DURATION_UNITS;
  const seconds = match ? Number(match[1]) * DURATION_UNITS[unit] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds > maxSeconds) {
    throw new ConfigError(`${name} must be a duration such as 7d, 12h, 30m or 90s, at most ${maxSeconds / 86_400} days (got "${raw}")`);
  }
  return seconds;
}

const MS_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration in milliseconds: `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds; `fallback`
 * when absent or empty. Throws {@link ConfigError} naming `name` unless it is from `minMs` to `maxMs`.
 */
export function parseDurationMs(name: string, raw: string | undefined, fallback: number, { min, max }: IntegerRange): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const match = /^(\d{1,9})\s*(ms|s|m|h)?$/i.exec(raw.trim());
  const unit = (match?.[2] || 's').toLowerCase() as keyof typeof MS_UNITS;
  const ms = match ? Number(match[1]) * MS_UNITS[unit] : NaN;
  if (!Number.isSafeInteger(ms) || ms < min || ms > max) {
    throw new ConfigError(`${name} must be a duration such as 500ms, 10s or 2m, from ${min} ms to ${max / 1000} s (got "${raw}")`);
  }
  return ms;
}

/**
 * An `http://` or `https://` URL without its trailing slashes; `fallback` when `raw` is absent or
 * empty. Throws {@link ConfigError} naming `name` otherwise.
 */
export function parseHttpUrl(name: string, raw: string | undefined, fallback: string): string {
  const text = raw || fallback;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${name} is not a URL (got "${text}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL (got "${text}")`);
  }
  return text.replace(/\/+$/, '');
}

/** One named AES-256 key. */
export interface PayloadKey {
  /** Written next to every payload it encrypts (`encryption-key-id`); never reused for another key. */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

/** Keys newest first: never empty; the first one encrypts, the others only decrypt (`encryption/payload-codec.ts`). */
export type PayloadKeyring = readonly [PayloadKey, ...PayloadKey[]];

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HOW_TO_MAKE_ONE = 'make a key with `openssl rand -base64 32`';

/**
 * Parses `id:base64key` entries, newest first, separated by commas or new lines (blank lines and
 * `#` comments are skipped, for the key file). `source` names where they came from in errors.
 * Throws {@link ConfigError} saying what to fix; the message never shows a key.
 */
export function parsePayloadKeys(source: string, raw: string): PayloadKeyring {
  const entries = raw
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'));
  const keys: PayloadKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const where = `${source}, entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ConfigError(`${where} is not "id:base64key" (${HOW_TO_MAKE_ONE}, and name it, e.g. k20250101:…)`);
    const id = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      throw new ConfigError(`${where}: the key id "${id.slice(0, 40)}" must be 1 to 32 letters, digits, "_" or "-"`);
    }
    const key = Buffer.from(encoded, 'base64');
    if (!BASE64.test(encoded) || key.length !== 32) {
      throw new ConfigError(`${where}: key "${id}" must be 32 random bytes in base64 (${HOW_TO_MAKE_ONE})`);
    }
    if (keys.some((other) => other.id === id)) {
      throw new ConfigError(`${where}: the key id "${id}" appears twice; every key needs its own id`);
    }
    keys.push({ id, key });
  }
  const [newest, ...older] = keys;
  if (!newest) throw new ConfigError(`${source} holds no key: give at least one "id:base64key" (${HOW_TO_MAKE_ONE})`);
  return [newest, ...older];
}
