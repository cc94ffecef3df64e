/**
 * Telling who holds a port: `npm start` and `startDevServer` check a port before they
 * listen on it, and a taken one fails with a message naming the process that holds it, rather than
 * a readiness probe that succeeds against someone else's server.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { describePortHolder, portHolder, portIsFree, PortTakenError } from '../scripts/port-owner';
import { freePort, startDevServer } from '../scripts/temporal-cli';

describe('port owner', () => {
  const held = net.createServer();
  let port: number;

  before(async () => {
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    port = (held.address() as net.AddressInfo).port;
  });
  after(() => new Promise((resolve) => held.close(resolve)));

  it('says whether a port is free, and which process listens on a taken one', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    assert.equal(await portIsFree(port), false);
    assert.equal(await portIsFree(await freePort()), true);
    const holder = portHolder(port);
    assert.equal(holder?.pid, process.pid, 'this test process holds it');
    assert.match(holder?.command ?? '', /node/);
    assert.match(describePortHolder(port), new RegExp(`^pid ${process.pid} \\(\`.*node`));
  });

  it('refuses to start a dev server on a taken port before spawning anything, naming the holder', async () => {
    await assert.rejects(startDevServer({ port, headless: true, startTimeoutMs: 5_000 }), (err: unknown) => {
      assert.ok(err instanceof PortTakenError, `expected a PortTakenError, got ${String(err)}`);
      assert.equal(err.port, port);
      assert.match(err.message, new RegExp(`^port ${port} \\(Temporal dev server\\) is taken by `));
      if (process.platform === 'linux') assert.match(err.message, new RegExp(`pid ${process.pid}`));
      return true;
    });
  });
});
