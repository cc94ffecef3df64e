/**
 * The progress page's script, as the browser runs it (no build step). It keeps the import's id in
 * the URL (`?import=`) and in localStorage, so a reload rejoins the same import and never starts
 * another; it follows the import through `GET /v1/imports/{id}/events`.
 *
 * Auth: `EventSource` cannot send headers. Without a key (the API on loopback before any key
 * exists) the page uses `EventSource`; with a key (typed into the page, kept in sessionStorage: this
 * tab only) it reads the same stream with fetch(), sending `Authorization` and `Last-Event-ID`
 * itself. A key never goes into a URL, where logs and history would keep it.
 *
 * The providers' names come from the registry (`providers/index.ts`), and so does the form.
 *
 * Connect buttons run a connect session: the page asks `POST /v1/connect-sessions` for a URL (with
 * itself as `redirectUrl`, and `import: true`), sends the browser there, and is sent back with
 * `?status=connected&connection=…&import=…`: it then shows that import as any other.
 */
import { PROVIDERS } from '../../providers';

export const PAGE_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var STORED_IMPORT = 'contacts-import:importId';
  var STORED_KEY = 'contacts-import:apiKey';
  var PROVIDER_NAMES = ${JSON.stringify(Object.fromEntries(PROVIDERS.map((provider) => [provider.id, provider.label])))};
  var REASONS = {
    rate_limited: ' asked for a pause, for every import on the same quota',
    provider_throttled: ' is limiting requests',
    provider_unavailable: ' is not answering',
    provider_too_slow: ' answers too slowly',
    response_too_large: ' sent an answer too large to read',
    needs_reauth: ' refused the credentials: reconnect the account',
    paused: 'Paused',
    worker_unavailable: 'No worker is running this import; it continues when one is back'
  };
  var current = null;      // the import as last shown
  var stream = null;       // { close() } of the event stream
  var nextCursor = null;

  function apiKey() { return sessionStorage.getItem(STORED_KEY) || ''; }
  function headers(extra) {
    var h = Object.assign({}, extra || {});
    if (apiKey()) h.Authorization = 'Bearer ' + apiKey();
    return h;
  }
  function api(method, path, body) {
    var init = { method: method, headers: headers(body ? { 'content-type': 'application/json' } : {}) };
    if (body) init.body = JSON.stringify(body);
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var json = text ? JSON.parse(text) : undefined;
        if (!res.ok) {
          var err = new Error(json && json.error ? json.error.message : 'HTTP ' + res.status);
          err.status = res.status;
          throw err;
        }
        return json;
      });
    });
  }

  function show(el, on) { el.hidden = !on; }
  function number(n) { return n === null || n === undefined ? '…' : Number(n).toLocaleString(); }
  function time(iso) { return new Date(iso).toLocaleTimeString(); }
  function duration(s) {
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.round(s / 60) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }

  /** The waiting reason in words, e.g. "Google is limiting requests; retrying at 18:52:03 (attempt 4)". */
  function waitingText(view) {
    var w = view.waiting;
    var provider = PROVIDER_NAMES[view.provider] || 'The provider';
    var byProvider = w.reason.indexOf('provider_') === 0 || w.reason === 'needs_reauth' || w.reason === 'rate_limited';
    var text = byProvider ? provider + REASONS[w.reason] : REASONS[w.reason] || w.message;
    if (w.until) text += '; retrying at ' + time(w.until);
    else if (w.attempt) text += '; retrying';
    if (w.attempt) text += ' (attempt ' + w.attempt + ')';
    return text;
  }

  function render(view) {
    current = view;
    $('importId').textContent = view.importId;
    $('who').textContent = view.userId;
    var done = view.state === 'completed' ? 1 : view.total ? Math.min(1, (view.saved + (view.rejected || 0)) / view.total) : 0;
    var percent = Math.floor(done * 100);
    $('barFill').style.width = percent + '%';
    $('bar').setAttribute('aria-valuenow', String(percent));
    $('bar').dataset.state = view.state;
    $('state').textContent = view.state.replace('_', ' ');
    $('state').dataset.state = view.state;
    $('percent').textContent = view.total ? percent + '%' : '';
    $('saved').textContent = number(view.saved);
    $('total').textContent = number(view.total);
    $('rejected').textContent = number(view.rejected || 0);
    $('rate').textContent = view.rate !== undefined ? number(view.rate) + ' contacts/s' : '…';
    $('eta').textContent = view.etaSeconds !== undefined ? duration(view.etaSeconds) : view.state === 'completed' ? 'done' : '…';
    show($('waiting'), !!view.waiting);
    if (view.waiting) { $('waiting').textContent = waitingText(view); $('waiting').dataset.reason = view.waiting.reason; }
    show($('error'), !!view.error);
    if (view.error) $('error').textContent = view.error;
    var live = view.state === 'running' || view.state === 'paused' || view.state === 'needs_reauth';
    $('pause').disabled = view.state !== 'running';
    $('resume').disabled = view.state !== 'paused';
    $('cancel').disabled = !live;
    show($('again'), !live);
  }

  function finished(view) {
    render(view);
    if (stream) { stream.close(); stream = null; }
    if (view.state === 'completed') loadContacts(true);
  }

  function loadContacts(first) {
    if (!current) return;
    var path = '/v1/users/' + encodeURIComponent(current.userId) + '/contacts?limit=100' + (!first && nextCursor ? '&cursor=' + nextCursor : '');
    if (first) $('contactRows').textContent = '';
    api('GET', path).then(function (page) {
      page.items.forEach(function (c) {
        var tr = document.createElement('tr');
        [c.displayName, c.email, c.phone, c.organization].forEach(function (value) {
          var td = document.createElement('td');
          td.textContent = value || '';
          tr.appendChild(td);
        });
        $('contactRows').appendChild(tr);
      });
      nextCursor = page.nextCursor;
      show($('more'), !!nextCursor);
      show($('contacts'), true);
    });
  }

  /** Events through EventSource (no key) or fetch (a key: EventSource cannot send it). */
  function follow(importId) {
    var url = '/v1/imports/' + encodeURIComponent(importId) + '/events';
    function onStatus(data) { render(JSON.parse(data)); }
    function onEnd(data) { finished(JSON.parse(data)); }
    if (!apiKey()) {
      var source = new EventSource(url);
      source.addEventListener('status', function (e) { onStatus(e.data); });
      source.addEventListener('end', function (e) { onEnd(e.data); });
      return { close: function () { source.close(); } };
    }
    var closed = false;
    var lastId = null;
    var controller = null;
    function connect() {
      if (closed) return;
      controller = new AbortController();
      var h = headers(lastId ? { 'Last-Event-ID': lastId } : {});
      fetch(url, { headers: h, signal: controller.signal }).then(function (res) {
        if (res.status === 204 || !res.ok || !res.body) { if (res.status !== 204 && !closed) setTimeout(connect, 2000); return; }
        var reader = res.body.getReader();
        var decoder = new TextDecoder();
        var buffer = '';
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { if (!closed) setTimeout(connect, 2000); return; }
            buffer += decoder.decode(chunk.value, { stream: true });
            var blocks = buffer.split('\n\n');
            buffer = blocks.pop();
            blocks.forEach(function (block) {
              var event = 'message', data = [], id = null;
              block.split('\n').forEach(function (line) {
                if (line.indexOf('event: ') === 0) event = line.slice(7);
                else if (line.indexOf('data: ') === 0) data.push(line.slice(6));
                else if (line.indexOf('id: ') === 0) id = line.slice(4);
              });
              if (id) lastId = id;
              if (event === 'status') onStatus(data.join('\n'));
              if (event === 'end') onEnd(data.join('\n'));
            });
            return pump();
          });
        }
        return pump();
      }).catch(function () { if (!closed) setTimeout(connect, 2000); });
    }
    connect();
    return { close: function () { closed = true; if (controller) controller.abort(); } };
  }

  function attach(importId) {
    localStorage.setItem(STORED_IMPORT, importId);
    var url = new URL(location.href);
    url.searchParams.set('import', importId);
    history.replaceState(null, '', url);
    $('importId').textContent = importId;
    show($('start'), false);
    show($('progress'), true);
    return api('GET', '/v1/imports/' + encodeURIComponent(importId)).then(function (view) {
      render(view);
      if (view.state === 'completed' || view.state === 'failed' || view.state === 'cancelled') return finished(view);
      stream = follow(importId);
    }, function (err) {
      if (err.status === 404) return reset();
      $('error').textContent = err.message;
      show($('error'), true);
    });
  }

  function reset() {
    if (stream) { stream.close(); stream = null; }
    localStorage.removeItem(STORED_IMPORT);
    var url = new URL(location.href);
    url.searchParams.delete('import');
    history.replaceState(null, '', url);
    current = null;
    show($('contacts'), false);
    show($('progress'), false);
    show($('start'), true);
  }

  /** The chosen provider's source: each of its inputs' value under the field it names. */
  function source() {
    var provider = $('provider').value;
    var body = { provider: provider };
    document.querySelectorAll('[data-source="' + provider + '"] [data-field]').forEach(function (el) { body[el.dataset.field] = el.value; });
    return body;
  }

  $('provider').addEventListener('change', function () {
    document.querySelectorAll('[data-source]').forEach(function (el) { el.hidden = el.dataset.source !== $('provider').value; });
  });
  $('apiKey').value = apiKey();
  $('apiKey').addEventListener('change', function () {
    if ($('apiKey').value) sessionStorage.setItem(STORED_KEY, $('apiKey').value);
    else sessionStorage.removeItem(STORED_KEY);
  });
  $('start').addEventListener('submit', function (e) {
    e.preventDefault();
    show($('formError'), false);
    $('startButton').disabled = true;
    api('POST', '/v1/imports', { userId: $('userId').value, source: source() }).then(function (view) {
      return attach(view.importId);
    }, function (err) {
      $('formError').textContent = err.message;
      show($('formError'), true);
    }).then(function () { $('startButton').disabled = false; });
  });
  ['pause', 'resume', 'cancel'].forEach(function (action) {
    $(action).addEventListener('click', function () {
      if (!current) return;
      $(action).disabled = true;
      api('POST', '/v1/imports/' + encodeURIComponent(current.importId) + '/' + action).then(render, function (err) {
        $('error').textContent = err.message;
        show($('error'), true);
      });
    });
  });
  $('more').addEventListener('click', function () { loadContacts(false); });
  $('again').addEventListener('click', reset);
  document.querySelectorAll('[data-connect]').forEach(function (button) {
    button.addEventListener('click', function () {
      show($('formError'), false);
      button.disabled = true;
      var back = location.origin + location.pathname;
      api('POST', '/v1/connect-sessions', { userId: $('userId').value, provider: button.dataset.connect, redirectUrl: back, import: true })
        .then(function (session) { location.assign(session.connectUrl); }, function (err) {
          $('formError').textContent = err.message;
          show($('formError'), true);
          button.disabled = false;
        });
    });
  });

  /** The end of a connect session, as it came back in the URL: said when it did not connect, then dropped from the URL. */
  var returned = new URL(location.href);
  var connectStatus = returned.searchParams.get('status');
  var connectCode = returned.searchParams.get('code');
  if (connectStatus) {
    ['status', 'connection', 'code', 'importError'].forEach(function (name) { returned.searchParams.delete(name); });
    history.replaceState(null, '', returned);
    if (connectStatus !== 'connected') {
      $('formError').textContent = connectStatus === 'denied' ? 'The account was not connected: access was not allowed.' : 'The account was not connected (' + (connectCode || 'error') + ').';
      show($('formError'), true);
    }
  }

  var fromUrl = new URL(location.href).searchParams.get('import');
  var known = fromUrl || localStorage.getItem(STORED_IMPORT);
  if (known) attach(known);
})();
`;
