/**
 * What Google counts People API requests by, and what it allows: reads per minute per user (the
 * token's owner) and per project (the OAuth client's). `connections.list` is a "critical read"
 * (Contact and Profile Reads). docs/provider-limits.md has the sources and how to raise them.
 */
import { budgetKey, type BudgetDeclaration, type BudgetKey, type Budgets } from '../kit/budgets';
import type { Refusal } from '../kit/governor';
import { parseRetryAfter } from '../kit/retry-after';
import type { ImportOwner } from '../../workflows/contract';
import type { PageOutcome } from './page';

export const GOOGLE_PEOPLE_BUDGETS = [
  {
    kind: 'user',
    scope: 'credential',
    variable: 'GOOGLE_PEOPLE_USER_RATE',
    default: '90/min',
    source:
      "People API quota `Critical read requests (Contact and Profile Reads) per minute per user`: 90, as the Google Cloud console lists it for a project (APIs & Services → People API → Quotas & system limits); Google's 429 names it (`Read requests per minute per user`)",
  },
  {
    kind: 'app',
    scope: 'app',
    variable: 'GOOGLE_PEOPLE_APP_RATE',
    default: 'learn',
    source:
      "People API `Critical read requests (Contact and Profile Reads) per minute` per project: Google publishes no one figure (the console shows each project's own, and raises it on request), so the project's budget is learned from Google's 429s unless set to the console's value",
  },
] as const satisfies readonly BudgetDeclaration[];

const [USER, APP] = GOOGLE_PEOPLE_BUDGETS;

/**
 * The keys of a request for `owner`'s contacts: the user (tenant and user id: the token's owner, as
 * far as the service knows it) and the project, named by the OAuth client when there is one, else
 * by the API's base URL (access tokens the web app brought come from the web app's one project).
 */
export function googlePeopleKeys(budgets: Budgets, owner: ImportOwner, app: { baseUrl: string; clientId: string | undefined }): BudgetKey[] {
  return [
    budgetKey('google-people', budgets, USER, [owner.tenant, owner.userId]),
    budgetKey('google-people', budgets, APP, [app.baseUrl, app.clientId ?? '']),
  ];
}

/**
 * A 429 or 503 as a refusal: Google's message names the quota, and a quota "per user" is the
 * user's; any other (the project's, or an outage) is the app's.
 */
export function googlePeopleRefusal(outcome: PageOutcome): Refusal | null {
  if (outcome.kind !== 'http' || (outcome.status !== 429 && outcome.status !== 503)) return null;
  const perUser = outcome.status === 429 && /per user/i.test(outcome.body);
  return { kind: perUser ? USER.kind : APP.kind, status: outcome.status, retryAfterMs: parseRetryAfter(outcome.retryAfter) };
}
