// `certpin metrics` (docs/cli.md): one probe round as Prometheus text (promtool-checked), or served on
// /metrics on loopback until SIGTERM. One round and the usage errors run in this process through main()
// (runMain); --listen runs the binary, which a signal stops.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { assertOneLineError, BIN, runMain, runProgram } from '../support/cli.mjs';
import { parseDuration } from '../../build/src/cli/commands/metrics.js';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const rootFile = join(dir, 'root.pem');
writeFileSync(rootFile, pki.root.pem);
const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
after(() => server.close());
const config = join(dir, 'pins.json');
writeFileSync(config, JSON.stringify({ version: 1, hosts: { '127.0.0.1': { port: server.port, pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }, { pin: pki.rogueRoot.pin, status: 'pending_review' }] } } }));

async function promtool(text) {
  const result = await runProgram('promtool', ['check', 'metrics'], { input: text });
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
  assert.equal(`${result.stdout}${result.stderr}`.trim(), '');
}

/** Starts `certpin metrics --listen`; resolves once it says where it serves, with its exit to come. */
async function serve(...args) {
  const child = spawn(process.execPath, [BIN, 'metrics', '--config', config, '--ca', rootFile, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr);
      if (match) resolve(match[1]);
    });
    exited.then(({ code, signal }) => reject(new Error(`exited ${code ?? signal}: ${stderr}`)));
  });
  return { child, url, exited };
}

describe('certpin metrics', () => {
  test('one probe round on stdout, accepted by promtool', async () => {
    const result = await runMain(['metrics', '--config', config, '--ca', rootFile]);
    assert.equal(result.code, 0, result.stderr);
    await promtool(result.stdout);
    const labels = `{host="127.0.0.1",target="127.0.0.1:${server.port}"}`;
    assert.ok(result.stdout.includes(`certpin_probe_success${labels} 1\n`), result.stdout);
    assert.ok(result.stdout.includes(`certpin_pin_match${labels} 1\n`));
    assert.ok(result.stdout.includes(`certpin_chain_earliest_expiry_timestamp_seconds${labels} ${Math.floor(Date.parse(pki.leaf.cert.validTo) / 1000)}\n`));
    assert.ok(result.stdout.includes('certpin_trusted_pins{host="127.0.0.1"} 2\n'));
    assert.ok(result.stdout.includes('certpin_pending_pins{host="127.0.0.1"} 1\n'));
    assert.match(result.stdout, /^# HELP certpin_probe_success .+\n# TYPE certpin_probe_success gauge\n/);
  });

  test('--listen serves /metrics until SIGTERM', async () => {
    const { child, url, exited } = await serve('--interval', '1m');
    try {
      const response = await fetch(url);
      assert.equal(response.status, 200);
      const text = await response.text();
      await promtool(text);
      assert.match(text, /certpin_pin_match\{host="127\.0\.0\.1",target="127\.0\.0\.1:\d+"\} 1/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, { code: 0, signal: null });
  });

  test('--interval takes durations as Prometheus writes them', () => {
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('30'), 30_000);
    assert.throws(() => parseDuration('5 minutes'), { name: 'TypeError', message: /not a duration/ });
  });

  test('a SIGTERM sent the moment it says where it serves stops it cleanly', async (t) => {
    const { child, exited } = await serve('--interval', '0');
    t.after(() => child.kill('SIGKILL'));
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null }, 'the signal handlers are in place before the line is printed');
  });

  test('usage errors', async () => {
    assertOneLineError(await runMain(['metrics']), { pattern: /--config/ });
    assertOneLineError(await runMain(['metrics', '--config', config, '--listen', 'nowhere']), { pattern: /HOST:PORT/ });
    assertOneLineError(await runMain(['metrics', '--config', config, '--listen', '127.0.0.1:0', '--interval', 'soon']), { pattern: /not a duration/ });
    assertOneLineError(await runMain(['metrics', '--config', config, '--interval', '5m']), { pattern: /only with --listen/ });
    assertOneLineError(await runMain(['metrics', '--config', join(dir, 'missing.json')]), { pattern: /no such file/ });
  });
});
