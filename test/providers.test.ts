/**
 * The provider registry (`providers/index.ts`): the one list of providers, what derives from it, and
 * where it refuses a name it does not list. No server: definitions and pure functions only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { decodeImportId, encodeImportId } from '../api/imports';
import { PROVIDER_IDS, SCHEDULE_PROVIDER_IDS, isProviderId, openSource, readProviderSettings } from '../providers';
import { FAILURE_TYPES, Provider } from '../workflows/contract';

const SOURCES = { providers: readProviderSettings({}) };
const OWNER = { tenant: 'default', userId: 'alice' };
const RUN_ID = '0b6a1c9e-3f7d-4a52-9c1e-2d8f5b7a6c43';

/** Asserts `open` throws a non-retryable `InvalidImportInput`, then `check`s it further. */
function assertRefused(open: () => unknown, check: (failure: ApplicationFailure) => void = () => undefined): void {
  assert.throws(open, (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error)}`);
    assert.equal(error.type, FAILURE_TYPES.invalidImportInput, error.message);
    assert.equal(error.nonRetryable, true);
    check(error);
    return true;
  });
}

void describe('the provider registry', () => {
  void it('lists each provider once, with a name the contract accepts, and schedules only those that can be', () => {
    assert.deepEqual(PROVIDER_IDS, ['google-people', 'carddav', 'file']);
    assert.deepEqual(SCHEDULE_PROVIDER_IDS, ['google-people', 'carddav']);
    for (const id of PROVIDER_IDS) assert.ok(Provider.safeParse(id).success, `${id} is a provider name`);
  });

  void it('refuses a provider it does not list when a source is opened, without retrying', () => {
    assert.equal(isProviderId('myspace'), false);
    assertRefused(
      () => openSource('myspace', '{}', SOURCES, OWNER),
      (failure) => assert.match(failure.message, /myspace/),
    );
  });

  void it("refuses credentials its provider's schema does not read, without quoting them", () => {
    for (const [provider, credentials] of [
      ['google-people', 'ya29.a-bare-access-token'],
      ['google-people', '{"accessToken":null,"refreshToken":null}'],
      ['carddav', '{"url":"ftp://x","password":"hunter2"}'],
      ['file', '{"upload":"upl_x"}'],
    ] as const) {
      assertRefused(
        () => openSource(provider, credentials, SOURCES, OWNER),
        (failure) => assert.ok(!failure.message.includes('hunter2') && !failure.message.includes('ya29'), failure.message),
      );
    }
  });

  void it('decodes no import id of a provider it does not list', () => {
    const ref = { tenant: 'acme', userId: 'u1', firstRunId: RUN_ID };
    assert.equal(decodeImportId(encodeImportId({ ...ref, provider: 'carddav' }))?.provider, 'carddav');
    assert.equal(decodeImportId(encodeImportId({ ...ref, provider: 'myspace' })), null);
  });
});
