/**
 * CPU per stage for the benchmark (observability/cpu-stages.ts, bench/cpu-split.ts): a sampled
 * profile's time goes to the stage of the innermost frame a rule names, idle apart; the stages are
 * then scaled to the JavaScript thread's CPU seconds, with the Temporal core's threads, the other
 * threads and the profiler's own thread kept apart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOOP_STAGE_RULES, median, medianSplit, splitCpu, type StageCpu } from '../bench/cpu-split';
import { classifyProfile, emptyStages, functionTimes, SAMPLING_INTERVAL_US, SERVICE_STAGE_RULES, type CpuProfile } from '../observability/cpu-stages';

const APP = 'file:///srv/contacts-import/dist';
const MODULES = 'file:///srv/contacts-import/node_modules';

/**
 * A profile of one call tree (each entry: [function, url, children]) and samples of its nodes by
 * name, 1 ms apart; the last one, which stands for a whole sampling interval, is idle.
 */
function profileOf(tree: TreeNode, samples: string[]): CpuProfile {
  const nodes: CpuProfile['nodes'] = [];
  const ids = new Map<string, number>();
  const add = ([functionName, url, children = []]: TreeNode): number => {
    const id = nodes.length + 1;
    const node = { id, callFrame: { functionName, url }, children: [] as number[] };
    nodes.push(node);
    ids.set(functionName, id);
    for (const child of children) node.children.push(add(child));
    return id;
  };
  add(tree);
  const sampleIds = [...samples, '(idle)'].map((name) => {
    const id = ids.get(name);
    assert.ok(id, `no node named ${name} in the tree`);
    return id;
  });
  return { nodes, samples: sampleIds, timeDeltas: sampleIds.map(() => 1000) };
}
type TreeNode = [string, string, TreeNode[]?];

describe('CPU per stage', () => {
  it("puts each sample of the worker in the stage of its innermost named frame, a caller's stage when none is named", () => {
    const tree: TreeNode = ['(root)', '', [
      ['(idle)', ''],
      ['(garbage collector)', ''],
      ['runActivity', `${MODULES}/@temporalio/worker/lib/activity.js`, [
        ['importBatch', `${APP}/activities/import-batch.js`, [
          ['heartbeat', `${APP}/activities/import-batch.js`, [['encode', `${APP}/encryption/payload-codec.js`]]],
          ['readPage', `${APP}/providers/google-people/page.js`, [['parse', '']]],
          ['toContact', `${APP}/providers/google-people/person.js`, [
            ['normalisePhone', `${APP}/providers/kit/normalize.js`, [['parseNumber', `${MODULES}/libphonenumber-js/build/parse.js`]]],
          ]],
          ['savePage', `${APP}/db/contact-store.js`, [['query', `${MODULES}/pg/lib/client.js`, [['helper', `${APP}/observability/log.js`]]]]],
          ['nothingNamed', `${APP}/activities/other.js`],
        ]],
      ]],
    ]];
    const samples = ['(idle)', '(idle)', '(garbage collector)', 'runActivity', 'encode', 'heartbeat', 'parse', 'readPage', 'toContact', 'parseNumber', 'normalisePhone', 'query', 'helper', 'nothingNamed'];
    const { stages, idleMs } = classifyProfile(profileOf(tree, samples), SERVICE_STAGE_RULES);
    assert.equal(idleMs, 2 + SAMPLING_INTERVAL_US / 1000, 'idle time is no stage');
    assert.deepEqual(stages, { ...emptyStages(), gc: 1, temporal: 2, heartbeat: 2, fetch: 2, map: 1, normalise: 2, store: 2 }, JSON.stringify(stages));
  });

  it("splits the plain loop's samples by its own function names", () => {
    const tree: TreeNode = ['(root)', '', [
      ['(idle)', ''],
      ['main', `${APP}/bench/plain-loop.ts`, [
        ['peoplePages', `${APP}/bench/plain-loop.ts`, [['getJson', `${APP}/bench/plain-loop.ts`, [['parse', '']]], ['personRow', `${APP}/bench/plain-loop.ts`]]],
        ['graphPages', `${APP}/bench/plain-loop.ts`, [['graphRow', `${APP}/bench/plain-loop.ts`]]],
        ['savePage', `${APP}/bench/plain-loop.ts`, [['jsonTextArray', `${APP}/bench/plain-loop.ts`], ['run', `${MODULES}/better-sqlite3/lib/methods/wrappers.js`]]],
      ]],
    ]];
    const { stages } = classifyProfile(profileOf(tree, ['parse', 'getJson', 'personRow', 'graphRow', 'graphPages', 'jsonTextArray', 'run', 'main']), LOOP_STAGE_RULES);
    assert.deepEqual(stages, { ...emptyStages(), fetch: 3, map: 2, store: 2, other: 1 }, JSON.stringify(stages));
  });

  it("scales the stages to the JavaScript thread's seconds and keeps the other threads and the profiler apart", () => {
    const times = { ...emptyStages(), fetch: 30, store: 10 };
    const split = splitCpu(times, { main: 2, core: 0.5, profiler: 0.25, total: 3.25 });
    assert.equal(split.fetch, 1.5);
    assert.equal(split.store, 0.5);
    assert.equal(split.coreThreads, 0.5);
    assert.equal(split.otherThreads, 0.5, 'the process less the JavaScript thread, the core and the profiler');
    assert.equal(split.total, 3, "the profiler's thread is left out of the total");
    assert.equal(split.profiler, 0.25);
    // /proc/<pid>/stat counts in 10 ms ticks, the threads in nanoseconds: the total is never below their sum.
    assert.equal(splitCpu(times, { main: 2, core: 0.5, profiler: 0, total: 2.49 }).total, 2.5);
    assert.equal(splitCpu(emptyStages(), { main: 1, core: 0, profiler: 0, total: 1 }).fetch, 0, 'no samples: no stage is guessed');
  });

  it('lists functions by their own sampled time, each with its stage, idle left out', () => {
    const tree: TreeNode = ['(root)', '', [
      ['(idle)', ''],
      ['savePage', `${APP}/db/contact-store.js`, [['run', `${MODULES}/better-sqlite3/lib/methods/wrappers.js`]]],
      ['toContact', `${APP}/providers/google-people/person.js`],
    ]];
    const times = functionTimes(profileOf(tree, ['run', 'run', 'run', 'savePage', 'toContact', 'toContact']), SERVICE_STAGE_RULES);
    assert.deepEqual(
      times.map(({ stage, functionName, selfMs }) => ({ stage, functionName, selfMs })),
      [
        { stage: 'store', functionName: 'run', selfMs: 3 },
        { stage: 'map', functionName: 'toContact', selfMs: 2 },
        { stage: 'store', functionName: 'savePage', selfMs: 1 },
      ],
    );
  });

  it('reports the median of each column over rounds', () => {
    assert.equal(median([]), 0);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    const round = (fetch: number, total: number): StageCpu => ({ ...splitCpu(emptyStages(), { main: 0, core: 0, profiler: 0, total: 0 }), fetch, total });
    const m = medianSplit([round(1, 10), round(5, 30), round(2, 20)]);
    assert.equal(m.fetch, 2);
    assert.equal(m.total, 20);
  });
});
