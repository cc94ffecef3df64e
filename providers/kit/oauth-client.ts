/**
 * Who the service is at an OAuth provider: the provider's name and variables' prefix, and the
 * service's client there. Shapes only, shared by the refresh (`./oauth.ts`), the connect flow
 * (`./oauth-connect.ts`) and the provider seam (`../types.ts`).
 */

/** Who the service's OAuth client is registered with: its name in messages, and its variables' prefix. */
export interface OAuthProvider {
  /** `Google`: "Google refused the refresh token". */
  name: string;
  /** `GOOGLE`: the client is `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET` and `GOOGLE_TOKEN_URL`. */
  envPrefix: string;
  /**
   * The `scope` a refresh asks for, for token endpoints that want it said (Microsoft's v2.0 endpoint
   * may refuse a refresh without it); absent, the refresh keeps the scopes the user granted.
   */
  refreshScope?: string;
}

/** The service's OAuth client at one provider; `undefined` id and secret: this service has none. */
export interface OAuthClient {
  clientId: string | undefined;
  clientSecret: string | undefined;
  /** The provider's token endpoint, or the demo provider's `/token`. */
  tokenUrl: string;
  /** Refresh a token this close to its expiry before using it (`ACCESS_TOKEN_REFRESH_MARGIN_MS` when absent). */
  refreshMarginMs?: number;
}
