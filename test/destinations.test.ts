/**
 * User-supplied source URLs (a CardDAV `url`) may not reach loopback or private addresses, so no
 * tenant's user can make a worker call internal services and read the answers back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { openSource, readProviderSettings } from '../providers';
import { checkDestination, isPrivateAddress } from '../providers/kit/destinations';
import { FAILURE_TYPES } from '../workflows/contract';

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('the destination was not refused');
}

describe('destinations of user-supplied URLs', () => {
  it('counts loopback, private, link-local, CGNAT and metadata addresses as private, and public ones not', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      assert.equal(isPrivateAddress(address), true, `${address} is private`);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isPrivateAddress(address), false, `${address} is public`);
    }
  });

  it('refuses a loopback address, by IP or by name, without retries, unless private addresses are allowed', async () => {
    for (const url of ['http://127.0.0.1:5232/', 'http://localhost:5232/', 'http://[::1]:5232/', 'http://169.254.169.254/latest/']) {
      const failure = await refusal(checkDestination(new URL(url), false, 'CardDAV'));
      assert.equal(failure.type, FAILURE_TYPES.providerInvalidRequest);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /loopback or private-network address/);
    }
    await checkDestination(new URL('http://127.0.0.1:5232/'), true, 'CardDAV');
    await checkDestination(new URL('https://93.184.216.34/'), false, 'CardDAV');
  });

  it('makes a CardDAV import of a loopback URL fail at once on a worker that does not allow them', async () => {
    const source = await openSource(
      'carddav',
      JSON.stringify({ url: 'http://127.0.0.1:9/', username: 'alice', password: 'secret-pw' }),
      { providers: readProviderSettings({}) },
      { tenant: 'default', userId: 'alice' },
    );
    const failure = await refusal(source.fetchPage({ cursor: null, pageSize: 10, signal: new AbortController().signal }));
    assert.equal(failure.type, FAILURE_TYPES.providerInvalidRequest);
    assert.equal(failure.nonRetryable, true);
    assert.ok(!failure.message.includes('secret-pw'));
  });
});
