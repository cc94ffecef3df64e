/**
 * A server that misbehaves on purpose, for the outbound limits (`providers/kit/http.ts`), the
 * isolation tests and the hostile tenants of `npm run chaos` (scripts/chaos-hostile.ts): it answers
 * at once and then dribbles one byte at a time, never finishes a multistatus, announces more than
 * it sends, or sends compressed bombs. Each behaviour is a path:
 *
 *   /dribble?every=ms   a 207 at once, then one byte every `every` ms, forever
 *   /endless            a 207 multistatus of `<response>`s without end, as fast as the client reads
 *   /silent             accepts the request and never answers
 *   /huge?bytes=n       a 200 announcing `n` bytes in Content-Length
 *   /gzip-bomb?bytes=n  `n` zero bytes, gzipped (a few kilobytes on the wire)
 *   /stall-after?bytes=n  `n` bytes of body, then nothing
 *   anything else       200 "ok"
 *
 * Any path works under any prefix, so a CardDAV source can be pointed at `<url>/dribble/`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface HostileServer {
  /** `http://127.0.0.1:port`. */
  url: string;
  /** Requests received so far, by behaviour. */
  readonly requests: Record<string, number>;
  /** Bytes written so far, bodies only. */
  readonly bytesSent: number;
  close(): Promise<void>;
}

const MULTISTATUS_HEAD = '<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:">';

export async function startHostileServer(): Promise<HostileServer> {
  const requests: Record<string, number> = {};
  let bytesSent = 0;
  const timers = new Set<NodeJS.Timeout>();
  // Made once per size: gzipping tens of megabytes takes longer than the limits under test.
  const bombs = new Map<number, Buffer>();
  const bomb = (bytes: number) => bombs.get(bytes) ?? bombs.set(bytes, zlib.gzipSync(Buffer.alloc(bytes))).get(bytes)!;
  const write = (res: http.ServerResponse, chunk: string | Buffer) => {
    bytesSent += chunk.length;
    return res.write(chunk);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const behaviour = ['dribble', 'endless', 'silent', 'huge', 'gzip-bomb', 'stall-after'].find((name) => url.pathname.includes(`/${name}`)) ?? 'ok';
    requests[behaviour] = (requests[behaviour] ?? 0) + 1;
    const number = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    req.resume();
    switch (behaviour) {
      case 'dribble': {
        res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
        write(res, MULTISTATUS_HEAD);
        const timer = setInterval(() => write(res, ' '), number('every', 5_000));
        timers.add(timer);
        res.on('close', () => {
          clearInterval(timer);
          timers.delete(timer);
        });
        return;
      }
      case 'endless': {
        res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
        write(res, MULTISTATUS_HEAD);
        let n = 0;
        const chunk = () =>
          Array.from({ length: 200 }, () => `<d:response><d:href>/book/card-${n++}.vcf</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>`).join('');
        // As fast as the client drains it, and no faster: the server's own memory stays flat.
        const pump = () => {
          while (!res.destroyed && write(res, chunk()));
        };
        res.on('drain', pump);
        pump();
        return;
      }
      case 'silent':
        return;
      case 'huge':
        res.writeHead(200, { 'content-length': String(number('bytes', 1 << 30)) });
        write(res, 'x');
        return;
      case 'gzip-bomb': {
        const body = bomb(number('bytes', 64 << 20));
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(body.length) });
        bytesSent += body.length;
        res.end(body);
        return;
      }
      case 'stall-after':
        res.writeHead(200, { 'content-type': 'text/plain' });
        write(res, 'x'.repeat(number('bytes', 10)));
        return;
      default:
        res.end('ok');
    }
  });
  bomb(64 << 20);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get bytesSent() {
      return bytesSent;
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
