/**
 * What a CardDAV server counts requests by: the account (hosts that throttle do it per account),
 * and the host, which every account on it shares. Hosts publish little, so both budgets are learned
 * from the server's own 429s unless set; docs/provider-limits.md says why and what to set.
 */
import { budgetKey, type BudgetDeclaration, type BudgetKey, type Budgets } from '../kit/budgets';
import type { Refusal } from '../kit/governor';
import { parseRetryAfter } from '../kit/retry-after';

export const CARDDAV_BUDGETS = [
  {
    kind: 'account',
    scope: 'credential',
    variable: 'CARDDAV_ACCOUNT_RATE',
    default: 'learn',
    source: 'CardDAV (RFC 6352) defines no limits and servers publish few: learned from each account’s 429s',
  },
  {
    kind: 'host',
    scope: 'app',
    variable: 'CARDDAV_HOST_RATE',
    default: 'learn',
    source:
      'No published limits; a bound up front would cap every account of a large host (iCloud, Fastmail) at once, so it is learned from the host’s 429s. Set it for a small server you know (`2` lets two requests run at once)',
  },
] as const satisfies readonly BudgetDeclaration[];

const [ACCOUNT, HOST] = CARDDAV_BUDGETS;

/** The keys of a request to the account at `url` (as the user gave it) with `username`. */
export function carddavKeys(budgets: Budgets, url: string, username: string): BudgetKey[] {
  const { origin, host } = new URL(url);
  return [budgetKey('carddav', budgets, ACCOUNT, [origin, username]), budgetKey('carddav', budgets, HOST, [host.toLowerCase()])];
}

/** A 429 is the account's (servers throttle per account); a 503 with `Retry-After` is the whole host's. */
export function carddavRefusal(answer: { status: number; retryAfter: string | null }): Refusal | null {
  if (answer.status !== 429 && answer.status !== 503) return null;
  return { kind: answer.status === 429 ? ACCOUNT.kind : HOST.kind, status: answer.status, retryAfterMs: parseRetryAfter(answer.retryAfter) };
}
