/**
 * `EraseUser`: removes what we hold of one user of one tenant. It first cancels the user's running
 * imports and waits until they have stopped, so no batch can save a page after the delete; then it
 * revokes the user's connections at their providers, and deletes the user's contacts and
 * connections. Durable: a crash between the steps resumes, not restarts, and running it again is
 * harmless.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ImportActivities } from '../activities';
import { EraseUserInput, readInput, type EraseUserResult } from './contract';

const { cancelUserImports, deleteUserData, deleteUserSchedules, revokeUserConnections } = proxyActivities<ImportActivities>({
  // Waiting for a cancelled import to stop takes at most a page; the heartbeat notices a dead worker.
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export async function EraseUser(rawInput: EraseUserInput): Promise<EraseUserResult> {
  const input = readInput(EraseUserInput, rawInput, 'erasure input');
  // First, so no schedule starts an import of the user meanwhile.
  await deleteUserSchedules(input);
  const cancelledImports = await cancelUserImports(input);
  // Before the delete, which forgets the secrets to revoke.
  await revokeUserConnections(input);
  const deletedContacts = await deleteUserData(input);
  return { cancelledImports, deletedContacts };
}
