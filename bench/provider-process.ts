/**
 * The demo provider in a process of its own: the bench, the plain loop and the service
 * all reach it over loopback, so neither side of a comparison shares its process with it. Beside
 * the People API it answers a small control API on a second port, for {@link RemoteProvider}:
 * `POST /configure` (a `configure()` patch as JSON), `POST /reset`, `GET /stats`.
 *
 * A third port routes by token: `Bearer small-…` to a second provider of {@link SMALL_CONTACTS}
 * contacts, anything else to the first. The concurrency phase points its worker there, so one small
 * import runs beside large ones (every import of one provider has the same size).
 *
 * Environment: `DEMO_CONTACTS`. Prints `provider-process: <people url> <control url> <router url>`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDemoProvider } from '../demo-provider/server';
import { SMALL_CONTACTS, SMALL_TOKEN_PREFIX } from './remote-provider';

async function main(): Promise<void> {
  const provider = await startDemoProvider({ contacts: Number(process.env.DEMO_CONTACTS ?? 1000) });
  const control = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/configure') provider.configure(JSON.parse(body) as Parameters<typeof provider.configure>[0]);
      else if (req.method === 'POST' && req.url === '/reset') provider.resetStats();
      else if (!(req.method === 'GET' && req.url === '/stats')) {
        res.writeHead(404).end();
        return;
      }
      const { pageTokensServed, ...counts } = provider.stats;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...counts, pageTokensServed: Object.fromEntries(pageTokensServed) }));
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const small = await startDemoProvider({ contacts: SMALL_CONTACTS });
  const agent = new http.Agent({ keepAlive: true });
  const router = http.createServer((req, res) => {
    const target = (req.headers.authorization ?? '').startsWith(`Bearer ${SMALL_TOKEN_PREFIX}`) ? small.url : provider.url;
    const upstream = http.request(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => router.listen(0, '127.0.0.1', resolve));
  const port = (server: http.Server) => (server.address() as AddressInfo).port;
  console.log(`provider-process: ${provider.url} http://127.0.0.1:${port(control)} http://127.0.0.1:${port(router)}`);
  const stop = () => void provider.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(`provider-process: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
