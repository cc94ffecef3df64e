import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startDevServer } from '../scripts/temporal-cli';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/contract';
import { threadCpu } from './cpu-split';
async function main() {
  const dev = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS, log: () => undefined });
  const dir = fs.mkdtempSync('/tmp/w24-idle-');
  for (const stages of [false, true, false, true]) {
    const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: '2', TEMPORAL_ADDRESS: dev.address, TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: 'idle-probe', DATA_DIR: dir, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    delete env.DATABASE_URL;
    if (stages) env.WORKER_CPU_STAGES_FILE = `${dir}/stages.json`;
    const w = spawn(process.execPath, ['--max-old-space-size=256', ...(process.argv.slice(2)), 'dist/worker/main.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => w.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('polling')) resolve(); }));
    await new Promise((r) => setTimeout(r, 3000));
    const a = threadCpu(w.pid!);
    await new Promise((r) => setTimeout(r, 10000));
    const b = threadCpu(w.pid!);
    console.log(stages ? 'profiled' : 'plain   ', 'per second: main', ((b.main - a.main) / 10).toFixed(4), 'core', ((b.core - a.core) / 10).toFixed(4), 'profiler', ((b.profiler - a.profiler) / 10).toFixed(4), 'total', ((b.total - a.total) / 10).toFixed(4));
    w.kill('SIGTERM');
    await new Promise((r) => w.once('exit', r));
  }
  await dev.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
void main();
