/**
 * The progress page at `/`: the seed of a web app's import screen, served by the API itself. Plain
 * HTML, CSS and a script (`script.ts` says how it authenticates), no CDN and no build step. It calls
 * the same `/v1` routes any web app calls, so it sees exactly what the caller's key may see.
 */
import { Hono, type Context } from 'hono';
import { PAGE_HTML } from './html';
import { PAGE_JS } from './script';
import { PAGE_CSS } from './style';

/** The page's own resources only, and calls back to this API: nothing from anywhere else. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** `GET /` and its two resources; mount with `app.route('/', progressPage())`. */
export function progressPage(): Hono {
  const app = new Hono();
  const serve = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { 'content-type': type, 'content-security-policy': CONTENT_SECURITY_POLICY, 'cache-control': 'no-cache' });
  app.get('/', serve(PAGE_HTML, 'text/html; charset=utf-8'));
  app.get('/progress-page/page.js', serve(PAGE_JS, 'text/javascript; charset=utf-8'));
  app.get('/progress-page/page.css', serve(PAGE_CSS, 'text/css; charset=utf-8'));
  return app;
}
