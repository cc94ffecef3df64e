/**
 * Microsoft Graph imports end to end: the API on a real port, a real worker, the tests' Graph
 * look-alike over HTTP (a default folder, a folder in it and a child folder, pages of 5), once on
 * SQLite and once on PostgreSQL (when `TEST_DATABASE_URL` is set). A full read, then the changes
 * only; an expired delta link and a vanished folder, which the store sweeps per user and provider.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from '@hono/zod-openapi';
import { ChangePage } from '../api/schemas';
import { expectJson } from './support/api';
import { graphContact } from './support/graph-lookalike';
import { SEEDED, SEEDED_COUNT, graphBedFor } from './support/graph-bed';
import { storeCases } from './support/harness';

const TENANT = 'graph';

for (const storeCase of storeCases()) {
  describe(`Microsoft Graph imports on ${storeCase.name}`, { skip: storeCase.skip }, () => {
    const useBed = graphBedFor(storeCase, TENANT);

    const auto = (userId: string) => ({ userId, source: useBed().source(userId) });

    async function feed(userId: string, since: string): Promise<z.infer<typeof ChangePage>> {
      return expectJson(await useBed().api.call('GET', `/v1/users/${userId}/contacts?changedSince=${since}&limit=1000`), 200, ChangePage);
    }

    it('saves every contact of every folder exactly once, waiting out a 429 for as long as its Retry-After says', async () => {
      const bed = useBed();
      const { graph } = bed;
      const userId = bed.seed('all');
      graph.resetStats();
      // Graph requests: 1-3 list the folders, 4-6 read the default folder's pages: throttle its third.
      graph.onRequest = (n) => {
        if (n === 6) graph.faults.push('429');
      };
      const done = await bed.importOnce(auto(userId));
      assert.equal(done.mode, 'full');
      assert.equal(done.saved, SEEDED_COUNT);
      assert.equal(done.total, null, 'Graph says no total');
      assert.equal(await bed.contacts.countContacts(userId, 'microsoft-graph'), SEEDED_COUNT);
      assert.deepEqual(await bed.listedIds(userId), [...SEEDED.contacts, ...SEEDED.team, ...SEEDED.work].sort());
      assert.equal(graph.stats.served.size, SEEDED_COUNT);
      for (const [id, times] of graph.stats.served) assert.equal(times, 1, `${id} was served ${times} times: a retry re-read a saved page`);

      const [faultAt] = graph.stats.faultTimes;
      assert.ok(faultAt !== undefined, 'the 429 was answered');
      const retriedAt = graph.stats.requestsAt.find((at) => at > faultAt);
      assert.ok(retriedAt !== undefined && retriedAt - faultAt >= 950, `the next request came ${(retriedAt ?? 0) - faultAt} ms after the 429 (Retry-After: 1)`);
      assert.ok(await bed.store.syncState.get(TENANT, userId, 'microsoft-graph'), 'the full read left its delta links');
    });

    it('reads only the changes the second time, and applies deletions from any folder', async () => {
      const bed = useBed();
      const { graph } = bed;
      const userId = bed.seed('changes');
      await bed.importOnce(auto(userId));
      const before = await feed(userId, '0');
      graph.put(userId, 'contacts', graphContact('d1', 'Ada', 'contacts 1', 1));
      graph.remove(userId, 'contacts', 'd2');
      graph.remove(userId, 'work', 'w3');
      graph.put(userId, 'team', graphContact('t9', 'Grace', 'Hopper'));
      graph.resetStats();

      const second = await bed.importOnce(auto(userId));
      assert.equal(second.mode, 'incremental');
      assert.equal(second.saved, 2, 'the edited and the added contact');
      assert.equal(second.deleted, 2);
      assert.deepEqual([...graph.stats.served.keys()].sort(), ['d1', 'd2', 't9', 'w3'], 'Graph served the changes only');
      assert.equal(await bed.contacts.countContacts(userId), SEEDED_COUNT - 2 + 1);
      const ids = await bed.listedIds(userId);
      assert.ok(!ids.includes('d2') && !ids.includes('w3') && ids.includes('t9'));

      const changes = await feed(userId, before.cursor);
      assert.deepEqual(changes.items.filter((item) => item.change === 'delete').map((item) => item.externalId).sort(), ['d2', 'w3']);
      assert.deepEqual(changes.items.filter((item) => item.change === 'upsert').map((item) => item.externalId).sort(), ['d1', 't9']);
    });

    it("falls back to a full read when one folder's delta link expired, sweeping what was deleted and nothing of the other folders", async () => {
      const bed = useBed();
      const { graph } = bed;
      const userId = bed.seed('expired');
      await bed.importOnce(auto(userId));
      graph.remove(userId, 'work', 'w5');
      graph.expire(userId, 'work');
      graph.resetStats();

      const again = await bed.importOnce(auto(userId));
      assert.equal(again.mode, 'full', 'an expired link reads everything');
      assert.equal(again.deleted, 1, 'the sweep removed the one contact deleted meanwhile, and no other');
      assert.equal(await bed.contacts.countContacts(userId), SEEDED_COUNT - 1);
      assert.deepEqual(await bed.listedIds(userId), [...SEEDED.contacts, ...SEEDED.team, ...SEEDED.work.filter((id) => id !== 'w5')].sort());

      const next = await bed.importOnce(auto(userId));
      assert.equal(next.mode, 'incremental', 'the full read left fresh delta links');
      assert.equal(next.saved, 0);
    });

    it('sweeps the contacts of a folder that disappeared, and reads a new folder from its start without a full read', async () => {
      const bed = useBed();
      const { graph } = bed;
      const userId = bed.seed('folders');
      await bed.importOnce(auto(userId));
      graph.addFolder(userId, 'fresh');
      graph.put(userId, 'fresh', graphContact('f0', 'Hedy', 'Lamarr'));
      graph.put(userId, 'fresh', graphContact('f1', 'Radia', 'Perlman'));
      const added = await bed.importOnce(auto(userId));
      assert.deepEqual([added.mode, added.saved, added.deleted ?? 0], ['incremental', 2, 0]);

      graph.removeFolder(userId, 'team');
      const swept = await bed.importOnce(auto(userId));
      assert.equal(swept.mode, 'full', 'a folder that is gone cannot say what it held: read everything');
      assert.equal(swept.deleted, SEEDED.team.length);
      const ids = await bed.listedIds(userId);
      assert.ok(SEEDED.team.every((id) => !ids.includes(id)), `the team folder's contacts are gone: ${ids.join(', ')}`);
      assert.equal(ids.length, SEEDED_COUNT - SEEDED.team.length + 2);
    });
  });
}
