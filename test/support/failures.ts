/** What a test that expects a failure asserts first: that it is an `ApplicationFailure` (then its `type`). */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';

/** Resolves to the ApplicationFailure the promise rejects with, failing the test otherwise. */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail, but it succeeded');
}
