/**
 * What Microsoft Graph counts contact requests by, and what it allows. Outlook resources (contacts
 * among them) are limited per app per mailbox: 4 concurrent requests and 10,000 requests per 10
 * minutes; every app is also held to a global limit across all tenants. Graph answers beyond them
 * with 429 and `Retry-After`. docs/provider-limits.md has the sources.
 */
import { budgetKey, type BudgetDeclaration, type BudgetKey, type Budgets } from '../kit/budgets';
import type { Refusal } from '../kit/governor';
import { parseRetryAfter } from '../kit/retry-after';
import type { ImportOwner } from '../../workflows/contract';

/** Graph's limit of concurrent requests per app and mailbox for Outlook resources. */
export const MAILBOX_CONCURRENCY = 4;

export const MICROSOFT_GRAPH_BUDGETS = [
  {
    kind: 'mailbox',
    scope: 'credential',
    variable: 'MICROSOFT_GRAPH_MAILBOX_RATE',
    concurrencyVariable: 'MICROSOFT_GRAPH_MAILBOX_CONCURRENCY',
    default: `10000/10min,${MAILBOX_CONCURRENCY}`,
    source:
      'Microsoft Graph throttling limits, Outlook service limits: 10,000 API requests in a 10-minute period and 4 concurrent requests, per app ID per mailbox (learn.microsoft.com/graph/throttling-limits#outlook-service-limits)',
  },
  {
    kind: 'app',
    scope: 'app',
    variable: 'MICROSOFT_GRAPH_APP_RATE',
    default: '130000/10s',
    source: 'Microsoft Graph global limit: 130,000 requests per 10 seconds per app across all tenants (learn.microsoft.com/graph/throttling-limits)',
  },
] as const satisfies readonly BudgetDeclaration[];

const [MAILBOX, APP] = MICROSOFT_GRAPH_BUDGETS;

/**
 * The keys of a request for `owner`'s mailbox: the mailbox under this app (tenant and user id, the
 * token's owner as far as the service knows it, with the app: Graph's mailbox limits are per app)
 * and the app, named by the OAuth client when there is one, else by the API's base URL.
 */
export function microsoftGraphKeys(budgets: Budgets, owner: ImportOwner, app: { baseUrl: string; clientId: string | undefined }): BudgetKey[] {
  const appParts = [app.baseUrl, app.clientId ?? ''];
  return [
    budgetKey('microsoft-graph', budgets, MAILBOX, [owner.tenant, owner.userId, ...appParts]),
    budgetKey('microsoft-graph', budgets, APP, appParts),
  ];
}

/**
 * A 429 is the mailbox's (the Outlook limits are the ones an import meets); a 503 with
 * `Retry-After` is the service's, so the app's.
 */
export function microsoftGraphRefusal(answer: { status: number; retryAfter: string | null }): Refusal | null {
  if (answer.status !== 429 && answer.status !== 503) return null;
  return { kind: answer.status === 429 ? MAILBOX.kind : APP.kind, status: answer.status, retryAfterMs: parseRetryAfter(answer.retryAfter) };
}
