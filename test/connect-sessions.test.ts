/**
 * Connect sessions that must not connect, followed by hand (no browser: each step is one request):
 * a tampered `state`, a replayed callback or connect URL (also racing each other), a code issued
 * to another session, an expired session, a denied consent, a `redirectUrl` on an origin the
 * tenant did not allow, a made-up link. Each ends on a page that says so and leads back to the web
 * app with `status=error` and a `code` when the session is known, and the store keeps nothing: no
 * connection, no second write. SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../db/types';
import { startDemoProvider, type DemoProvider } from '../demo-provider/server';
import { expectError, startApi, type TestApi } from './support/api';
import { assertEndedWith, connect, endPage, hop, newSession, toCallback } from './support/connect';
import { storeCases, uniqueId, waitFor } from './support/harness';
import { startTestAuthServer, type TestAuthServer } from './support/oauth-server';

const TENANT = 'connect-sessions';

for (const storeCase of storeCases()) {
  describe(`connect sessions that do not connect, on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    let provider: DemoProvider;
    let server: TestAuthServer;
    let store: Store;
    let api: TestApi;
    let shortLived: TestApi;
    let redirectUrl: string;

    before(async () => {
      provider = await startDemoProvider({ contacts: 10 });
      server = await startTestAuthServer();
      store = await storeCase.open();
      const taskQueue = uniqueId(`connect-sessions-${storeCase.name}`);
      const providers = server.providerSettings(provider.url);
      api = await startApi({ store, taskQueue, tenant: TENANT, connect: { providers } });
      shortLived = await startApi({ store, taskQueue, tenant: TENANT, connect: { providers, sessionTtlSeconds: 1 } });
      redirectUrl = `${server.url}/app/done`;
      assert.equal((await api.call('PUT', '/v1/connect-settings', { redirectOrigins: [server.url] })).status, 200);
    });
    after(async () => {
      await api?.close();
      await shortLived?.close();
      await server?.close();
      await provider?.close();
      await store?.close();
    });

    const connectionOf = (userId: string) => store.connections.get({ tenant: TENANT, userId, provider: 'google-people' });

    it('a tampered state stores nothing, and leaves the session to its own callback', async () => {
      const userId = uniqueId('tampered');
      const callback = await toCallback(await newSession(api, { userId, redirectUrl }));
      const state = callback.searchParams.get('state') ?? '';
      const tampered = new URL(callback);
      tampered.searchParams.set('state', `${state.slice(0, -2)}${state.endsWith('AA') ? 'BB' : 'AA'}`);
      const before = { ...server.exchanges };
      const answer = await hop(tampered.href);
      assert.equal(answer.status, 404);
      assertEndedWith(answer, 'invalid_state', redirectUrl);
      assert.deepEqual(server.exchanges, before, 'no code was traded');
      assert.equal(await connectionOf(userId), null, 'no connection is stored');
      assert.equal((await store.connectSessions.get(state.split('.')[0] ?? ''))?.finishedAt, null, 'the session is not taken');

      // A state of no session at all: a page, and no way back (there is no known app to go to).
      const unknown = new URL(callback);
      unknown.searchParams.set('state', 'cs_AAAAAAAAAAAAAAAAAAAAAA.' + 'A'.repeat(43));
      const lost = await hop(unknown.href);
      assert.equal(lost.status, 404);
      assert.equal(endPage(lost).backTo, null);

      // The genuine answer still connects.
      assert.equal((await hop(callback.href)).status, 303);
      assert.equal((await connectionOf(userId))?.status, 'connected');
    });

    it('a reused session stores nothing more: the callback replayed, the connect URL followed again, callbacks racing', async () => {
      const userId = uniqueId('reused');
      const connectUrl = await newSession(api, { userId, redirectUrl });
      const callback = await toCallback(connectUrl);
      assert.equal((await hop(callback.href)).status, 303);
      const kept = await connectionOf(userId);
      assert.ok(kept);
      const redeemed = server.exchanges.redeemed;

      assertEndedWith(await hop(callback.href), 'session_used', redirectUrl);
      assertEndedWith(await hop(connectUrl), 'session_used', redirectUrl);
      assert.equal(server.exchanges.redeemed, redeemed, 'the replayed code was not traded again');
      assert.deepEqual(await connectionOf(userId), kept, 'the connection is as the first callback left it');

      // Five callbacks of one session at once: one connects, four store nothing.
      const racer = uniqueId('racer');
      const raced = await toCallback(await newSession(api, { userId: racer, redirectUrl }));
      const answers = await Promise.all(Array.from({ length: 5 }, () => hop(raced.href)));
      assert.equal(answers.filter((answer) => answer.status === 303).length, 1, 'exactly one callback takes the session');
      for (const answer of answers.filter((a) => a.status !== 303)) assertEndedWith(answer, 'session_used', redirectUrl);
      assert.equal((await connectionOf(racer))?.generation, 1, 'one secret was kept, once');
    });

    it('a code issued to another session is refused, and nothing is stored for either', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const forAlice = await toCallback(await newSession(api, { userId: alice, redirectUrl }));
      const forBob = await toCallback(await newSession(api, { userId: bob, redirectUrl }));
      const crossed = new URL(forBob);
      crossed.searchParams.set('code', forAlice.searchParams.get('code') ?? '');
      const refused = server.exchanges.refused;
      const answer = await hop(crossed.href);
      assertEndedWith(answer, 'exchange_failed', redirectUrl);
      assert.equal(server.exchanges.refused, refused + 1, "the authorization server refused Alice's code with Bob's verifier");
      assert.equal(await connectionOf(alice), null);
      assert.equal(await connectionOf(bob), null);
    });

    it('an expired session ends on a page that says so, before consent or after it', async () => {
      const [early, late] = [uniqueId('early'), uniqueId('late')];
      const unopened = await newSession(shortLived, { userId: early, redirectUrl });
      const opened = await toCallback(await newSession(shortLived, { userId: late, redirectUrl }));
      const session = await store.connectSessions.get(opened.searchParams.get('state')?.split('.')[0] ?? '');
      await waitFor(() => Date.now() > Date.parse(session?.expiresAt ?? '') + 50, 'the sessions to expire', 10_000);
      assertEndedWith(await hop(unopened), 'session_expired', redirectUrl);
      assertEndedWith(await hop(opened.href), 'session_expired', redirectUrl);
      assert.equal(await connectionOf(early), null);
      assert.equal(await connectionOf(late), null);
    });

    it('a denied consent goes back to the app with status=denied, and stores nothing', async () => {
      const userId = uniqueId('denied');
      server.configure({ deny: true });
      try {
        const answer = await hop((await toCallback(await newSession(api, { userId, redirectUrl }))).href);
        assert.equal(answer.status, 400);
        const { title, backTo } = endPage(answer);
        assert.equal(title, 'Access was not allowed');
        assert.equal(backTo?.searchParams.get('status'), 'denied');
      } finally {
        server.configure({ deny: false });
      }
      assert.equal(await connectionOf(userId), null);
    });

    it('refuses a redirectUrl on an origin the tenant did not allow, and a link it did not issue', async () => {
      const userId = uniqueId('elsewhere');
      const res = await api.call('POST', '/v1/connect-sessions', { userId, provider: 'google-people', redirectUrl: 'https://evil.example/steal' });
      assert.match(expectError(res, 422, 'redirect_not_allowed').message, /PUT \/v1\/connect-settings/);
      const loopback = await api.call('POST', '/v1/connect-sessions', { userId, provider: 'google-people', redirectUrl: 'http://127.0.0.1:1/' });
      expectError(loopback, 422, 'redirect_not_allowed');
      expectError(await api.call('POST', '/v1/connect-sessions', { userId, provider: 'file', redirectUrl }), 422, 'validation_failed');
      const settings = await api.call('PUT', '/v1/connect-settings', { redirectOrigins: ['https://app.example.com/with/path'] });
      expectError(settings, 422, 'validation_failed');

      const made = await hop(`${api.url}/connect/cs_AAAAAAAAAAAAAAAAAAAAAA.${'A'.repeat(43)}`);
      assert.equal(made.status, 404);
      assert.equal(endPage(made).title, 'Your account was not connected');
      assert.equal(endPage(made).backTo, null, 'no app to go back to');
      assert.match(made.body, /not one this service issued/);
    });

    it('an import by a connection needing re-auth or revoked is refused with what to do', async () => {
      const userId = uniqueId('stale');
      const { connectionId } = await connect(api, userId, redirectUrl);
      const kept = await connectionOf(userId);
      await store.connections.markNeedsReauth({ tenant: TENANT, userId, provider: 'google-people' }, kept?.generation ?? 0);
      const waiting = await api.call('POST', '/v1/imports', { userId, source: { connection: connectionId } });
      assert.match(expectError(waiting, 409, 'connection_needs_reauth').message, /connect session/);
      await store.connections.revoke(TENANT, connectionId);
      expectError(await api.call('POST', '/v1/imports', { userId, source: { connection: connectionId } }), 409, 'connection_revoked');
      expectError(await api.call('POST', '/v1/imports', { userId, source: { connection: 'con_AAAAAAAAAAAAAAAAAAAAAA' } }), 422, 'unknown_connection');
    });
  });
}
