/**
 * Two guards of the scripts: `npm run cluster` and `npm run chaos` wait until the namespace they
 * registered answers before they set it up (a fresh cluster's services learn of a new namespace a
 * few seconds after it is stored); and `npm start` keeps the SSRF guard on unless its `HOST` is
 * loopback. The namespace tests run against the run's Temporal server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { privateSourcesSetting } from '../scripts/private-sources';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import { ensureNamespace, waitForNamespace } from '../scripts/temporal-namespace';
import { temporalAddress, uniqueId } from './support/harness';

const run = promisify(execFile);

describe('the namespace a cluster start registers', () => {
  it('is registered and answering by the time ensureNamespace resolves', { timeout: 120_000 }, async () => {
    const address = await temporalAddress();
    const namespace = uniqueId('ns');
    const said: string[] = [];
    await ensureNamespace(address, namespace, (line) => said.push(line));
    assert.ok(said.some((line) => line.includes(`namespace ${namespace} registered`)), said.join('\n'));
    // What `npm run temporal:setup` does first: it must answer now, not "Namespace … is not found".
    await run(resolveTemporalCli(), ['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace]);
    await ensureNamespace(address, namespace, (line) => said.push(line));
    assert.equal(said.filter((line) => line.includes('registered')).length, 1, 'a second start finds it and registers nothing');
  });

  it('gives up at its deadline, naming the namespace and what the server answered', async () => {
    const address = await temporalAddress();
    const namespace = uniqueId('never-registered');
    const started = Date.now();
    await assert.rejects(waitForNamespace(address, namespace, { timeoutMs: 1_500, intervalMs: 200 }), (error: Error) => {
      assert.match(error.message, new RegExp(`namespace ${namespace} on ${address.replace(/\./g, '\\.')} does not answer after 2 s`));
      assert.match(error.message, /not found/i, 'the server’s own reason is kept');
      return true;
    });
    assert.ok(Date.now() - started < 30_000, 'it stopped near its deadline');
  });
});

describe("npm start's SSRF guard", () => {
  it('lets its worker reach private addresses only when HOST is loopback', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1']) assert.equal(privateSourcesSetting(host, {}).value, 'true', host);
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'api.example.com']) {
      const setting = privateSourcesSetting(host, {});
      assert.equal(setting.value, 'false', host);
      assert.match(setting.why, /reachable from other machines/);
    }
  });

  it('does what SOURCES_ALLOW_PRIVATE_ADDRESSES says when it is set', () => {
    assert.equal(privateSourcesSetting('0.0.0.0', { SOURCES_ALLOW_PRIVATE_ADDRESSES: 'true' }).value, 'true');
    assert.equal(privateSourcesSetting('127.0.0.1', { SOURCES_ALLOW_PRIVATE_ADDRESSES: 'false' }).value, 'false');
  });
});
