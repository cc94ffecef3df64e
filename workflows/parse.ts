/**
 * Reading a value that came from elsewhere (Temporal, the store) with its schema, without throwing.
 *
 * Sandbox-safe: zod only.
 */
import type { z } from 'zod';

/**
 * `value` parsed with `schema`, or `null` when it does not match (with the first problem, for a
 * log line). For values read back from Temporal or the store: a heartbeat or a memo written by
 * other code, failure details from anywhere, a stored checkpoint.
 */
export function parseOrNull<T extends z.ZodType>(
  schema: T,
  value: unknown,
): { value: z.infer<T>; problem?: undefined } | { value: null; problem: string } {
  const result = schema.safeParse(value);
  if (result.success) return { value: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { value: null, problem: `${where}${issue?.message ?? 'does not match'}` };
}
