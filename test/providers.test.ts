/**
 * The provider registry (`providers/index.ts`): the one list of providers, what derives from it, and
 * how it refuses a name it does not list when a source is opened (import ids: import-id.test.ts). No
 * server: definitions and pure functions only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { PROVIDER_IDS, SCHEDULE_PROVIDER_IDS, isProviderId, openSource, readProviderSettings } from '../providers';
import { FAILURE_TYPES, Provider } from '../workflows/contract';

const SOURCES = { providers: readProviderSettings({}) };
const OWNER = { tenant: 'default', userId: 'alice' };

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
    assert.deepEqual(PROVIDER_IDS, ['google-people', 'microsoft-graph', 'carddav', 'file']);
    assert.deepEqual(SCHEDULE_PROVIDER_IDS, ['google-people', 'microsoft-graph', 'carddav']);
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
      ['microsoft-graph', '{"accessToken":"eyJ0-secret","refreshToken":"rt-secret"}'],
      ['carddav', '{"url":"ftp://x","password":"hunter2"}'],
      ['file', '{"upload":"upl_x"}'],
    ] as const) {
      assertRefused(
        () => openSource(provider, credentials, SOURCES, OWNER),
        (failure) => assert.ok(!/hunter2|ya29|secret/.test(failure.message), failure.message),
      );
    }
  });
});
