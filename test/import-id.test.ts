/**
 * Import ids on their own: what `encodeImportId` writes, what `decodeImportId` reads back and what
 * it refuses. Pure: no Temporal. The HTTP answers to refused ids are in api-imports.test.ts and
 * api-health.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProviderId } from '../providers';
import { decodeImportId, encodeImportId, resolveImportId, type ImportRef } from '../workflows/import-id';

const RUN_ID = '01a2236e-fd33-7b63-bc70-63ad57a65ce5';
const ref: Omit<ImportRef, 'workflowId'> = { tenant: 'acme', provider: 'google-people', userId: 'alice', firstRunId: RUN_ID };

/** An id written with Node's own base64url, as the parts given. */
const idOf = (parts: unknown): string => `imp_${Buffer.from(JSON.stringify(parts)).toString('base64url')}`;

describe('import ids', () => {
  it('read back as the import they name, with its workflow ID', () => {
    assert.deepEqual(decodeImportId(encodeImportId(ref), isProviderId), { ...ref, workflowId: 'import-contacts/acme/google-people/alice' });
  });

  it("are Node's base64url of the JSON parts, for any user id", () => {
    // Lengths that leave 0, 1 and 2 bytes over a multiple of three, and characters of 1 to 4 UTF-8 bytes.
    for (const userId of ['a', 'ab', 'abc', 'user-42', 'zoë', 'ユーザー', 'emoji-😀', '"quoted"/\\slashed']) {
      const parts = { ...ref, userId };
      const id = encodeImportId(parts);
      assert.equal(id, idOf([parts.tenant, parts.provider, parts.userId, parts.firstRunId]), `the id of user ${userId}`);
      assert.equal(decodeImportId(id, isProviderId)?.userId, userId);
    }
  });

  it('need no Buffer, as in the workflow sandbox', () => {
    const { Buffer: nodeBuffer } = globalThis;
    const expected = idOf([ref.tenant, ref.provider, ref.userId, ref.firstRunId]);
    try {
      Reflect.deleteProperty(globalThis, 'Buffer');
      assert.equal(encodeImportId(ref), expected);
      assert.equal(decodeImportId(expected, isProviderId)?.userId, ref.userId);
    } finally {
      globalThis.Buffer = nodeBuffer;
    }
  });

  it('refuse a three-part id (provider, user, run: no tenant)', () => {
    assert.equal(decodeImportId(idOf(['google-people', 'alice', RUN_ID]), isProviderId), null);
    assert.equal(resolveImportId('default', idOf(['google-people', 'alice', RUN_ID]), isProviderId), null);
  });

  it('refuse what this API never issued', () => {
    const good = encodeImportId(ref);
    for (const importId of [
      'not-an-import',
      'imp_',
      `${good}=`,
      `${good.slice(0, -1)}+`,
      `${good}x`,
      `imp_${'A'.repeat(1100)}`,
      idOf([ref.tenant, ref.provider, ref.userId, 'not-a-run-id']),
      idOf([ref.tenant, 'myspace', ref.userId, RUN_ID]),
      idOf(['Not A Tenant', ref.provider, ref.userId, RUN_ID]),
      idOf([ref.tenant, ref.provider, '', RUN_ID]),
      idOf([ref.tenant, ref.provider, ref.userId, RUN_ID, 'extra']),
      idOf({ tenant: ref.tenant }),
      'imp_bm90IGpzb24',
    ]) {
      assert.equal(decodeImportId(importId, isProviderId), null, `refuses ${importId.slice(0, 60)}`);
    }
  });

  it("are another tenant's unknown id", () => {
    const id = encodeImportId(ref);
    assert.equal(resolveImportId('acme', id, isProviderId)?.userId, 'alice');
    assert.equal(resolveImportId('globex', id, isProviderId), null);
  });
});
