/**
 * The last step of `npm run build`: bundles the compiled workflow code once, into
 * `dist/workflow-bundle.js`, so compiled workers load it instead of bundling at every start
 * (worker/bundle-workflows.ts).
 */
import fs from 'node:fs';
import { BUILT_BUNDLE_PATH, bundleWorkflowsInThread } from '../worker/bundle-workflows';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowsInThread();
  fs.writeFileSync(BUILT_BUNDLE_PATH, code);
  console.log(`build: workflow bundle written to ${BUILT_BUNDLE_PATH} (${Math.round(code.length / 1024)} KB)`);
}

main().catch((err: unknown) => {
  console.error(`build: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
