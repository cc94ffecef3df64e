/**
 * The workflow contract's schemas on their own: what they accept, what they refuse, and that the
 * names operators type (workflow type, search attributes) match the code. Pure: no Temporal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImportContacts } from '../workflows';
import { BatchHeartbeat, EMPTY_CHECKPOINT, ImportCheckpoint, isFinished } from '../workflows/checkpoint';
import {
  DEFAULT_TENANT,
  eraseWorkflowId,
  ImportInput,
  ImportMemo,
  importWorkflowId,
  parseOrNull,
  RunStatus,
  SEARCH_ATTRIBUTE_DEFINITIONS,
  searchAttributes,
  TenantId,
  WORKFLOW_TYPE,
  type ImportStatus,
} from '../workflows/contract';

const checkpoint: ImportCheckpoint = { cursor: 'page-3', fetched: 300, saved: 300, rejected: 0, pages: 3, total: 1_500, deleted: 0 };

const status: ImportStatus = {
  state: 'running',
  fetched: 300,
  saved: 300,
  rejected: 0,
  pages: 3,
  total: 1_500,
  startedAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:01:00.000Z',
};

const input = {
  tenant: 'acme',
  userId: 'user-42',
  provider: 'google-people',
  tuning: { pageSize: 100, pagesPerBatch: 2, maxBatchesPerRun: 10, reauthTimeoutSeconds: 0, giveUpAfterSeconds: 86_400 },
  startedAt: '2025-01-01T00:00:00.000Z',
  mode: 'auto',
};

describe('parseOrNull', () => {
  it('answers the parsed value when it matches', () => {
    const result = parseOrNull(ImportCheckpoint, checkpoint);
    assert.deepEqual(result, { value: checkpoint });
  });

  it('answers null with the first problem and where it is when it does not', () => {
    const result = parseOrNull(ImportCheckpoint, { ...checkpoint, saved: -1 });
    assert.equal(result.value, null);
    assert.match(result.problem ?? '', /^saved: /, `the problem names the field: ${result.problem}`);
    const notAnObject = parseOrNull(ImportCheckpoint, 'checkpoint');
    assert.equal(notAnObject.value, null);
    assert.equal(typeof notAnObject.problem, 'string');
  });
});

describe('ImportInput', () => {
  it('accepts the current shape', () => {
    const parsed = ImportInput.parse({ ...input, sealedCredentials: 'v1.sealed' });
    assert.equal(parsed.sealedCredentials, 'v1.sealed');
    assert.equal(parsed.carried, undefined);
  });

  it('refuses an input whose tenant is not a tenant id', () => {
    for (const tenant of ['', 'Acme', 'a/b', '-a', 'a'.repeat(64), 42]) {
      assert.match(parseOrNull(ImportInput, { ...input, tenant, sealedCredentials: 'x' }).problem ?? '', /tenant/, JSON.stringify(tenant));
    }
  });

  it('refuses an input without credentials, or whose provider is not a provider name', () => {
    assert.match(parseOrNull(ImportInput, input).problem ?? '', /sealedCredentials/);
    assert.match(parseOrNull(ImportInput, { ...input, sealedCredentials: 'x', provider: 'My Space' }).problem ?? '', /provider/);
    assert.match(
      parseOrNull(ImportInput, { ...input, sealedCredentials: 'x', tuning: { ...input.tuning, pageSize: 5000 } }).problem ?? '',
      /tuning\.pageSize/,
    );
  });
});

describe('BatchHeartbeat', () => {
  it('accepts what a batch heartbeats', () => {
    assert.deepEqual(parseOrNull(BatchHeartbeat, { checkpoint, pagesThisBatch: 2 }).value, { checkpoint, pagesThisBatch: 2 });
  });

  it('refuses malformed details, so a batch never resumes from them', () => {
    const malformed: Array<[unknown, RegExp]> = [
      [undefined, /./],
      [{ checkpoint }, /pagesThisBatch/],
      [{ checkpoint: { ...checkpoint, cursor: 3 }, pagesThisBatch: 1 }, /checkpoint\.cursor/],
      [{ checkpoint: { ...checkpoint, fetched: 1.5 }, pagesThisBatch: 1 }, /checkpoint\.fetched/],
      [{ checkpoint: { ...checkpoint, total: -1 }, pagesThisBatch: 1 }, /checkpoint\.total/],
      [{ checkpoint, pagesThisBatch: '2' }, /pagesThisBatch/],
    ];
    for (const [value, problem] of malformed) {
      const result = parseOrNull(BatchHeartbeat, value);
      assert.equal(result.value, null, `refuses ${JSON.stringify(value)}`);
      assert.match(result.problem ?? '', problem);
    }
  });
});

describe('ImportMemo', () => {
  it('accepts an empty memo, a start token and a progress', () => {
    assert.deepEqual(parseOrNull(ImportMemo, {}).value, {});
    assert.deepEqual(parseOrNull(ImportMemo, { startToken: 'abc' }).value, { startToken: 'abc' });
    assert.deepEqual(parseOrNull(ImportMemo, { progress: status }).value, { progress: status });
  });

  it('refuses a malformed progress or start token, so the API does not report it', () => {
    const malformed: Array<[unknown, RegExp]> = [
      [{ progress: { ...status, state: 'exploded' } }, /progress\.state/],
      [{ progress: { ...status, saved: -3 } }, /progress\.saved/],
      [{ progress: { ...status, startedAt: undefined } }, /progress\.startedAt/],
      [{ startToken: 42 }, /startToken/],
      [null, /./],
    ];
    for (const [value, problem] of malformed) {
      const result = parseOrNull(ImportMemo, value);
      assert.equal(result.value, null, `refuses ${JSON.stringify(value)}`);
      assert.match(result.problem ?? '', problem);
    }
  });
});

describe('RunStatus', () => {
  it('is the status plus the run that answered', () => {
    const answer = { ...status, runId: 'run-2', firstExecutionRunId: 'run-1', samples: [] };
    assert.deepEqual(parseOrNull(RunStatus, answer).value, answer);
    assert.match(parseOrNull(RunStatus, status).problem ?? '', /runId/);
  });
});

describe('checkpoints', () => {
  it('are finished only after a page was read and it named no next one', () => {
    assert.equal(isFinished(EMPTY_CHECKPOINT), false, 'nothing read yet');
    assert.equal(isFinished({ ...checkpoint, cursor: 'page-4' }), false, 'more pages to come');
    assert.equal(isFinished({ ...checkpoint, cursor: null }), true);
  });
});

describe('names operators use', () => {
  it('names one workflow per tenant, provider and user', () => {
    assert.equal(importWorkflowId({ tenant: 'acme', userId: 'alice' }, 'google-people'), 'import-contacts/acme/google-people/alice');
    assert.equal(eraseWorkflowId({ tenant: 'acme', userId: 'alice' }), 'erase-user/acme/alice');
    assert.equal(TenantId.safeParse(DEFAULT_TENANT).success, true, 'the default tenant is a tenant id');
  });

  it('names the workflow type after the workflow function', () => {
    assert.equal(WORKFLOW_TYPE, ImportContacts.name);
  });

  it('defines the search attributes with the CLI type names temporal:setup registers', () => {
    assert.deepEqual(SEARCH_ATTRIBUTE_DEFINITIONS, [
      { name: 'ImportTenant', type: 'Keyword' },
      { name: 'ImportUserId', type: 'Keyword' },
      { name: 'ImportProvider', type: 'Keyword' },
      { name: 'ImportState', type: 'Keyword' },
      { name: 'ContactsSaved', type: 'Int' },
    ]);
    assert.deepEqual(
      SEARCH_ATTRIBUTE_DEFINITIONS.map((definition) => definition.name),
      Object.values(searchAttributes).map((key) => key.name),
      'one definition per search attribute the workflow sets',
    );
  });
});
