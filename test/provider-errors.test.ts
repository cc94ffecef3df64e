/**
 * A provider's own words in a failure message (`describeProviderError`, providers/kit/failures.ts):
 * the status and code first, the words without any credential, on one line and cut short. Each
 * provider's client puts its error bodies through it; the hostile-server tests check them end to end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeProviderError, MAX_PROVIDER_TEXT_CHARS } from '../providers/kit/failures';

describe('describeProviderError', () => {
  it('names the status and the code, then the words', () => {
    assert.equal(describeProviderError({ status: 429, code: 'TooManyRequests', text: 'Too many requests' }), '(429 TooManyRequests): Too many requests');
    assert.equal(describeProviderError({ status: 503 }), '(503)');
    assert.equal(describeProviderError({ status: 502, text: '  \n ' }), '(502)', 'a blank body says nothing');
  });

  it('cuts out the secrets it is given, and anything shaped like a credential', () => {
    const token = 'ya29.a0-very-secret-token';
    const text = [
      `the token ${token} is expired`,
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl',
      '{"refresh_token":"1//refresh-me","client_secret":"shh"}',
      'next: https://graph.example/v1.0/me/contacts?$skiptoken=SKIP123&$top=10',
      'from https://ada:hunter2@dav.example/books/',
      'password=hunter2; api_key: KEY42',
    ].join('\n');
    const words = describeProviderError({ status: 400, code: 'BadRequest', text }, [token]);
    for (const secret of [token, 'eyJhbGciOiJIUzI1NiJ9', 'refresh-me', 'shh', 'SKIP123', 'hunter2', 'KEY42']) {
      assert.ok(!words.includes(secret), `"${secret}" was cut out of: ${words}`);
    }
    assert.match(words, /^\(400 BadRequest\): the token \[redacted\] is expired Authorization: Bearer \[redacted\]/);
  });

  it(`folds the words to one line of at most ${MAX_PROVIDER_TEXT_CHARS} characters, cutting after the secrets are out`, () => {
    const token = 'tok-123456';
    const long = `${'x'.repeat(MAX_PROVIDER_TEXT_CHARS - 4)}\n\n${token}${'y'.repeat(10_000)}`;
    const words = describeProviderError({ status: 500, text: long }, [token]);
    assert.ok(!words.includes('\n'));
    assert.ok(!words.includes('tok-'), 'no first half of a secret cut in two');
    assert.equal(words.length, '(500): '.length + MAX_PROVIDER_TEXT_CHARS + '…'.length);
  });
});
