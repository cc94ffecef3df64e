/**
 * The connection monitor the API and the worker run: one line when Temporal stops answering, one
 * when it answers again, however many checks fail in between.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitorConnection } from '../observability/connection-monitor';
import { waitFor } from './support/harness';

describe('connection monitor', () => {
  it('logs one line when Temporal stops answering and one when it is back, and says whether it is up', async () => {
    let answering = true;
    let checks = 0;
    const lines: string[] = [];
    const monitor = monitorConnection({
      ping: async () => {
        checks += 1;
        if (!answering) throw new Error('14 UNAVAILABLE: No connection established\n  at somewhere');
      },
      log: (line) => lines.push(line),
      name: 'api',
      address: '127.0.0.1:7233',
      meanwhile: 'answering 503 until it is back',
      intervalMs: 5,
    });
    try {
      await waitFor(() => checks >= 3, 'a few checks while it answers');
      assert.equal(monitor.up, true);
      answering = false;
      const downAt = checks;
      await waitFor(() => checks >= downAt + 10, 'many failing checks');
      assert.equal(monitor.up, false);
      answering = true;
      await waitFor(() => monitor.up, 'the monitor to see it back');
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.equal(lines[0], 'api: lost the connection to Temporal at 127.0.0.1:7233 (14 UNAVAILABLE: No connection established); answering 503 until it is back');
      assert.match(lines[1]!, /^api: Temporal at 127\.0\.0\.1:7233 answers again \(it did not for \d+ s\)$/);
    } finally {
      monitor.stop();
    }
  });

  it('checks only when told while it answers, if asked not to watch', async () => {
    let answering = true;
    let checks = 0;
    const lines: string[] = [];
    const monitor = monitorConnection({
      ping: async () => {
        checks += 1;
        if (!answering) throw new Error('tcp connect error');
      },
      log: (line) => lines.push(line),
      name: 'worker',
      address: '127.0.0.1:7233',
      meanwhile: 'polling resumes once it answers',
      intervalMs: 5,
      watchWhileUp: false,
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(checks, 0, 'no check until told');
      answering = false;
      monitor.checkNow();
      await waitFor(() => checks >= 5, 'checks while it is down');
      answering = true;
      await waitFor(() => monitor.up, 'the monitor to see it back');
      const after = checks;
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(checks, after, 'no more checks once it is back');
      assert.deepEqual(
        lines.map((line) => line.split(' (')[0]),
        ['worker: lost the connection to Temporal at 127.0.0.1:7233', 'worker: Temporal at 127.0.0.1:7233 answers again'],
      );
    } finally {
      monitor.stop();
    }
  });
});
