/**
 * How a connect session ends: a connection is kept (and, as asked, an import started, and imports
 * waiting for the user to reconnect resumed), and the browser goes back to the web app's
 * `redirectUrl` with `status` and `connection`, `import` or `code` in its query.
 */
import type { ConnectSession } from '../../db/connect-sessions';
import type { NewSecret } from '../../db/connections';
import type { Store } from '../../db/types';
import type { Logger } from '../../observability/logger';
import { isConnectProviderId } from '../../providers';
import type { Imports } from '../imports';
import { resolveNotify } from '../hooks/webhooks';

/** Every way a session can end, as the web app reads it from `code` (`status=error`). */
export const CONNECT_ERRORS = {
  invalid_link: 'This connect link is not one this service issued.',
  invalid_state: 'The answer from the provider does not belong to this connect session (its state does not match).',
  session_expired: 'This connect session has expired. Start again from the app.',
  session_used: 'This connect session was used already. Start again from the app.',
  provider_not_configured: 'This service is not set up to connect accounts of this provider.',
  provider_error: 'The provider could not complete the sign-in.',
  exchange_failed: 'The provider refused to complete the connection. Start again from the app.',
  provider_unavailable: 'The provider did not answer. Try again in a moment.',
  no_refresh_token: 'The provider granted no lasting access (no refresh token). Start again, and allow offline access.',
  too_many_attempts: 'Too many attempts with this connect session. Start again from the app.',
  internal: 'Something went wrong on our side; it has been logged. Start again from the app.',
} as const;
export type ConnectErrorCode = keyof typeof CONNECT_ERRORS;

export type Ending =
  | { status: 'connected'; connectionId: string; importId?: string; importError?: string }
  | { status: 'denied' }
  | { status: 'error'; code: ConnectErrorCode };

/** The web app's `redirectUrl` with the ending in its query. */
export function redirectWith(redirectUrl: string, ending: Ending): string {
  const url = new URL(redirectUrl);
  url.searchParams.set('status', ending.status);
  if (ending.status === 'connected') {
    url.searchParams.set('connection', ending.connectionId);
    if (ending.importId) url.searchParams.set('import', ending.importId);
    if (ending.importError) url.searchParams.set('importError', ending.importError);
  }
  if (ending.status === 'error') url.searchParams.set('code', ending.code);
  return url.href;
}

export interface KeepDeps {
  store: Store;
  imports: Imports;
  log?: Logger;
}

/**
 * Keeps `secret` as the session user's connection, then resumes their import of the provider if it
 * waits for new credentials, and starts one when the session asked for it. What fails after the
 * connection is kept is logged and said in the ending, never undone: the connection stands.
 */
export async function keepConnection(deps: KeepDeps, session: ConnectSession, secret: NewSecret): Promise<Ending> {
  const { tenant, userId, provider } = session;
  const { connection, previous } = await deps.store.connections.keep({ tenant, userId, provider }, secret);
  await deps.store.connectSessions.finish(session.sessionId, 'connected', connection.connectionId);
  const ending: Ending = { status: 'connected', connectionId: connection.connectionId };
  const log = deps.log?.child({ tenant, provider, connectionId: connection.connectionId });
  log?.info({ previous }, 'connection kept');
  if (!isConnectProviderId(provider)) return ending;
  const source = { provider, connection: connection.connectionId };
  try {
    const resumed = await deps.imports.renewWaiting(tenant, userId, source);
    if (resumed) log?.info('an import waiting for the user to reconnect resumed');
  } catch (err) {
    log?.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not resume the import waiting for this connection');
  }
  if (!session.startImport) return ending;
  try {
    const notify = await resolveNotify(deps.store, tenant, undefined);
    const { view } = await deps.imports.start(tenant, { userId, source, ...(notify ? { notify } : {}) });
    return { ...ending, importId: view.importId };
  } catch (err) {
    log?.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not start the import the connect session asked for');
    return { ...ending, importError: 'import_not_started' };
  }
}
