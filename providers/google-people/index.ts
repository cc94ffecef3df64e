/**
 * The Google People provider: a user's Google contacts through `people.connections.list`
 * (client.ts), a page per request, with sync tokens for incremental imports (sync.ts) and OAuth
 * access tokens refreshed with a kept refresh token (`kit/oauth.ts`). The cursor is the API's
 * `pageToken`.
 */
import { OAuthCredentials, oauthAccessTokens, oauthConnect, toOAuthCredentials } from '../kit/oauth-source';
import type { ContactSource, ProviderDefinition, SourceContext } from '../types';
import { googlePeopleKeys, googlePeopleRefusal, GOOGLE_PEOPLE_BUDGETS } from './budgets';
import { fetchConnectionsPage, PERSON_FIELDS } from './client';
import { createPageDecoder, type PageDecoder } from './page-decoder';
import { GooglePeopleSource } from './request';
import { GOOGLE_OAUTH, readGooglePeopleSettings, type GooglePeopleSettings } from './settings';
import { googleSyncParams } from './sync';

/**
 * The decode threads of each worker's settings, made with its first source: a process that opens
 * no Google source (the API, a worker importing files) starts none.
 */
const decoders = new WeakMap<GooglePeopleSettings, PageDecoder>();

function decoderFor(settings: GooglePeopleSettings): PageDecoder {
  let decoder = decoders.get(settings);
  if (decoder === undefined) {
    decoder = createPageDecoder(settings.decodeThreads);
    decoders.set(settings, decoder);
  }
  return decoder;
}

function openGooglePeopleSource(credentials: OAuthCredentials, settings: GooglePeopleSettings, context: SourceContext): ContactSource {
  const auth = oauthAccessTokens(credentials, { provider: GOOGLE_OAUTH, client: settings.oauth }, googlePeople.id, context);
  const keys = googlePeopleKeys(settings.budgets, context.owner, { baseUrl: settings.baseUrl, clientId: settings.oauth.clientId });
  return {
    syncParams: googleSyncParams(PERSON_FIELDS),
    budgetKeys: keys.map((key) => key.id),
    async fetchPage({ cursor, pageSize, signal, sync }) {
      const page = await auth.withAccessToken(
        (accessToken) =>
          fetchConnectionsPage({
            baseUrl: settings.baseUrl,
            accessToken,
            pageSize,
            pageToken: cursor,
            signal,
            defaultRegion: context.defaultPhoneRegion,
            sync,
            limits: context.outboundLimits,
            allowPrivateAddresses: context.allowPrivateAddresses,
            decoder: decoderFor(settings),
            govern: (send) => context.governor.run({ keys, send, refusal: googlePeopleRefusal, signal }),
          }),
        signal,
      );
      return {
        contacts: page.contacts,
        rejected: page.rejected,
        nextCursor: page.nextPageToken,
        total: page.totalPeople,
        ...(page.deleted ? { deleted: page.deleted } : {}),
        ...(page.nextSyncToken ? { syncToken: page.nextSyncToken } : {}),
      };
    },
  };
}

export const googlePeople = {
  id: 'google-people',
  label: 'Google',
  request: GooglePeopleSource,
  capabilities: { schedule: true, reauth: true, incremental: true, fullReadSweeps: 'always' },
  form: { option: 'Demo provider (Google People protocol)', fields: [{ name: 'accessToken', label: 'Access token', value: 'demo-token' }] },
  credentials: OAuthCredentials,
  toCredentials: toOAuthCredentials,
  budgets: GOOGLE_PEOPLE_BUDGETS,
  readSettings: readGooglePeopleSettings,
  openSource: openGooglePeopleSource,
  describeSettings: (settings) => `${settings.decodeThreads} decode thread(s)`,
  async close(settings) {
    await decoders.get(settings)?.close();
    decoders.delete(settings);
  },
  connect: oauthConnect<GooglePeopleSettings>({
    oauth: GOOGLE_OAUTH,
    scopes: ['https://www.googleapis.com/auth/contacts.readonly'],
    // A refresh token comes only with offline access, and Google issues one again only on consent.
    authorizeParams: { access_type: 'offline', prompt: 'consent' },
  }),
} as const satisfies ProviderDefinition<'google-people', typeof GooglePeopleSource, OAuthCredentials, GooglePeopleSettings>;
