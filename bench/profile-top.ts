/**
 * Lists what a CPU profile spent its time on, function by function, each with the stage the
 * benchmark gives its samples: a worker's kept profile (`WORKER_CPU_PROFILE_DIR`) or the plain
 * loop's (`PLAIN_LOOP_PROFILE`).
 *
 *   npx tsx bench/profile-top.ts FILE.cpuprofile [--loop] [--stage store] [--top 30]
 *
 * `--loop` reads it with the plain loop's rules instead of the worker's. Times are the functions'
 * own (their callees apart), in sampled milliseconds and as a share of the sampled busy time.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { CPU_STAGES, functionTimes, SERVICE_STAGE_RULES, type CpuProfile, type CpuStage } from '../observability/cpu-stages';
import { LOOP_STAGE_RULES } from './cpu-split';

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { loop: { type: 'boolean', default: false }, stage: { type: 'string' }, top: { type: 'string', default: '30' } },
  });
  const [file] = positionals;
  if (file === undefined) throw new Error('usage: npx tsx bench/profile-top.ts FILE.cpuprofile [--loop] [--stage STAGE] [--top N]');
  const stage = values.stage as CpuStage | undefined;
  if (stage !== undefined && !CPU_STAGES.includes(stage)) throw new Error(`--stage must be one of ${CPU_STAGES.join(', ')} (got "${stage}")`);
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 1) throw new Error(`--top must be a positive integer (got "${values.top}")`);
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const all = functionTimes(profile, values.loop ? LOOP_STAGE_RULES : SERVICE_STAGE_RULES);
  const busy = all.reduce((sum, f) => sum + f.selfMs, 0);
  const shown = stage === undefined ? all : all.filter((f) => f.stage === stage);
  const perStage = new Map<CpuStage, number>();
  for (const f of all) perStage.set(f.stage, (perStage.get(f.stage) ?? 0) + f.selfMs);
  console.log(`busy ${busy.toFixed(0)} ms sampled; ${CPU_STAGES.map((s) => `${s} ${(((perStage.get(s) ?? 0) / busy) * 100).toFixed(1)} %`).join(', ')}`);
  for (const f of shown.slice(0, top)) {
    const where = f.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
    console.log(`${f.selfMs.toFixed(0).padStart(7)} ms ${((f.selfMs / busy) * 100).toFixed(1).padStart(5)} %  ${f.stage.padEnd(9)} ${f.functionName}  ${where}:${f.line}`);
  }
}

main();
