/**
 * Request budgets: what a provider allows, per key it counts by (a user's token, a mailbox, a
 * CardDAV account; the OAuth client or project, a CardDAV host), and how it is written in the
 * environment. A provider declares its keys and their variables in its own folder
 * ({@link BudgetDeclaration}); its settings read them once at start ({@link readBudgets}); its
 * source names the keys of each request ({@link budgetKey}); the governor (`./governor.ts`) spends
 * them, shared by every worker through the store.
 *
 * A budget is a rate (`20/s`, `600/min`, `10000/10min`), a concurrency (`4`), or both
 * (`10000/10min,4`). A rate that is not set is learned: nothing holds requests back until the
 * provider refuses one with a 429, then the key's rate is halved and raised slowly while requests
 * succeed. `learn` says so explicitly; `off` turns both off (a `Retry-After` still closes the key).
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../config/parse';

/** `count` requests per `perMs` milliseconds. */
export interface RateLimit {
  count: number;
  perMs: number;
}

/** What one key allows. */
export interface Budget {
  /** A fixed rate, `learn` (from the provider's 429s), or `null`: no rate at all. */
  rate: RateLimit | 'learn' | null;
  /** How many requests on the key may be in flight at once, across every worker; `null`: no bound. */
  concurrency: number | null;
}

/** Which of a request's keys a budget applies to: the credential's, or the app's every credential shares. */
export type BudgetScope = 'credential' | 'app';

/** One key a provider counts requests by, declared in the provider's folder. */
export interface BudgetDeclaration {
  /** The key's kind, in metrics labels and the store's key names: `user`, `app`, `account`, `host`, `mailbox`. */
  kind: string;
  scope: BudgetScope;
  /** The variable holding its budget (any of the syntax): `GOOGLE_PEOPLE_USER_RATE`. */
  variable: string;
  /** A second variable holding its concurrency alone, for providers that document the two apart. */
  concurrencyVariable?: string;
  /** The budget when the variables are unset, in the same syntax: the provider's published limit, or `learn`. */
  default: string;
  /** Where {@link default} comes from, or why it is what it is (docs/provider-limits.md quotes it). */
  source: string;
}

/** A provider's budgets as read at start, by key kind. */
export type Budgets = Readonly<Record<string, Budget>>;

const LEARN: Budget = { rate: 'learn', concurrency: null };

const UNITS: Record<string, number> = { ms: 1, s: 1_000, sec: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const RATE = /^(\d[\d_]*)\s*\/\s*(\d*)\s*(ms|s|sec|min|h|d)$/;
const WHOLE = /^\d[\d_]*$/;

function syntaxError(name: string, raw: string, problem?: string): ConfigError {
  const why = problem ? `: ${problem}` : '';
  return new ConfigError(
    `${name} must be a rate such as 20/s, 600/min or 10000/10min, a concurrency such as 4, both (10000/10min,4), learn or off (got "${raw}")${why}`,
  );
}

function positive(name: string, raw: string, text: string): number {
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < 1) throw syntaxError(name, raw, `${text} is not a whole number of 1 or more`);
  return value;
}

/**
 * `raw` in the budget syntax (see the module comment), or throws {@link ConfigError} naming `name`
 * and saying what it takes.
 */
export function parseBudget(name: string, raw: string): Budget {
  const parts = raw
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part !== '');
  if (parts.length === 0) throw syntaxError(name, raw);
  if (parts.length === 1 && parts[0] === 'off') return { rate: null, concurrency: null };
  let rate: Budget['rate'] | undefined;
  let concurrency: number | undefined;
  for (const part of parts) {
    const match = RATE.exec(part);
    if (part === 'learn' || match) {
      if (rate !== undefined) throw syntaxError(name, raw, 'it names a rate twice');
      rate = match ? { count: positive(name, raw, match[1] as string), perMs: positive(name, raw, match[2] || '1') * (UNITS[match[3] as string] as number) } : 'learn';
    } else if (WHOLE.test(part)) {
      if (concurrency !== undefined) throw syntaxError(name, raw, 'it names a concurrency twice');
      concurrency = positive(name, raw, part);
    } else {
      throw syntaxError(name, raw, part === 'off' ? 'off stands alone' : undefined);
    }
  }
  return { rate: rate ?? 'learn', concurrency: concurrency ?? null };
}

/**
 * The budgets `declarations` name, from `env`. `published` says whether the provider is the one the
 * defaults were published for (Google's own API, not the demo provider or a proxy): when it is not,
 * an unset budget learns its rate instead, and keeps the concurrency its default declares (a bound
 * of the protocol's, which costs nothing against a server that allows more). Throws
 * {@link ConfigError} for a value that does not parse.
 */
export function readBudgets(env: NodeJS.ProcessEnv, declarations: readonly BudgetDeclaration[], published = true): Budgets {
  const budgets: Record<string, Budget> = {};
  for (const declaration of declarations) {
    const raw = env[declaration.variable]?.trim();
    const declared = parseBudget(declaration.variable, declaration.default);
    const budget = raw ? parseBudget(declaration.variable, raw) : published ? declared : { ...LEARN, concurrency: declared.concurrency };
    const concurrencyRaw = declaration.concurrencyVariable ? env[declaration.concurrencyVariable]?.trim() : undefined;
    if (declaration.concurrencyVariable && concurrencyRaw) {
      const name = declaration.concurrencyVariable;
      if (raw && budget.concurrency !== null) {
        throw new ConfigError(`${declaration.variable} and ${name} both set a concurrency: set it in one of them`);
      }
      budget.concurrency = concurrencyRaw === 'off' ? null : WHOLE.test(concurrencyRaw) ? positive(name, concurrencyRaw, concurrencyRaw) : NaN;
      if (Number.isNaN(budget.concurrency)) throw new ConfigError(`${name} must be a whole number of requests, such as 4, or off (got "${concurrencyRaw}")`);
    }
    budgets[declaration.kind] = budget;
  }
  return budgets;
}

/** A budget in the syntax it was written in: `20/s`, `4`, `10000/10min,4`, `learn` or `off`. */
export function formatBudget(budget: Budget): string {
  const parts: string[] = [];
  if (budget.rate !== null && budget.rate !== 'learn') parts.push(formatRate(budget.rate));
  if (budget.concurrency !== null) parts.push(String(budget.concurrency));
  // A concurrency alone already means its rate is learned.
  if (budget.rate === 'learn' && parts.length === 0) return 'learn';
  return parts.length === 0 ? 'off' : parts.join(',');
}

function formatRate({ count, perMs }: RateLimit): string {
  for (const unit of ['d', 'h', 'min', 's'] as const) {
    const size = UNITS[unit] as number;
    if (perMs % size === 0) return `${count}/${perMs === size ? '' : perMs / size}${unit}`;
  }
  return `${count}/${perMs}ms`;
}

/** One key of one request, as the governor spends it. Its `id` names no user, account or host in clear. */
export interface BudgetKey {
  provider: string;
  kind: string;
  scope: BudgetScope;
  /** `google-people:user:<digest>`: the store's row, the same in every worker for the same key. */
  id: string;
  budget: Budget;
}

/**
 * The key of `provider`'s budget `kind` for whatever `parts` identify (a tenant and user, an
 * account's URL and username, a host): a digest of them, so the store never holds them in clear.
 */
export function budgetKey(provider: string, budgets: Budgets, declaration: Pick<BudgetDeclaration, 'kind' | 'scope'>, parts: readonly string[]): BudgetKey {
  const digest = createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
  return {
    provider,
    kind: declaration.kind,
    scope: declaration.scope,
    id: `${provider}:${declaration.kind}:${digest}`,
    budget: budgets[declaration.kind] ?? LEARN,
  };
}
