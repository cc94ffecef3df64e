/**
 * The Microsoft Graph provider: the contacts of a Microsoft 365 or Outlook.com mailbox, every
 * contact folder read with the contact delta query (source.ts), delta links as sync tokens, OAuth
 * access tokens refreshed at the Microsoft identity platform (`kit/oauth.ts`), and every request
 * within the mailbox's and the app's budgets (budgets.ts), 4 at once per mailbox among them.
 */
import { OAuthCredentials, oauthAccessTokens, oauthConnect, toOAuthCredentials } from '../kit/oauth-source';
import type { ContactSource, ProviderDefinition, SourceContext } from '../types';
import { microsoftGraphKeys, MICROSOFT_GRAPH_BUDGETS } from './budgets';
import { MicrosoftGraphSource } from './request';
import { MICROSOFT_OAUTH, MICROSOFT_SCOPES, readMicrosoftGraphSettings, type MicrosoftGraphSettings } from './settings';
import { createMicrosoftGraphSource } from './source';

function openMicrosoftGraphSource(credentials: OAuthCredentials, settings: MicrosoftGraphSettings, context: SourceContext): ContactSource {
  const keys = microsoftGraphKeys(settings.budgets, context.owner, { baseUrl: settings.baseUrl, clientId: settings.oauth.clientId });
  return createMicrosoftGraphSource({
    baseUrl: settings.baseUrl,
    auth: oauthAccessTokens(credentials, { provider: MICROSOFT_OAUTH, client: settings.oauth }, microsoftGraph.id, context),
    governor: context.governor,
    keys,
    defaultRegion: context.defaultPhoneRegion,
    limits: context.outboundLimits,
    allowPrivateAddresses: context.allowPrivateAddresses,
  });
}

export const microsoftGraph = {
  id: 'microsoft-graph',
  label: 'Microsoft',
  request: MicrosoftGraphSource,
  capabilities: { schedule: true, reauth: true, incremental: true, fullReadSweeps: 'always' },
  form: { option: 'Demo provider (Microsoft Graph protocol)', fields: [{ name: 'accessToken', label: 'Access token', value: 'demo-token' }] },
  credentials: OAuthCredentials,
  toCredentials: toOAuthCredentials,
  budgets: MICROSOFT_GRAPH_BUDGETS,
  readSettings: readMicrosoftGraphSettings,
  openSource: openMicrosoftGraphSource,
  connect: oauthConnect<MicrosoftGraphSettings>({ oauth: MICROSOFT_OAUTH, scopes: MICROSOFT_SCOPES }),
} as const satisfies ProviderDefinition<'microsoft-graph', typeof MicrosoftGraphSource, OAuthCredentials, MicrosoftGraphSettings>;
