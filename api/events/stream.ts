/**
 * `GET /v1/imports/{importId}/events`: the import's status as Server-Sent Events. An `status` event
 * per change, a `: keepalive` comment every 15 s (proxies close quiet connections), and an `end`
 * event with the final status, after which the stream closes. Each event's `id` names the status it
 * carries, so a client that reconnects with `Last-Event-ID` gets only what changed since; one that
 * already has the final status gets `204`, which tells `EventSource` not to reconnect.
 *
 * A key holds at most `EVENT_STREAMS_PER_KEY` streams open in one process (`429 too_many_streams`
 * beyond), and its streams end within seconds of it being revoked (`stream-slots.ts`).
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { CallerVariables } from '../auth';
import { ApiError } from '../errors';
import type { Imports } from '../imports';
import type { StreamSlots } from './stream-slots';
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
  /** How often the keys holding streams open are checked again: a revoked key's streams end within this. */
  keyCheckMs: 2_000,
} as const;

export interface EventStreamOptions {
  imports: Imports;
  watchers: ImportWatchers;
  /** The process's open streams, per key. */
  slots: StreamSlots;
  /** Whether the caller of `c` may still read its stream (its key not revoked); asked every `keyCheckMs`. */
  stillAllowed: (c: Context<{ Variables: CallerVariables }>) => Promise<boolean>;
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
    // Ends the stream: set once it runs; a key revoked before that ends it as soon as it starts.
    let end: (() => void) | undefined;
    let revoked = false;
    const { keyId } = c.var.caller;
    const release = options.slots.open(
      keyId ?? 'keyless',
      () => options.stillAllowed(c),
      () => {
        revoked = true;
        end?.();
      },
    );
    if (!release) {
      throw new ApiError(
        429,
        'too_many_streams',
        `This ${keyId ? 'API key' : 'keyless caller'} already holds the most event streams one API process serves at once (EVENT_STREAMS_PER_KEY); close one first`,
      );
    }
    // nginx and friends buffer responses unless told not to; events must go out as they happen.
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const timers: NodeJS.Timeout[] = [];
      let unsubscribe = () => {};
      try {
        await new Promise<void>((done) => {
          end = done;
          if (revoked) return done();
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
      } finally {
        release();
        unsubscribe();
        for (const timer of timers) clearTimeout(timer);
      }
    });
  };
}
