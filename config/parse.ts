/**
 * The one home of the small parsers every process uses on its environment and flags, so
 * `PORT=abc`, `--contacts 1e3` and `DEMO_CONTACTS=-1` are refused the same way, with a message
 * that names the variable and says what it takes.
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
