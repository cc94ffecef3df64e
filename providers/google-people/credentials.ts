/**
 * Google OAuth: the client the workers refresh access tokens with (`GOOGLE_CLIENT_ID`,
 * `GOOGLE_CLIENT_SECRET`, `GOOGLE_TOKEN_URL`), and what a Google source's sealed credentials hold.
 *
 * The credentials the API seals into an import are either the access token itself (imports from
 * before refresh tokens, and sources without one) or {@link GoogleCredentials}: JSON that says a
 * refresh token is kept, sealed, in the store (`db/credentials.ts`), never in workflow history.
 */
import { z } from 'zod';

/** The OAuth client a worker refreshes with; `undefined` fields mean "not configured". */
export interface GoogleOAuthClient {
  clientId: string | undefined;
  clientSecret: string | undefined;
  /** Google's `https://oauth2.googleapis.com/token`, or the demo provider's `/token`. */
  tokenUrl: string;
}

/** A Google source with a refresh token: the access token (if one came) and where the rest is. */
export const GoogleCredentials = z.object({
  kind: z.literal('google-oauth'),
  accessToken: z.string().min(1).nullable(),
  /** The refresh token is in the store, under the import's tenant, user and provider. */
  refreshToken: z.literal('stored'),
});
export type GoogleCredentials = z.infer<typeof GoogleCredentials>;

/** What the API seals for a Google source: the bare token when there is no refresh token (as before). */
export function encodeGoogleCredentials(accessToken: string | undefined, hasRefreshToken: boolean): string {
  if (!hasRefreshToken) return accessToken ?? '';
  return JSON.stringify({ kind: 'google-oauth', accessToken: accessToken ?? null, refreshToken: 'stored' } satisfies GoogleCredentials);
}

/** The opened credentials read back: a refresh-capable set, or a bare access token. */
export function decodeGoogleCredentials(credentials: string): GoogleCredentials | { kind: 'access-token'; accessToken: string } {
  if (credentials.startsWith('{')) {
    try {
      const parsed = GoogleCredentials.safeParse(JSON.parse(credentials));
      if (parsed.success) return parsed.data;
    } catch {
      // Not JSON: a bare token that happens to start with a brace.
    }
  }
  return { kind: 'access-token', accessToken: credentials };
}
