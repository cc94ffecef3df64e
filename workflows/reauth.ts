/**
 * Re-auth instead of failure: when a provider rejects an import's credentials for good (a 401 no
 * refresh could fix, or a refresh token answered `invalid_grant`), the import does not fail. It
 * waits in `needs_reauth` on a workflow condition (no activity, so no worker slot), keeping its
 * checkpoint, until the `credentials` update brings new sealed credentials or its re-auth window
 * (`REAUTH_TIMEOUT`) ends.
 *
 * Sandbox-safe: zod and Temporal's workflow API only.
 */
import { z } from 'zod';
import { ActivityFailure, ApplicationFailure, condition, defineUpdate, setHandler } from '@temporalio/workflow';
import { FAILURE_TYPES, type ImportTuning, type RunStatus } from './contract';

/** What the `credentials` update carries: the new credentials, sealed like the input's. Never in clear. */
export const CredentialsUpdateInput = z.object({ sealedCredentials: z.string().min(1).max(16_384) });
export type CredentialsUpdateInput = z.infer<typeof CredentialsUpdateInput>;

/**
 * Update `credentials`: new credentials for an import in `needs_reauth`; it resumes from its
 * checkpoint. Its validator refuses it (nothing is written to history) when the import is not
 * waiting for credentials, so the API can answer 409. Answers the status as it resumes.
 */
export const credentialsUpdate = defineUpdate<RunStatus, [CredentialsUpdateInput]>('credentials');

/** Why an import waits: the provider's failure, when it is one that new credentials can fix. */
export function credentialsRejection(err: unknown, tuning: ImportTuning): ApplicationFailure | undefined {
  // REAUTH_TIMEOUT=0: no window to wait in, the import fails at once.
  if (!tuning.reauthTimeoutSeconds) return undefined;
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.providerUnauthenticated ? cause : undefined;
}

/** "7 days", "2 hours", "30 seconds": the window in words, for the failure a person reads. */
export function describeWindow(seconds: number): string {
  const units = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ] as const;
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${name}${seconds === size ? '' : 's'}`;
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/**
 * Registers the `credentials` update and waits for it on request. `status` answers the update.
 */
export function createReauthGate(status: () => RunStatus) {
  let waiting = false;
  let renewed: string | null = null;
  setHandler(
    credentialsUpdate,
    (update) => {
      renewed = update.sealedCredentials;
      return status();
    },
    {
      validator: (update) => {
        CredentialsUpdateInput.parse(update);
        // One set of credentials per wait: a second update before the import resumed is refused.
        if (!waiting || renewed !== null) throw new Error('The import is not waiting for new credentials');
      },
    },
  );
  return {
    /** The new sealed credentials, or `null` once `timeoutSeconds` passed without them. */
    async wait(timeoutSeconds: number): Promise<string | null> {
      waiting = true;
      renewed = null;
      try {
        const arrived = await condition(() => renewed !== null, timeoutSeconds * 1000);
        return arrived ? renewed : null;
      } finally {
        waiting = false;
      }
    },
  };
}

/** The failure an import ends with when nobody reconnected in time. */
export function reauthTimedOut(rejection: ApplicationFailure, timeoutSeconds: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: FAILURE_TYPES.reauthTimedOut,
    message:
      `The user did not reconnect within ${describeWindow(timeoutSeconds)}, so the import stopped. ` +
      `It was waiting because: ${rejection.message}`,
    nonRetryable: true,
  });
}
