/** What POST /v1/imports, PUT /v1/users/{userId}/sync and re-auth accept as a Google People `source`. */
import { oauthSourceRequest } from '../kit/oauth-source';
import { GOOGLE_OAUTH } from './settings';

export const GooglePeopleSource = oauthSourceRequest({
  provider: 'google-people',
  schemaName: 'GooglePeopleSource',
  oauth: GOOGLE_OAUTH,
  examples: { accessToken: 'ya29.a0Af...', refreshToken: '1//0gAbC...' },
});
