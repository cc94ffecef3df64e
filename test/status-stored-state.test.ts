/**
 * `withStoredState`, the store's part of every status answer, on its own: which import's state it
 * reads for which tenant, asked again and again as a polling client does. Pure: a fake store read.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { newImportView } from '../api/imports';
import { withStoredState } from '../api/imports/status-reader';
import { importKey } from '../workflows/contract';
import type { StoredImportState } from '../db/types';

describe('withStoredState', () => {
  it('reads the import key the id names, for its own tenant only, on every answer', async () => {
    const firstRunId = randomUUID();
    const view = newImportView({ tenant: 'acme', provider: 'google-people', userId: 'alice', firstRunId }, firstRunId, new Date().toISOString());
    const asked: Array<[string, string]> = [];
    const storedState = (tenant: string, key: string): Promise<StoredImportState> => {
      asked.push([tenant, key]);
      return Promise.resolve({ progress: null, wait: { until: '2030-01-01T00:00:00.000Z', cause: 'throttled' } });
    };
    const expected: [string, string] = ['acme', importKey(view.workflowId, firstRunId)];
    for (let i = 0; i < 3; i += 1) {
      const answer = await withStoredState(storedState, 'acme', view.importId, view);
      assert.equal(answer.waiting?.reason, 'rate_limited', `answer ${i + 1} carries what the store said`);
    }
    assert.deepEqual(asked, [expected, expected, expected], 'the store is read for every answer, with the key the id names');
    for (let i = 0; i < 2; i += 1) {
      const other = await withStoredState(storedState, 'globex', view.importId, view);
      assert.equal(other, view, "another tenant's request gets nothing from the store");
    }
    assert.equal(asked.length, 3, "another tenant's request reads no state, however often it asks");
  });
});
