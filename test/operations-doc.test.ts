/**
 * `docs/operations.md` shows exactly the `temporal` and `tctl` commands that
 * operations-temporal.test.ts and operations-tctl.test.ts run: none untested, none undocumented.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentedCommands, TCTL, TEMPORAL } from './support/documented-commands';

describe('docs/operations.md', () => {
  for (const [program, commands] of [
    ['temporal', TEMPORAL],
    ['tctl', TCTL],
  ] as const) {
    it(`documents exactly the ${program} commands these tests run`, () => {
      const documented = documentedCommands(program);
      const tested: string[] = Object.values(commands);
      for (const line of documented) {
        assert.ok(tested.includes(line), `docs/operations.md shows \`${line}\`, which no test runs: test it or drop it`);
      }
      for (const line of tested) {
        assert.ok(documented.includes(line), `the tests run \`${line}\`, which docs/operations.md does not show`);
      }
    });
  }
});
