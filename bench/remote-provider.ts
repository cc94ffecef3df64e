/**
 * The bench's handle on the demo provider process (`provider-process.ts`): the same `configure`
 * and `stats` as the in-process provider, over its control port, plus its pid for CPU readings.
 */
import type { DemoFaults } from '../demo-provider/server';
import { spawnScript, type Child } from './support';

/** The small import of the concurrency phase: its size, and its access token's prefix. */
export const SMALL_CONTACTS = 1000;
export const SMALL_TOKEN_PREFIX = 'small-';

export interface RemoteProviderStats {
  requests: number;
  pagesServed: number;
  contactsServed: number;
  faultsInjected: number;
  /** Requests refused by the app-wide quota (`faults.appQuota`). */
  quotaRefusals: number;
  /** When each contact request arrived, and when each `429` was sent (ms since the epoch; the first 10,000). */
  arrivals: number[];
  refusedAt: number[];
  /** Times each page (by starting offset) was served; above 1 means it was fetched twice. */
  pageTokensServed: Record<string, number>;
}

export interface RemoteProvider {
  /** `GOOGLE_PEOPLE_BASE_URL` for the worker and the loops. */
  readonly url: string;
  /** Routes `Bearer small-…` to a 1,000-contact provider, the rest to `url` (see provider-process.ts). */
  readonly routerUrl: string;
  readonly pid: number;
  configure(patch: { contacts?: number; faults?: DemoFaults }): Promise<void>;
  resetStats(): Promise<void>;
  stats(): Promise<RemoteProviderStats>;
  close(): Promise<void>;
}

/** Starts the provider process with `contacts`; its output goes to `bench/results/provider.log`. */
export async function startRemoteProvider(contacts: number): Promise<RemoteProvider> {
  const child: Child = spawnScript('provider', 'bench/provider-process.ts', { ...process.env, DEMO_CONTACTS: String(contacts) });
  const line = await child.waitFor(/^provider-process: (\S+ \S+ \S+)$/, 60_000);
  const [url = '', controlUrl = '', routerUrl = ''] = line.split(' ');
  const call = async (method: string, route: string, body?: unknown): Promise<RemoteProviderStats> => {
    const response = await fetch(controlUrl + route, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    if (!response.ok) throw new Error(`provider process: ${method} ${route} answered ${response.status}`);
    return (await response.json()) as RemoteProviderStats;
  };
  return {
    url,
    routerUrl,
    pid: child.pid,
    configure: async (patch) => void (await call('POST', '/configure', patch)),
    resetStats: async () => void (await call('POST', '/reset')),
    stats: () => call('GET', '/stats'),
    close: () => child.stop(),
  };
}
