/** The Microsoft Graph provider's configuration, read once at worker start (`readProviderSettings`, providers/index.ts). */
import { parseHttpUrl } from '../../config/parse';
import { readBudgets, type Budgets } from '../kit/budgets';
import { readOAuthClient, type OAuthClient, type OAuthProvider } from '../kit/oauth';
import { MICROSOFT_GRAPH_BUDGETS } from './budgets';
import { GRAPH_VERSION } from './client';
import { readOAuthEndpointUrls, type OAuthEndpointDefaults } from '../kit/oauth-connect';

/** `MICROSOFT_GRAPH_BASE_URL` when unset: Microsoft Graph itself. */
export const DEFAULT_MICROSOFT_GRAPH_BASE_URL = 'https://graph.microsoft.com';
/**
 * `MICROSOFT_TOKEN_URL` when unset: the Microsoft identity platform's v2.0 token endpoint for work,
 * school and personal accounts alike; `npm start` points it at the demo provider.
 */
export const DEFAULT_MICROSOFT_TOKEN_URL = 'https://login.microsoftonline.com/common/oauth2/v2.0/token';

/**
 * `MICROSOFT_AUTH_URL` when unset: the v2.0 authorization endpoint for work, school and personal
 * accounts; `npm start` points it at the demo provider. Microsoft offers no endpoint that revokes a
 * refresh token, so there is no `MICROSOFT_REVOKE_URL`: disconnecting deletes the kept token only.
 */
export const DEFAULT_MICROSOFT_CONNECT_URLS: OAuthEndpointDefaults = {
  authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
  revocationUrl: null,
};

/** What an import needs: reading contacts, and a refresh token to keep (`offline_access`). */
export const MICROSOFT_SCOPES = ['https://graph.microsoft.com/Contacts.Read', 'offline_access'] as const;

/**
 * Microsoft's OAuth client, in messages and variable names. A refresh asks again for
 * {@link MICROSOFT_SCOPES} (the v2.0 endpoint may refuse a refresh that names no scope).
 */
export const MICROSOFT_OAUTH: OAuthProvider = {
  name: 'Microsoft',
  envPrefix: 'MICROSOFT',
  refreshScope: MICROSOFT_SCOPES.join(' '),
};

export interface MicrosoftGraphSettings {
  /** Base URL of Microsoft Graph, or of a server that speaks its protocol (`MICROSOFT_GRAPH_BASE_URL`), in {@link graphBaseUrl}'s form. */
  baseUrl: string;
  /** The client workers refresh access tokens with (`MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET`, `MICROSOFT_TOKEN_URL`). */
  oauth: OAuthClient;
  /**
   * Per mailbox and per app (`MICROSOFT_GRAPH_MAILBOX_RATE`, `MICROSOFT_GRAPH_MAILBOX_CONCURRENCY`,
   * `MICROSOFT_GRAPH_APP_RATE`; budgets.ts). Graph's published rates are the defaults against Graph
   * itself only: against another server an unset rate learns, and the mailbox's 4 concurrent
   * requests still hold.
   */
  budgets: Budgets;
  /** Where connect sessions send users to consent (`MICROSOFT_AUTH_URL`); no revocation endpoint. */
  connectUrls: OAuthEndpointDefaults;
}

/**
 * The one form of Graph's base URL the client builds requests and compares links with: no trailing
 * slash and no version path, which every request and every link Graph hands back names below it
 * (`https://graph.microsoft.com/v1.0/` → `https://graph.microsoft.com`).
 */
export function graphBaseUrl(url: string): string {
  const bare = url.replace(/\/+$/, '');
  const unversioned = bare.toLowerCase().endsWith(GRAPH_VERSION) ? bare.slice(0, -GRAPH_VERSION.length) : bare;
  return unversioned.replace(/\/+$/, '');
}

export function readMicrosoftGraphSettings(env: NodeJS.ProcessEnv): MicrosoftGraphSettings {
  const baseUrl = graphBaseUrl(parseHttpUrl('MICROSOFT_GRAPH_BASE_URL', env.MICROSOFT_GRAPH_BASE_URL, DEFAULT_MICROSOFT_GRAPH_BASE_URL));
  return {
    baseUrl,
    oauth: readOAuthClient(env, MICROSOFT_OAUTH, DEFAULT_MICROSOFT_TOKEN_URL),
    budgets: readBudgets(env, MICROSOFT_GRAPH_BUDGETS, baseUrl === DEFAULT_MICROSOFT_GRAPH_BASE_URL),
    connectUrls: readOAuthEndpointUrls(env, MICROSOFT_OAUTH, DEFAULT_MICROSOFT_CONNECT_URLS),
  };
}
