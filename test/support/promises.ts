/**
 * Watching promises without timing them: "still waiting" is checked after the event loop has run
 * every pending callback (`settle()`), which no amount of machine speed changes.
 */
import assert from 'node:assert/strict';

/** Lets every callback already queued run (promise reactions included): what can happen now, has. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether `promise` has settled once the event loop has caught up. */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await settle();
  return settled;
}

/** Resolves to what the promise rejects with, failing the test when it resolves instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection, but the promise resolved');
}
