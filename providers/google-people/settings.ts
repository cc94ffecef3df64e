/** The Google People provider's configuration, read once at worker start (`readProviderSettings`, providers/index.ts). */
import { parseHttpUrl, parseInteger } from '../../config/parse';
import { readBudgets, type Budgets } from '../kit/budgets';
import { readOAuthClient, type OAuthClient, type OAuthProvider } from '../kit/oauth';
import { readOAuthEndpointUrls, type OAuthEndpointDefaults } from '../kit/oauth-connect';
import { GOOGLE_PEOPLE_BUDGETS } from './budgets';

/** `GOOGLE_PEOPLE_BASE_URL` when unset: Google's own API. */
export const DEFAULT_GOOGLE_PEOPLE_BASE_URL = 'https://people.googleapis.com';
/** `GOOGLE_TOKEN_URL` when unset; `npm start` points it at the demo provider's `/token`. */
export const DEFAULT_GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/**
 * Where users consent and where their tokens are revoked (`GOOGLE_AUTH_URL`, `GOOGLE_REVOKE_URL`
 * when unset); `npm start` points both at the demo provider.
 */
export const DEFAULT_GOOGLE_CONNECT_URLS: OAuthEndpointDefaults = {
  authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  revocationUrl: 'https://oauth2.googleapis.com/revoke',
};

/**
 * `WORKER_DECODE_THREADS` when unset: none, pages are fetched and decoded on the worker's own
 * thread. Threads pay on larger machines only; bench/README.md has the measurements.
 */
export const DEFAULT_DECODE_THREADS = 0;

/** Google's OAuth client, in messages and variable names. */
export const GOOGLE_OAUTH: OAuthProvider = { name: 'Google', envPrefix: 'GOOGLE' };

export interface GooglePeopleSettings {
  /** Base URL of the People API, or of a server that speaks its protocol (`GOOGLE_PEOPLE_BASE_URL`). */
  baseUrl: string;
  /** The client workers refresh access tokens with (`GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_TOKEN_URL`). */
  oauth: OAuthClient;
  /** Where connect sessions send users to consent, and where disconnecting revokes (`GOOGLE_AUTH_URL`, `GOOGLE_REVOKE_URL`). */
  connectUrls: OAuthEndpointDefaults;
  /** Threads that fetch and decode pages beside the worker's own (`WORKER_DECODE_THREADS`; 0: on it; page-decoder.ts). */
  decodeThreads: number;
  /**
   * Per user and per project (`GOOGLE_PEOPLE_USER_RATE`, `GOOGLE_PEOPLE_APP_RATE`; budgets.ts).
   * Google's published limits are the defaults against Google's own API only: against another
   * server (the demo provider, a proxy) an unset budget learns.
   */
  budgets: Budgets;
}

export function readGooglePeopleSettings(env: NodeJS.ProcessEnv): GooglePeopleSettings {
  const baseUrl = parseHttpUrl('GOOGLE_PEOPLE_BASE_URL', env.GOOGLE_PEOPLE_BASE_URL, DEFAULT_GOOGLE_PEOPLE_BASE_URL);
  return {
    baseUrl,
    oauth: readOAuthClient(env, GOOGLE_OAUTH, DEFAULT_GOOGLE_TOKEN_URL),
    connectUrls: readOAuthEndpointUrls(env, GOOGLE_OAUTH, DEFAULT_GOOGLE_CONNECT_URLS),
    decodeThreads: parseInteger('WORKER_DECODE_THREADS', env.WORKER_DECODE_THREADS, DEFAULT_DECODE_THREADS, { min: 0, max: 64 }),
    budgets: readBudgets(env, GOOGLE_PEOPLE_BUDGETS, baseUrl === DEFAULT_GOOGLE_PEOPLE_BASE_URL),
  };
}
