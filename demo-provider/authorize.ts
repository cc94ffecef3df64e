/**
 * The demo provider's authorization endpoint (`/authorize`), speaking Google's protocol for the
 * authorization-code flow with PKCE: a consent page with Allow and Deny buttons, then the browser
 * back to the client's `redirect_uri` with a code (and the `state` it came with), or with
 * `error=access_denied`. Codes are single use and live ten minutes; the token endpoint
 * (`./oauth.ts`) trades one for tokens only with the verifier of the challenge it was issued for.
 */
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import { readForm } from './form-body';

/** Where the demo provider asks for consent: `GOOGLE_AUTH_URL=<demo url>/authorize`. */
export const DEMO_AUTHORIZE_PATH = '/authorize';

const CODE_TTL_MS = 10 * 60_000;
/** The parameters of an authorization request the consent form carries on to its answer. */
const CARRIED = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'access_type', 'prompt'] as const;

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  scope: string;
  challenge: string;
  expiresAt: number;
}

export interface DemoAuthorization {
  /** Answers a request to {@link DEMO_AUTHORIZE_PATH}: the consent page (GET), or the user's answer (POST). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /**
   * Takes a code, once: its scope when the client, the redirect URI and the PKCE verifier are those
   * it was issued for, else `null` (an unknown, used, expired or misused code).
   */
  redeem(code: string, exchange: { clientId: string; redirectUri: string; verifier: string }): { scope: string } | null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A page; its form may post here, and be redirected on to `formTarget` (a browser checks the redirect too). */
function sendPage(res: http.ServerResponse, status: number, title: string, body: string, formTarget?: string): void {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><main>${body}</main></body></html>`;
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': `default-src 'none'; form-action 'self'${formTarget ? ` ${new URL(formTarget).origin}` : ''}; frame-ancestors 'none'`,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
  });
  res.end(html);
}

/** What is wrong with an authorization request, or `null`: a bad one gets a page, never a redirect. */
function problemWith(params: URLSearchParams, clientId: string): string | null {
  if (params.get('response_type') !== 'code') return 'response_type must be code';
  if (params.get('client_id') !== clientId) return 'The OAuth client was not found.';
  const redirect = params.get('redirect_uri') ?? '';
  if (!URL.canParse(redirect) || !/^https?:$/.test(new URL(redirect).protocol)) return 'redirect_uri must be an http(s) URL';
  if (!params.get('code_challenge') || params.get('code_challenge_method') !== 'S256') return 'PKCE is required: code_challenge with code_challenge_method=S256';
  return null;
}

function consentPage(params: URLSearchParams): string {
  const hidden = CARRIED.filter((name) => params.has(name))
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params.get(name) ?? '')}">`)
    .join('');
  return `<h1>Demo provider</h1>
<p>An application asks to read your contacts (<code id="scope">${escapeHtml(params.get('scope') ?? '')}</code>).</p>
<form method="post" action="${DEMO_AUTHORIZE_PATH}">${hidden}
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>`;
}

export function createDemoAuthorization(clientId: () => string): DemoAuthorization {
  const codes = new Map<string, IssuedCode>();

  function answer(params: URLSearchParams, res: http.ServerResponse): void {
    const problem = problemWith(params, clientId());
    if (problem !== null) return sendPage(res, 400, 'Bad request', `<h1>Bad request</h1><p>${escapeHtml(problem)}</p>`);
    const target = new URL(params.get('redirect_uri') ?? '');
    const state = params.get('state');
    if (state !== null) target.searchParams.set('state', state);
    if (params.get('decision') === 'allow') {
      const now = Date.now();
      for (const [code, issued] of codes) if (issued.expiresAt < now) codes.delete(code);
      const code = `demo-code.${randomBytes(18).toString('base64url')}`;
      codes.set(code, {
        clientId: clientId(),
        redirectUri: params.get('redirect_uri') ?? '',
        scope: params.get('scope') ?? '',
        challenge: params.get('code_challenge') ?? '',
        expiresAt: now + CODE_TTL_MS,
      });
      target.searchParams.set('code', code);
    } else {
      target.searchParams.set('error', 'access_denied');
    }
    res.writeHead(302, { Location: target.href, 'Cache-Control': 'no-store' });
    res.end();
  }

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://demo.invalid');
      if (req.method === 'GET') {
        const problem = problemWith(url.searchParams, clientId());
        if (problem !== null) return sendPage(res, 400, 'Bad request', `<h1>Bad request</h1><p>${escapeHtml(problem)}</p>`);
        return sendPage(res, 200, 'Demo provider: allow access?', consentPage(url.searchParams), url.searchParams.get('redirect_uri') ?? undefined);
      }
      if (req.method !== 'POST') return sendPage(res, 405, 'Method not allowed', '<h1>Method not allowed</h1>');
      readForm(req, (form) => answer(form, res));
    },

    redeem(code, exchange) {
      const issued = codes.get(code);
      codes.delete(code);
      if (!issued || issued.expiresAt < Date.now()) return null;
      if (issued.clientId !== exchange.clientId || issued.redirectUri !== exchange.redirectUri) return null;
      const challenge = createHash('sha256').update(exchange.verifier).digest('base64url');
      return challenge === issued.challenge ? { scope: issued.scope } : null;
    },
  };
}
