/**
 * A page decode thread (`page-decoder.ts`): fetches and decodes each page it is asked for, and
 * answers with the outcome. It keeps nothing between pages but the requests in progress, so that a
 * cancellation can abort one.
 */
import { parentPort } from 'node:worker_threads';
import { requestConnections, type PageRequestSpec } from './page';

if (parentPort === null) throw new Error('page-decoder-thread runs as a worker thread (see page-decoder.ts)');
const port = parentPort;
const inProgress = new Map<number, AbortController>();

port.on('message', (message: { id: number; spec: PageRequestSpec } | { id: number; cancel: true }) => {
  if ('cancel' in message) {
    inProgress.get(message.id)?.abort();
    return;
  }
  const { id, spec } = message;
  const controller = new AbortController();
  inProgress.set(id, controller);
  void requestConnections(spec, true, controller.signal).then((outcome) => {
    inProgress.delete(id);
    port.postMessage({ id, outcome });
  });
});
