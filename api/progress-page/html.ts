/**
 * The progress page's markup: a form to start (or rejoin) an import, buttons to connect an account
 * and import from it, and the import as it goes.
 */
import { PROVIDERS } from '../../providers';
import type { FormField, ProviderDefinition } from '../../providers/types';
import { escapeHtml } from '../html';

/** The providers the form offers: those whose definition says how to ask for a source. */
const offered = PROVIDERS.flatMap(({ id, form }: Pick<ProviderDefinition, 'id' | 'form'>) => (form ? [{ id, form }] : []));

/** The providers whose accounts connect (a connect session), each with its button. */
function connectButtons(): string {
  return PROVIDERS.flatMap(({ id, connect }: Pick<ProviderDefinition, 'id' | 'connect'>) =>
    connect ? [`      <button type="button" data-connect="${escapeHtml(id)}">Connect ${escapeHtml(connect.name)}</button>`] : [],
  ).join('\n');
}

function providerOptions(): string {
  return offered.map(({ id, form }) => `        <option value="${escapeHtml(id)}">${escapeHtml(form.option)}</option>`).join('\n');
}

/** One input: `data-field` names the request field its value becomes. */
function fieldInput(id: string, field: FormField): string {
  const attributes = [
    `id="${escapeHtml(`${id}-${field.name}`)}"`,
    `data-field="${escapeHtml(field.name)}"`,
    ...(field.type && field.type !== 'text' ? [`type="${field.type}"`] : []),
    'autocomplete="off"',
    ...(field.value === undefined ? [] : [`value="${escapeHtml(field.value)}"`]),
    ...(field.placeholder === undefined ? [] : [`placeholder="${escapeHtml(field.placeholder)}"`]),
  ];
  return `      <label>${escapeHtml(field.label)} <input ${attributes.join(' ')}></label>`;
}

/** Each offered provider's inputs; only the first provider's show until another is chosen. */
function providerFields(): string {
  return offered
    .map(({ id, form }, index) =>
      [`    <div data-source="${escapeHtml(id)}"${index === 0 ? '' : ' hidden'}>`, ...form.fields.map((field) => fieldInput(id, field)), '    </div>'].join('\n'),
    )
    .join('\n');
}

export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Contacts import</title>
<link rel="stylesheet" href="/progress-page/page.css">
</head>
<body>
<main>
  <h1>Import contacts</h1>
  <form id="start">
    <label>User id <input id="userId" name="userId" required autocomplete="off" value="user-1"></label>
    <label>Source
      <select id="provider">
${providerOptions()}
      </select>
    </label>
${providerFields()}
    <details id="keyBox">
      <summary>API key</summary>
      <label>Key <input id="apiKey" type="password" autocomplete="off" placeholder="cik_…"></label>
      <p class="hint">Needed once an API key exists (on loopback the API answers without one until then). Kept in this tab only.</p>
    </details>
    <button type="submit" id="startButton">Import</button>
    <div id="connect" class="connect">
      <p class="hint">Or connect the user's account and import from it:</p>
${connectButtons()}
    </div>
    <p id="formError" class="error" role="alert" hidden></p>
  </form>

  <section id="progress" hidden>
    <p class="muted">Import <code id="importId"></code> for <strong id="who"></strong></p>
    <div id="bar" class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div id="barFill"></div></div>
    <p><span id="state" class="state"></span> <span id="percent"></span></p>
    <dl class="counts">
      <div><dt>Saved</dt><dd id="saved">0</dd></div>
      <div><dt>Of</dt><dd id="total">…</dd></div>
      <div><dt>Set aside</dt><dd id="rejected">0</dd></div>
      <div><dt>Rate</dt><dd id="rate">…</dd></div>
      <div><dt>Time left</dt><dd id="eta">…</dd></div>
    </dl>
    <p id="waiting" class="waiting" role="status" hidden></p>
    <p id="error" class="error" role="alert" hidden></p>
    <div class="actions">
      <button id="pause" type="button">Pause</button>
      <button id="resume" type="button">Resume</button>
      <button id="cancel" type="button">Cancel</button>
      <button id="again" type="button" hidden>Start another import</button>
    </div>
    <section id="contacts" hidden>
      <h2>Contacts</h2>
      <table>
        <thead><tr><th>Name</th><th>Email</th><th>Phone</th><th>Organization</th></tr></thead>
        <tbody id="contactRows"></tbody>
      </table>
      <button id="more" type="button" hidden>More</button>
    </section>
  </section>
</main>
<script src="/progress-page/page.js"></script>
</body>
</html>
`;
