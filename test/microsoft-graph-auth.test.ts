/**
 * Microsoft Graph imports end to end, beyond reading: credentials the Microsoft identity platform
 * refuses (`needs_reauth`, then new credentials finish the import), contacts that are not Graph's
 * shape (rejects), and the mailbox's budget of 4 requests at once. The tests' Graph look-alike, the
 * API on a real port and a real worker; SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RejectPage } from '../api/schemas';
import { MAILBOX_CONCURRENCY } from '../providers/microsoft-graph/budgets';
import { FAILURE_TYPES } from '../workflows/contract';
import { expectImport, expectJson, type ImportView } from './support/api';
import { graphContact } from './support/graph-lookalike';
import { SEEDED_COUNT, graphBedFor } from './support/graph-bed';
import { storeCases, waitFor } from './support/harness';

const TENANT = 'graph-auth';

for (const storeCase of storeCases()) {
  describe(`Microsoft Graph credentials, rejects and limits on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    const useBed = graphBedFor(storeCase, TENANT);

    const reached = (importId: string, state: ImportView['state']) =>
      waitFor(async () => {
        const status = await useBed().api.getImport(importId);
        return status.state === state && status;
      }, `import ${state}`);

    it('waits in needs_reauth when the user revokes access mid-import, and new credentials finish it: every contact once', async () => {
      const bed = useBed();
      const { graph, api } = bed;
      const userId = bed.seed('revoked');
      graph.resetStats();
      // Requests 1-3 list the folders, 4 and 5 read two pages; the user revokes access before the sixth.
      graph.onRequest = (n) => {
        if (n !== 6) return;
        graph.revokeAccessTokens(userId);
        graph.revoked.add(`rt-${userId}`);
      };
      const started = expectImport(await api.call('POST', '/v1/imports', { userId, source: bed.source(userId, { refreshToken: `rt-${userId}` }) }), 202);
      const waiting = await reached(started.importId, 'needs_reauth');
      assert.equal(waiting.errorType, FAILURE_TYPES.providerUnauthenticated);
      assert.match(waiting.error ?? '', /invalid_grant/, 'the refresh was refused, and the status says so');
      assert.equal(waiting.saved, 10, 'the two pages read before are kept');
      assert.ok(graph.stats.tokenRequests >= 2, 'the first access token came from the refresh token, and a refresh was tried after the 401');
      assert.ok(graph.stats.tokenScopes.every((scope) => scope === 'https://graph.microsoft.com/Contacts.Read offline_access'), 'each refresh names its scopes');

      const renewed = await api.call('POST', `/v1/imports/${started.importId}/credentials`, { source: bed.source(userId, { refreshToken: `rt-${userId}~2` }) });
      expectImport(renewed, 202);
      const done = await reached(started.importId, 'completed');
      assert.equal(done.saved, SEEDED_COUNT);
      assert.equal(await bed.contacts.countContacts(userId), SEEDED_COUNT);
      for (const [id, times] of graph.stats.served) assert.equal(times, 1, `${id} was served ${times} times: the import resumed where it stopped`);
      const kept = await bed.store.connections.get({ tenant: TENANT, userId, provider: 'microsoft-graph' });
      assert.ok(kept?.sealedSecret, 'the rotated refresh token is kept, sealed');
    });

    it('waits in needs_reauth on a 401 for an access token alone, and a new access token finishes it', async () => {
      const bed = useBed();
      const { graph, api } = bed;
      const userId = bed.seed('plain');
      graph.revoked.add(`at-${userId}`);
      const started = expectImport(await api.call('POST', '/v1/imports', { userId, source: bed.source(userId) }), 202);
      const waiting = await reached(started.importId, 'needs_reauth');
      assert.match(waiting.error ?? '', /401/);
      assert.doesNotMatch(waiting.error ?? '', new RegExp(`at-${userId}`), 'the token is not echoed');
      expectImport(await api.call('POST', `/v1/imports/${started.importId}/credentials`, { source: bed.source(userId, { accessToken: `at-${userId}~2` }) }), 202);
      assert.equal((await reached(started.importId, 'completed')).saved, SEEDED_COUNT);
    });

    it("lists contacts that are not Graph's shape as rejects and saves the rest", async () => {
      const bed = useBed();
      const { graph, api } = bed;
      const userId = bed.seed('poison');
      graph.put(userId, 'work', { id: 'poison-1', emailAddresses: { address: 'not-a-list@example.com' } });
      graph.put(userId, 'team', { displayName: 'No id at all' });
      const done = await bed.importOnce({ userId, source: bed.source(userId) });
      assert.equal(done.saved, SEEDED_COUNT);
      assert.equal(done.rejected, 2);
      const rejects = expectJson(await api.call('GET', `/v1/imports/${done.importId}/rejects`), 200, RejectPage).items;
      const byReason = Object.fromEntries(rejects.map((reject) => [reject.reason, reject]));
      assert.equal(byReason.invalid_record?.position, 'poison-1');
      assert.match(byReason.invalid_record?.message ?? '', /emailAddresses: expected an array, got object/);
      assert.match(byReason.no_identity?.position ?? '', /^folder 3 page \w+ item 3$/);
      assert.match(byReason.no_identity?.excerpt ?? '', /No id at all/);
    });

    it('never has more than 4 requests at once for one mailbox', async () => {
      const bed = useBed();
      const { graph } = bed;
      const userId = bed.seed('busy');
      for (let i = 0; i < 10; i++) {
        graph.addFolder(userId, `top${i}`);
        graph.addFolder(userId, `child${i}`, `top${i}`);
        graph.put(userId, `child${i}`, graphContact(`c${i}`, 'Ken', `Child ${i}`));
      }
      // Slow enough that the listings overlap whatever the machine's load.
      graph.delayMs = 100;
      const done = await bed.importOnce({ userId, source: bed.source(userId) });
      assert.equal(done.saved, SEEDED_COUNT + 10);
      assert.equal(graph.maxInFlight(userId), MAILBOX_CONCURRENCY, 'its folder listings overlapped up to the bound, and no further');
    });
  });
}
