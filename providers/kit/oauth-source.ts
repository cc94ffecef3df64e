/**
 * What the providers reached with an OAuth access token share (Google People, Microsoft Graph):
 *
 * - the `source` their requests take: an `accessToken`, a `refreshToken`, or both;
 * - the credentials the API seals for it: the access token, and a note that the refresh token is
 *   kept in the store (through the API's vault), never in workflow history;
 * - the access tokens a worker's source uses: the one the import began with, or ones refreshed with
 *   the kept refresh token (`./oauth.ts`);
 * - how a user connects an account of theirs (`connect`): the same kept refresh token, from a
 *   connect session's code exchange.
 */
import { z } from '@hono/zod-openapi';
import type { CredentialVault, OAuthConnect, SourceContext } from '../types';
import { clientVariables, fixedAccessToken, refreshingAccessToken, type AccessTokens, type OAuthClient, type OAuthProvider } from './oauth';
import type { OAuthEndpointDefaults } from './oauth-connect';

/** An OAuth token: it goes into an HTTP header or a form body, so printable ASCII only (RFC 6750's token characters and then some). */
function token(field: string) {
  return z
    .string()
    .min(1, { message: `source.${field} must not be empty` })
    .max(4096)
    .regex(/^[\x21-\x7E]+$/, { message: `source.${field} must be printable ASCII without spaces` })
    .optional();
}

export interface OAuthSourceOptions<Id extends string> {
  /** The provider's id, the request's `provider` literal. */
  provider: Id;
  /** The schema's name in the OpenAPI document: `GooglePeopleSource`. */
  schemaName: string;
  /** Whose OAuth client refreshes the token, for the field's description. */
  oauth: OAuthProvider;
  /** What a token of this provider looks like, for the document's examples. */
  examples: { accessToken: string; refreshToken: string };
}

/** What POST /v1/imports, PUT /v1/users/{userId}/sync and re-auth accept as the `source` of an OAuth provider. */
export function oauthSourceRequest<Id extends string>({ provider, schemaName, oauth, examples }: OAuthSourceOptions<Id>) {
  // `.openapi()` exists only on schemas made with zod-openapi's `z`.
  return (
    z
      .object({
        provider: z.literal(provider),
        accessToken: token('accessToken').openapi({ example: examples.accessToken }),
        refreshToken: token('refreshToken').openapi({
          description: `Lets the import refresh its access token (with ${clientVariables(oauth)}). Kept sealed in the store, never in workflow history`,
          example: examples.refreshToken,
        }),
      })
      .strict()
      .refine((source) => source.accessToken !== undefined || source.refreshToken !== undefined, {
        message: 'source needs an accessToken, a refreshToken, or both',
      })
      // The refinement in the document's terms: `provider` and at least one token (no other field is allowed).
      .openapi(schemaName, { minProperties: 2 })
  );
}

/** The sealed credentials of an OAuth source: the access token given, if any, and whether a refresh token is kept. */
export const OAuthCredentials = z
  .object({
    accessToken: z.string().min(1).nullable(),
    /** `stored`: the refresh token is in the store, under the import's tenant, user and provider. */
    refreshToken: z.literal('stored').nullable(),
  })
  .refine((credentials) => credentials.accessToken !== null || credentials.refreshToken !== null, {
    message: 'OAuth credentials need an access token, a stored refresh token, or both',
  });
export type OAuthCredentials = z.infer<typeof OAuthCredentials>;

/** The credentials to seal for `request`; a refresh token goes to `vault` first, and only a note of it into them. */
export async function toOAuthCredentials(request: { provider: string; accessToken?: string; refreshToken?: string }, vault: CredentialVault): Promise<OAuthCredentials> {
  if (request.refreshToken !== undefined) await vault.keepRefreshToken(request.refreshToken);
  return { accessToken: request.accessToken ?? null, refreshToken: request.refreshToken === undefined ? null : 'stored' };
}

/**
 * The source's access tokens: the import's own as it came, or refreshed with the refresh token kept
 * for the context's owner under `providerId`, with the service's client at `oauth`.
 */
export function oauthAccessTokens(
  credentials: OAuthCredentials,
  oauth: { provider: OAuthProvider; client: OAuthClient },
  providerId: string,
  context: SourceContext,
): AccessTokens {
  if (credentials.refreshToken === null) return fixedAccessToken(credentials.accessToken ?? '');
  return refreshingAccessToken({
    ...oauth,
    key: { ...context.owner, provider: providerId },
    tokens: context.tokens,
    accessToken: credentials.accessToken,
    outbound: { limits: context.outboundLimits, allowPrivateAddresses: context.allowPrivateAddresses },
  });
}

/** What an OAuth provider's settings hold for connecting: its client, and its consent and revocation endpoints. */
export interface OAuthConnectSettings {
  oauth: OAuthClient;
  connectUrls: OAuthEndpointDefaults;
}

/**
 * The `connect` part of an OAuth provider's definition: users consent at the provider, and an
 * import by connection reads the refresh token the session kept.
 */
export function oauthConnect<Settings extends OAuthConnectSettings>(options: {
  oauth: OAuthProvider;
  scopes: readonly string[];
  /** Extra parameters of the authorization request. */
  authorizeParams?: Readonly<Record<string, string>>;
}): OAuthConnect<Settings, OAuthCredentials> {
  const { oauth, scopes, authorizeParams } = options;
  return {
    kind: 'oauth',
    name: oauth.name,
    scopes,
    ...(authorizeParams ? { authorizeParams } : {}),
    endpoints: (settings) => ({ provider: oauth, client: settings.oauth, ...settings.connectUrls }),
    storedCredentials: { accessToken: null, refreshToken: 'stored' },
  };
}
