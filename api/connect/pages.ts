/**
 * The pages a connect session shows in the user's browser: the end of a flow that did not connect
 * (what happened, and the way back to the web app), and the account form (CardDAV). Plain HTML, no
 * script, one inline style allowed by its hash; a form posts only to this API. The form never
 * echoes a password.
 */
import { CONNECT_DEFAULTS } from '../../config/defaults';
import type { AccountFormConnect } from '../../providers/types';
import { escapeHtml, styleHash } from '../html';

const STYLE = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
main { max-width: 32rem; margin: 3rem auto; padding: 1.5rem 2rem; background: #fff; border-radius: 8px; box-shadow: 0 1px 3px #0002; }
h1 { margin-top: 0; font-size: 1.3rem; }
label { display: block; margin: 0.7rem 0; }
input, select { display: block; width: 100%; box-sizing: border-box; padding: 0.4rem; margin-top: 0.2rem; font: inherit; }
button { font: inherit; padding: 0.4rem 1rem; margin-top: 0.6rem; cursor: pointer; }
.hint { color: #57606a; font-size: 0.9rem; }
.error { background: #ffebe9; border: 1px solid #cf222e; padding: 0.6rem; border-radius: 6px; }
`;

/**
 * Headers of every page: nothing but its own style, never framed, cached or referred. A form posts
 * to `formOrigins` only; a browser holds the redirect that answers it to them too, so the web app's
 * origin is among them where a form ends by sending the user back there.
 */
export function pageHeaders(formOrigins: readonly string[]): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src ${styleHash(STYLE)}; form-action 'self' ${formOrigins.join(' ')}; base-uri 'none'; frame-ancestors 'none'`,
    'cache-control': 'no-store',
    // The page's URL may carry the provider's code: no other site learns it.
    'referrer-policy': 'no-referrer',
  };
}

function page(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
${head}<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/**
 * The end of a flow that did not connect: what happened, in words, and, when the web app's URL is
 * known and trusted, a link back to it that the page also follows by itself after a few seconds.
 */
export function outcomePage(title: string, message: string, backTo: string | null): string {
  const seconds = CONNECT_DEFAULTS.errorRedirectSeconds;
  const back = backTo === null ? '' : `<p><a id="back" href="${escapeHtml(backTo)}">Back to the app</a> <span class="hint">(in ${seconds} seconds)</span></p>`;
  const refresh = backTo === null ? '' : `<meta http-equiv="refresh" content="${seconds};url=${escapeHtml(backTo)}">\n`;
  return page(title, `<h1 id="title">${escapeHtml(title)}</h1>\n<p id="message">${escapeHtml(message)}</p>\n${back}`, refresh);
}

/** What the account form shows again after a refusal: never the password. */
export interface FormValues {
  server?: string;
  url?: string;
  fields?: Record<string, string>;
  error?: string;
}

/** The account form of `connect`, posting to `action` with the session's form token. */
export function accountFormPage(connect: AccountFormConnect, action: string, formToken: string, values: FormValues = {}): string {
  const options = connect.knownServers
    .map((server) => `<option value="${escapeHtml(server.id)}"${values.server === server.id ? ' selected' : ''}>${escapeHtml(server.label)}</option>`)
    .join('\n      ');
  const knownAddress = connect.knownServers.filter((server) => server.url !== null).map((server) => server.label);
  const fields = connect.fields
    .map((field) => {
      // A password is typed again after a refusal: it is never sent back to the browser.
      const value = field.type === 'password' ? undefined : values.fields?.[field.name];
      const attributes = [
        `name="${escapeHtml(field.name)}"`,
        `type="${field.type ?? 'text'}"`,
        'required',
        ...(field.type === 'password' ? ['autocomplete="off"'] : []),
        ...(value === undefined ? [] : [`value="${escapeHtml(value)}"`]),
      ];
      return `  <label>${escapeHtml(field.label)} <input ${attributes.join(' ')}></label>`;
    })
    .join('\n');
  const error = values.error ? `<p id="formError" class="error" role="alert">${escapeHtml(values.error)}</p>\n` : '';
  return page(
    `Connect your ${connect.name} account`,
    `<h1>Connect your ${escapeHtml(connect.name)} account</h1>
${error}<form method="post" action="${escapeHtml(action)}">
  <input type="hidden" name="state" value="${escapeHtml(formToken)}">
  <label>Server
    <select name="server">
      ${options}
    </select>
  </label>
  <label>Server address <input name="url" type="url" placeholder="https://cloud.example.com/" value="${escapeHtml(values.url ?? '')}"></label>
  <p class="hint">Leave it empty for ${escapeHtml(knownAddress.join(' and '))}: their address is known.</p>
${fields}
  <p class="hint">Use an app password (your provider's security settings make one). It is checked with the server, then kept sealed.</p>
  <button type="submit" id="connect">Connect</button>
</form>`,
  );
}
