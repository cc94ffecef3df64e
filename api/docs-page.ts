/**
 * Swagger UI at `/docs`, over this API's own `/openapi.json`. Its assets come from the installed
 * `swagger-ui-dist` package and are served from here: no CDN, and it works offline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Hono } from 'hono';

/** The files of swagger-ui-dist the page loads, and their types: nothing else of the package is served. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Contacts import API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/** "Try it out" sends the key typed into "Authorize" as `Authorization: Bearer …`. */
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

/** `GET /docs` and its assets; mount with `app.route('/', docsPage())`. */
export function docsPage(): Hono {
  const dir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, string>();
  const app = new Hono();
  app.get('/docs', (c) => c.html(PAGE));
  app.get('/docs/init.js', (c) => c.body(INIT, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/docs/:asset{swagger-ui\\.css|swagger-ui-bundle\\.js}', (c) => {
    const name = c.req.param('asset');
    const type = ASSETS[name];
    if (!type) return c.notFound();
    let body = cache.get(name);
    if (body === undefined) {
      body = fs.readFileSync(path.join(dir, name), 'utf8');
      cache.set(name, body);
    }
    return c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=3600' });
  });
  return app;
}
