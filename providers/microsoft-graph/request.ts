/** What POST /v1/imports, PUT /v1/users/{userId}/sync and re-auth accept as a Microsoft Graph `source`. */
import { oauthSourceRequest } from '../kit/oauth-source';
import { MICROSOFT_OAUTH } from './settings';

export const MicrosoftGraphSource = oauthSourceRequest({
  provider: 'microsoft-graph',
  schemaName: 'MicrosoftGraphSource',
  oauth: MICROSOFT_OAUTH,
  examples: { accessToken: 'eyJ0eXAiOiJKV1Qi...', refreshToken: 'M.C507_BAY.0.U.-Cl...' },
});
