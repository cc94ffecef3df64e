/**
 * Bundles the workflow code for the sandbox in a short-lived thread: the worker, the test runner
 * and the test harness all bundle through here. Webpack needs a few hundred
 * MB while it works; in the worker's own heap that memory would stay mapped for the worker's whole
 * life, in a thread it goes when the thread ends.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { FAILURE_CONVERTER_PATH } from '../encryption/data-converter';
import { WORKFLOWS_PATH } from './create-worker';

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { bundleWorkflowCode } = require(workerData.bundler);
// The bundler reports every module it packs; only its warnings and errors are worth reading.
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error };
// The sandbox converts workflow failures itself, so it needs the same failure converter as the worker.
bundleWorkflowCode({ workflowsPath: workerData.workflowsPath, failureConverterPath: workerData.failureConverterPath, logger: quiet }).then(
  (bundle) => parentPort.postMessage({ code: bundle.code }),
  (err) => parentPort.postMessage({ error: String(err && err.stack || err) }),
);
`;

/** The bundled workflow code, ready for `Worker.create({ workflowBundle: { code } })`. */
export function bundleWorkflowsInThread(workflowsPath: string = WORKFLOWS_PATH): Promise<{ code: string }> {
  return new Promise((resolve, reject) => {
    const thread = new Thread(THREAD_SOURCE, {
      eval: true,
      workerData: {
        bundler: require.resolve('@temporalio/worker/lib/workflow/bundler'),
        workflowsPath,
        failureConverterPath: FAILURE_CONVERTER_PATH,
      },
    });
    thread.once('message', (message: { code?: string; error?: string }) => {
      void thread.terminate();
      if (message.code !== undefined) resolve({ code: message.code });
      else reject(new Error(`Bundling the workflow code failed: ${message.error}`));
    });
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`The workflow bundling thread exited (code ${code}) without a bundle`)));
  });
}

/**
 * Where `npm run build` writes the bundle of the compiled workflow code (`dist/workflow-bundle.js`,
 * by scripts/build-workflow-bundle.ts), beside the compiled worker's folder.
 */
export const BUILT_BUNDLE_PATH = path.join(__dirname, '..', 'workflow-bundle.js');

/**
 * The workflow code for the worker: the bundle built with it when this is the compiled worker and
 * the build wrote one, else bundled now. A worker that does not bundle never loads webpack, and
 * keeps less resident for its whole life, because the allocator holds on to what the bundling
 * thread used (measured in bench/README.md, "Worker memory"); it also starts sooner.
 */
export function workerWorkflowBundle(): Promise<{ code: string } | { codePath: string }> {
  if (path.extname(__filename) === '.js' && fs.existsSync(BUILT_BUNDLE_PATH)) return Promise.resolve({ codePath: BUILT_BUNDLE_PATH });
  return bundleWorkflowsInThread();
}
