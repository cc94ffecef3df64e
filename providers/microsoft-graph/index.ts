/**
 * The Microsoft Graph provider: the contacts of a Microsoft 365 or Outlook.com mailbox, every
 * contact folder read with the contact delta query (source.ts), delta links as sync tokens, OAuth
 * access tokens refreshed at the Microsoft identity platform (`kit/oauth.ts`), and at most 4
 * requests at once per mailbox (mailbox-limit.ts).
 */
import { OAuthCredentials, oauthAccessTokens, oauthConnect, toOAuthCredentials } from '../kit/oauth-source';
import type { ContactSource, ProviderDefinition, SourceContext } from '../types';
import { mailboxRequests } from './mailbox-limit';
import { MicrosoftGraphSource } from './request';
import { MICROSOFT_OAUTH, MICROSOFT_SCOPES, readMicrosoftGraphSettings, type MicrosoftGraphSettings } from './settings';
import { createMicrosoftGraphSource } from './source';

function openMicrosoftGraphSource(credentials: OAuthCredentials, settings: MicrosoftGraphSettings, context: SourceContext): ContactSource {
  return createMicrosoftGraphSource({
    baseUrl: settings.baseUrl,
    auth: oauthAccessTokens(credentials, { provider: MICROSOFT_OAUTH, client: settings.oauth }, microsoftGraph.id, context),
    requests: mailboxRequests(),
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
  readSettings: readMicrosoftGraphSettings,
  openSource: openMicrosoftGraphSource,
  connect: oauthConnect<MicrosoftGraphSettings>({ oauth: MICROSOFT_OAUTH, scopes: MICROSOFT_SCOPES }),
} as const satisfies ProviderDefinition<'microsoft-graph', typeof MicrosoftGraphSource, OAuthCredentials, MicrosoftGraphSettings>;
