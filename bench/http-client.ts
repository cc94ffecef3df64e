/** The benchmark's client of the API under test: start an import, read it, cancel it, wait for its end. */
import type { ImportView } from '../api/schemas';
import type { Provider } from '../workflows/contract';
import { sleep, type Progress } from './support';

/** The provider benchmark imports use unless a phase names another the demo provider speaks. */
export const PROVIDER: Provider = 'google-people';

/** How often {@link ImportsApi.waitForEnd} polls; a service import's time includes up to one interval. */
export const POLL_MS = 100;

export interface ImportsApi {
  /** Base URL of the API, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /**
   * `POST /v1/imports` for `userId` from `provider` ({@link PROVIDER} unless given); 202 (started)
   * and 200 (already running) resolve, anything else throws.
   */
  postImport(userId: string, provider?: Provider): Promise<{ status: number; view: ImportView }>;
  /** `GET /v1/imports/{id}`; anything but 200 throws. */
  getImport(importId: string): Promise<ImportView>;
  /** `POST /v1/imports/{id}/cancel`, whatever it answers. */
  cancelImport(importId: string): Promise<void>;
  /** Polls every {@link POLL_MS} until the import is neither running nor paused, and returns that view. */
  waitForEnd(importId: string, timeoutMs: number): Promise<ImportView>;
}

/** The API at `url`, starting imports with `accessToken` and reporting slow waits through `progress`. */
export function importsApi(url: string, accessToken: string, progress: Progress): ImportsApi {
  const getImport = async (importId: string): Promise<ImportView> => {
    const response = await fetchRetry(`${url}/v1/imports/${importId}`);
    const body = (await response.json()) as ImportView;
    if (response.status !== 200) throw new Error(`GET /v1/imports/{id} answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  };
  return {
    url,
    getImport,
    async postImport(userId, provider = PROVIDER) {
      const response = await fetchRetry(`${url}/v1/imports`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId, source: { provider, accessToken } }),
      });
      const body = (await response.json()) as ImportView;
      if (response.status !== 202 && response.status !== 200) {
        throw new Error(`POST /v1/imports answered ${response.status}: ${JSON.stringify(body)}`);
      }
      return { status: response.status, view: body };
    },
    async cancelImport(importId) {
      await fetchRetry(`${url}/v1/imports/${importId}/cancel`, { method: 'POST' });
    },
    async waitForEnd(importId, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let lastReport = performance.now();
      for (;;) {
        const view = await getImport(importId);
        if (view.state !== 'running' && view.state !== 'paused') return view;
        if (Date.now() > deadline) throw new Error(`import ${importId} still ${view.state} after ${timeoutMs / 1000} s (saved ${view.saved})`);
        if (performance.now() - lastReport > 5_000) {
          lastReport = performance.now();
          progress(`  … ${view.saved.toLocaleString('en-US')} saved`);
        }
        await sleep(POLL_MS);
      }
    },
  };
}

/**
 * `fetch`, tried once more on a network error: undici may reuse a keep-alive socket the API has just
 * closed after its idle timeout, and does not retry a POST itself. Starting an import twice is
 * safe (USE_EXISTING), so a retry is too.
 */
async function fetchRetry(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}
