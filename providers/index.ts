/**
 * The registry: every provider, one line each. Whatever names providers derives from this list:
 * the API's `source` unions and provider enums (and so the OpenAPI document), the schedulable
 * providers, the sync rules, the progress page, the configuration and the worker's sources. A name
 * not in it is refused at the API's edge, in import ids and when a source is opened.
 */
import { z } from '@hono/zod-openapi';
import { CONNECTION_ID_PATTERN } from '../db/connections';
import type { ImportOwner } from '../workflows/contract';
import { carddav } from './carddav';
import { file } from './file';
import { googlePeople } from './google-people';
import { OUTBOUND_DEFAULTS } from '../config/defaults';
import { invalidInput, jsonOrUndefined } from './kit/failures';
import { formatBudget, type Budgets } from './kit/budgets';
import { ungoverned, type RequestGovernor } from './kit/governor';
import { revokeToken, type Revocation } from './kit/oauth-connect';
import type { OutboundLimits } from './kit/http';
import { microsoftGraph } from './microsoft-graph';
import { DEFAULT_PHONE_REGION, type PhoneRegion } from './kit/normalize';
import type {
  ContactSource,
  CredentialVault,
  OAuthEndpoints,
  ProviderCapabilities,
  ProviderConnect,
  ProviderDefinition,
  SourceContext,
  TokenVault,
} from './types';

export type { ContactSource, CredentialVault, PageRequest, SourcePage, SyncRequest, TokenVault } from './types';
export type { Revocation } from './kit/oauth-connect';

/** The providers, in the order the API documents them. */
export const PROVIDERS = [
  googlePeople,
  microsoftGraph,
  carddav,
  file,
] as const;

type Provider = (typeof PROVIDERS)[number];
/** A provider's definition as the registry drives it, whatever its own types. */
type AnyProvider = ProviderDefinition<string, Provider['request'], unknown, unknown>;
type Capability = { [C in keyof ProviderCapabilities]: ProviderCapabilities[C] extends boolean ? C : never }[keyof ProviderCapabilities];
type With<C extends Capability> = Extract<Provider, { capabilities: Record<C, true> }>;

export type ProviderId = Provider['id'];

function having<C extends Capability>(capability: C): With<C>[] {
  return PROVIDERS.filter((provider): provider is With<C> => provider.capabilities[capability]);
}

function idsOf<P extends Provider>(providers: readonly P[]): [P['id'], ...P['id'][]] {
  return providers.map((provider) => provider.id) as [P['id'], ...P['id'][]];
}

export const PROVIDER_IDS = idsOf(PROVIDERS);
/** The providers `PUT /v1/users/{userId}/sync` takes. */
export const SCHEDULE_PROVIDER_IDS = idsOf(having('schedule'));
export type ScheduleProviderId = (typeof SCHEDULE_PROVIDER_IDS)[number];

export function isScheduleProviderId(name: unknown): name is ScheduleProviderId {
  return (SCHEDULE_PROVIDER_IDS as readonly unknown[]).includes(name);
}

type Connectable = Extract<Provider, { connect: object }>;
const CONNECTABLE = PROVIDERS.filter((provider): provider is Connectable => 'connect' in provider);
/** The providers a user can connect an account of (connect sessions), in the registry's order. */
export const CONNECT_PROVIDER_IDS = idsOf(CONNECTABLE);
export type ConnectProviderId = Connectable['id'];

/** The `source` the API takes for each of `providers`, told apart by `provider`. */
function requestUnion<P extends Provider>(providers: readonly P[]) {
  return z.discriminatedUnion('provider', providers.map((provider) => provider.request) as [P['request'], ...P['request'][]]);
}

/**
 * A `source` that names a connection instead of credentials: what a connect session stored for the
 * user is read (`provider`, when given, must be the connection's).
 */
export const ConnectionSource = z
  .object({
    connection: z
      .string()
      .regex(CONNECTION_ID_PATTERN, { message: 'source.connection must be a connection id this API returned (con_…)' })
      .openapi({ example: 'con_3pXy0s1dQ2m9WfHk0VbLcA' }),
    provider: z.enum(CONNECT_PROVIDER_IDS).optional(),
  })
  .strict()
  .openapi('ConnectionSource', { description: "The user's connection (`GET /v1/users/{userId}/connections`): its kept credentials are used" });
export type ConnectionSource = z.output<typeof ConnectionSource>;

/** A provider's own request, or a connection; `what` names the providers in the message for neither. */
function sourceUnion<P extends Provider>(providers: readonly P[]) {
  const names = providers.map((provider) => provider.id).join(', ');
  return z.union([requestUnion(providers), ConnectionSource], {
    error: () => `source must name a provider (${names}) with its credentials, or a connection ({"connection": "con_…"})`,
  });
}

/** What the API accepts as `source`: to start an import, to schedule syncs, to renew an import's credentials. */
export const SOURCE_REQUESTS = {
  start: sourceUnion(PROVIDERS),
  schedule: sourceUnion(having('schedule')),
  reauth: requestUnion(having('reauth')),
};
/** A provider's own request, as the API takes it. */
export type SourceRequest = z.output<ReturnType<typeof requestUnion<Provider>>>;
/** A connection the API has looked up: its provider is known. */
export type ConnectionRef = { provider: ConnectProviderId; connection: string };
/** What an import or a schedule reads once the API has looked up a connection source. */
export type ResolvedSource = SourceRequest | ConnectionRef;

export function isConnectProviderId(name: unknown): name is ConnectProviderId {
  return CONNECTABLE.some((provider) => provider.id === name);
}

/** How `provider` connects, or `undefined` when its accounts cannot be connected. */
export function connectOf(provider: string): ProviderConnect | undefined {
  const found: AnyProvider | undefined = PROVIDERS.find((candidate) => candidate.id === provider);
  return found?.connect;
}

/** The OAuth endpoints of a provider connected with OAuth, from its settings; `undefined` for the others. */
export function oauthEndpointsOf(provider: string, settings: ProviderSettings): OAuthEndpoints | undefined {
  const connect = connectOf(provider);
  return connect?.kind === 'oauth' ? connect.endpoints(settings[provider as ProviderId]) : undefined;
}

/**
 * Revokes a connection's opened secret at its provider, where the provider offers revocation (an
 * OAuth refresh token at its revocation endpoint); a secret nothing can revoke (a CardDAV password)
 * is `not_offered`. Never throws for what the provider did.
 */
export function revokeSecret(provider: string, secret: string, settings: ProviderSettings): Promise<Revocation> {
  const endpoints = oauthEndpointsOf(provider, settings);
  return endpoints ? revokeToken(endpoints, secret) : Promise.resolve({ outcome: 'not_offered' });
}

export function isProviderId(name: unknown): name is ProviderId {
  return PROVIDERS.some((provider) => provider.id === name);
}

/** The definition of provider `name`; a non-retryable `InvalidImportInput` for a name not in the registry. */
export function providerById(name: string): Provider {
  const provider = PROVIDERS.find((candidate) => candidate.id === name);
  if (provider === undefined) throw invalidInput(`There is no provider "${name}"; providers are ${PROVIDER_IDS.join(', ')}`);
  return provider;
}

/**
 * API side: the credentials to seal for `request`, as JSON the worker's {@link openSource} parses.
 * What must outlive workflow history (a refresh token) goes to `vault` first. A connection's are a
 * note that its secret is kept: the worker reads it from the store.
 */
export async function encodeCredentials(request: ResolvedSource, vault: CredentialVault): Promise<string> {
  const provider: AnyProvider = providerById(request.provider);
  if ('connection' in request) {
    if (!provider.connect) throw invalidInput(`${request.provider} accounts are not connected: give its credentials instead`);
    return JSON.stringify(provider.connect.storedCredentials);
  }
  return JSON.stringify(await provider.toCredentials(request, vault));
}

/** Every provider's settings, by provider. */
export type ProviderSettings = { [P in Provider as P['id']]: ReturnType<P['readSettings']> };

/**
 * Reads every provider's environment variables, once, at worker start (`loadConfig` reads the rest of
 * the configuration); throws `ConfigError` for a bad value.
 */
export function readProviderSettings(env: NodeJS.ProcessEnv): ProviderSettings {
  return Object.fromEntries(PROVIDERS.map((provider) => [provider.id, provider.readSettings(env)])) as ProviderSettings;
}

/** Each provider's budgets as read, for the worker's start line: `google-people user 90/min, app learn; carddav …`. */
export function describeBudgets(settings: ProviderSettings): string {
  return PROVIDERS.filter((provider: AnyProvider) => provider.budgets?.length)
    .map((provider) => {
      const { budgets } = settings[provider.id as ProviderId] as { budgets: Budgets };
      return `${provider.id} ${Object.entries(budgets).map(([kind, budget]) => `${kind} ${formatBudget(budget)}`).join(', ')}`;
    })
    .join('; ');
}

/** What a worker gives the sources it opens: each provider's settings, and what every source shares. */
export interface SourceSettings {
  providers: ProviderSettings;
  /** `DEFAULT_PHONE_REGION`; `US` when absent. */
  defaultPhoneRegion?: PhoneRegion;
  /** `SOURCES_ALLOW_PRIVATE_ADDRESSES`; off when absent. */
  allowPrivateAddresses?: boolean;
  /** `PROVIDER_*` limits of every request (`loadConfig`'s `outboundLimits`); the defaults when absent. */
  outboundLimits?: OutboundLimits;
  uploads?: SourceContext['uploads'];
  tokens?: TokenVault;
  /** The worker's rate governor; none (`ungoverned`) when absent. */
  governor?: RequestGovernor;
}

/** Opens the source of one import: {@link openSource}, or a test's own. */
export type SourceOpener = (name: string, credentials: string, sources: SourceSettings, owner: ImportOwner) => ContactSource | Promise<ContactSource>;

/**
 * Worker side: the source of provider `name` for `owner`, reading with the opened credentials the
 * API sealed (or, for an import by connection, with what the store keeps). Throws at once a
 * non-retryable `InvalidImportInput`, which never quotes them, for a provider not in the registry or
 * credentials its schema refuses.
 */
export function openSource(name: string, credentials: string, sources: SourceSettings, owner: ImportOwner): Promise<ContactSource> {
  const provider: AnyProvider = providerById(name);
  const parsed = provider.credentials.safeParse(jsonOrUndefined(credentials));
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') || '(root)';
    throw invalidInput(`The ${name} import's credentials are not what its provider reads (problem at ${field}); start a new import.`);
  }
  const context: SourceContext = {
    owner,
    defaultPhoneRegion: sources.defaultPhoneRegion ?? DEFAULT_PHONE_REGION,
    allowPrivateAddresses: sources.allowPrivateAddresses ?? false,
    outboundLimits: sources.outboundLimits ?? OUTBOUND_DEFAULTS,
    uploads: sources.uploads,
    tokens: sources.tokens,
    governor: sources.governor ?? ungoverned,
  };
  return Promise.resolve(provider.openSource(parsed.data, sources.providers[provider.id as ProviderId], context));
}

/** The upload an import of `source` reads (the provider's `uploadOf`), or `undefined` when it reads none. */
export function uploadOf(source: ResolvedSource): string | undefined {
  // An import by connection reads the connected account, never an upload.
  if ('connection' in source) return undefined;
  const provider: AnyProvider = providerById(source.provider);
  return provider.uploadOf?.(source);
}

/** What each provider says of its settings for the worker's start line: `google-people: 2 decode thread(s)`. */
export function describeProviderSettings(settings: ProviderSettings): string[] {
  return PROVIDERS.flatMap((provider: AnyProvider) => {
    const said = provider.describeSettings?.(settings[provider.id as ProviderId]);
    return said === undefined ? [] : [`${provider.id}: ${said}`];
  });
}

/** Releases what providers keep across sources (decode threads), at worker shutdown. */
export async function closeProviders(settings: ProviderSettings): Promise<void> {
  await Promise.all(PROVIDERS.map((provider: AnyProvider) => provider.close?.(settings[provider.id as ProviderId])));
}
