/**
 * `GET /v1/imports/{importId}/events`: the import's status as Server-Sent Events. An `status` event
 * per change, a `: keepalive` comment every 15 s (proxies close quiet connections), and an `end`
 * event with the final status, after which the stream closes. Each event's `id` names the status it
 * carries, so a client that reconnects with `Last-Event-ID` gets only what changed since; one that
 * already has the final status gets `204`, which tells `EventSource` not to reconnect.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { CallerVariables } from '../auth';
import type { Imports } from '../imports';
import { statusEvent, type ImportWatchers, type StatusEvent } from './watchers';

export const EVENTS_DEFAULTS = {
  /** A comment this often keeps proxies and load balancers from closing a quiet stream. */
  keepaliveMs: 15_000,
  /**
   * A stream ends after this long, and `EventSource` reconnects (with `Last-Event-ID`, so nothing is
   * sent twice): connections do not outlive deploys by hours, and every client is re-checked.
   */
  maxStreamMs: 5 * 60_000,
  /** What `EventSource` waits before it reconnects, sent as `retry:`. */
  retryMs: 2_000,
} as const;

export interface EventStreamOptions {
  imports: Imports;
  watchers: ImportWatchers;
  keepaliveMs?: number;
  maxStreamMs?: number;
}

/** The route's handler: a 404 (JSON) before anything streams, then the events. */
export function importEvents(options: EventStreamOptions) {
  const keepaliveMs = options.keepaliveMs ?? EVENTS_DEFAULTS.keepaliveMs;
  const maxStreamMs = options.maxStreamMs ?? EVENTS_DEFAULTS.maxStreamMs;
  return async function importEvents(c: Context<{ Variables: CallerVariables }>, importId: string): Promise<Response> {
    const { tenant } = c.var.caller;
    // Read before streaming: an unknown (or another tenant's) import is a plain 404, not a stream.
    const first = statusEvent(await options.imports.get(tenant, importId));
    const lastEventId = c.req.header('last-event-id');
    if (first.final && lastEventId === first.id) return c.body(null, 204);
    // nginx and friends buffer responses unless told not to; events must go out as they happen.
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const timers: NodeJS.Timeout[] = [];
      let unsubscribe = () => {};
      await new Promise<void>((done) => {
        let sentId = lastEventId;
        // How long `EventSource` waits before reconnecting, on the first event sent.
        let retry: number | undefined = EVENTS_DEFAULTS.retryMs;
        const send = (event: StatusEvent | null): void => {
          if (event === null) return done();
          if (event.id === sentId) return;
          sentId = event.id;
          const data = JSON.stringify(event.view);
          stream.writeSSE({ event: event.final ? 'end' : 'status', id: event.id, data, retry }).then(() => event.final && done(), done);
          retry = undefined;
        };
        stream.onAbort(done);
        c.req.raw.signal.addEventListener('abort', () => done());
        send(first);
        if (first.final) return;
        unsubscribe = options.watchers.watch(tenant, importId, send);
        timers.push(setInterval(() => void stream.write(': keepalive\n\n').catch(done), keepaliveMs));
        timers.push(setTimeout(done, maxStreamMs));
      });
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
    });
  };
}
