/**
 * For the connect tests: a session asked for through the API, and its flow followed by hand (fetch,
 * no redirect followed), so a test can stop at any step: the connect URL, the authorization request,
 * the callback. Pages are read for what the user sees: the title and the way back.
 */
import assert from 'node:assert/strict';
import { ConnectSessionView } from '../../api/connect/schemas';
import { expectJson, type TestApi } from './api';

/** One answer, redirects not followed. */
export interface Hop {
  status: number;
  location: string | null;
  body: string;
}

/** GET `url` without following a redirect. */
export async function hop(url: string): Promise<Hop> {
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

/** `POST /v1/connect-sessions`, expecting 201: the session's connect URL. */
export async function newSession(api: TestApi, body: { userId: string; redirectUrl: string; provider?: string; import?: boolean }): Promise<string> {
  const res = await api.call('POST', '/v1/connect-sessions', { provider: 'google-people', ...body });
  return expectJson(res, 201, ConnectSessionView).connectUrl;
}

/** Follows a connect URL to the provider and back, stopping before the callback: the callback's URL. */
export async function toCallback(connectUrl: string): Promise<URL> {
  const open = await hop(connectUrl);
  assert.equal(open.status, 302, `the connect URL redirects to the provider: ${open.body}`);
  const consent = await hop(open.location ?? '');
  assert.equal(consent.status, 302, `the authorization server sends the browser back: ${consent.body}`);
  return new URL(consent.location ?? '');
}

/** The page a flow ended on without a connection: what it says, and where its way back leads (`null`: none). */
export function endPage(answer: Hop): { title: string; backTo: URL | null } {
  const title = /<h1 id="title">([^<]*)<\/h1>/.exec(answer.body)?.[1] ?? '';
  const href = /<a id="back" href="([^"]*)"/.exec(answer.body)?.[1];
  return { title, backTo: href === undefined ? null : new URL(href.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))) };
}

/** Asserts that `answer` is an end page leading back to `redirectUrl` with `status=error&code=<code>`. */
export function assertEndedWith(answer: Hop, code: string, redirectUrl: string): void {
  assert.notEqual(answer.status, 303, 'no redirect to the app as if connected');
  const { title, backTo } = endPage(answer);
  assert.equal(title, 'Your account was not connected', answer.body);
  assert.ok(backTo, 'the page leads back to the app');
  assert.equal(`${backTo.origin}${backTo.pathname}`, redirectUrl);
  assert.equal(backTo.searchParams.get('status'), 'error');
  assert.equal(backTo.searchParams.get('code'), code);
  assert.equal(backTo.searchParams.get('connection'), null);
}

/** A connection made by following a new session to its end: its id, and the redirect's query. */
export async function connect(api: TestApi, userId: string, redirectUrl: string, options: { import?: boolean } = {}): Promise<{ connectionId: string; back: URL }> {
  const callback = await toCallback(await newSession(api, { userId, redirectUrl, ...options }));
  const done = await hop(callback.href);
  assert.equal(done.status, 303, `the callback sends the browser back to the app: ${done.body}`);
  const back = new URL(done.location ?? '');
  assert.equal(back.searchParams.get('status'), 'connected');
  const connectionId = back.searchParams.get('connection');
  assert.match(connectionId ?? '', /^con_/);
  return { connectionId: connectionId ?? '', back };
}
