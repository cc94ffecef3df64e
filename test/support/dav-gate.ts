/**
 * A pass-through HTTP proxy in front of a CardDAV server that can hold `addressbook-multiget`
 * reports, the way the demo provider's `holdFromOffset` holds People pages: a test lets a few
 * pages through, then knows exactly where the import stands while it kills a worker.
 *
 * Requests are forwarded unchanged, `Host` included, so the server writes its hrefs and redirects
 * for the proxy's address and the client never goes around it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DavGate {
  /** The proxy's root, e.g. `http://127.0.0.1:40123/`: use it in place of the server's. */
  url: string;
  /** `addressbook-multiget` reports received so far, held ones included. */
  readonly multigets: number;
  /** Holds every multiget after the first `count` (counted from the start) until {@link release}. */
  holdAfter(count: number): void;
  /** Lets held and later multigets through. */
  release(): void;
  close(): Promise<void>;
}

/** Starts a gate in front of `target` (a server root such as `http://127.0.0.1:5232/`). */
export async function startDavGate(target: string): Promise<DavGate> {
  const upstream = new URL(target);
  let multigets = 0;
  let holdAfter = Infinity;
  let released: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let wait = Promise.resolve();
      if (req.method === 'REPORT' && body.includes('addressbook-multiget')) {
        multigets += 1;
        if (multigets > holdAfter) wait = released;
      }
      void wait.then(() => {
        // The client (a killed worker) may be gone by now: nothing to answer.
        if (req.socket.destroyed) return;
        const forwarded = http.request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forwarded.on('error', () => res.destroy());
        forwarded.end(body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    get multigets() {
      return multigets;
    },
    holdAfter(count) {
      holdAfter = count;
      released = new Promise((resolve) => (open = resolve));
    },
    release() {
      holdAfter = Infinity;
      open();
    },
    close: () =>
      new Promise<void>((resolve) => {
        open();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
