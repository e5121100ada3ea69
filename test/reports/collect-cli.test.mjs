// docs/cli.md `certpin collect --listen HOST:PORT [--out reports.jsonl]`: the real command as a child
// process, fed by a real pinned client whose host is report-only, and stopped the way users stop it.
// Refusals to start are checked in this process through main() (runMain).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicy, pinnedTlsOptions } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { BIN, assertOneLineError, runMain } from '../support/cli.mjs';
import { httpsRequest } from '../support/transport-fixtures.mjs';
import { until } from '../support/until.mjs';

const pki = await makePki();
const workDir = mkdtempSync(join(tmpdir(), 'certpin-collect-test-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** Starts `certpin collect`; resolves once it says where it listens. */
function startCli(args) {
  const child = spawn(process.execPath, [BIN, 'collect', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (c) => (io.stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (io.stderr += c));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  const ready = new Promise((resolve, reject) => {
    child.stderr.on('data', () => {
      const url = /collecting violation reports at (http:\/\/\S+?\/)/.exec(io.stderr)?.[1];
      if (url) resolve(url);
    });
    exited.then((code) => reject(new Error(`collect exited ${code}: ${io.stderr}`)));
  });
  return { child, io, exited, ready };
}

const get = async (policy, port) => (await httpsRequest(pinnedTlsOptions(policy, { host: '127.0.0.1', port, servername: 'api.example.test', agent: false }))).status;

test('collect prints one line per violation, appends JSON lines, and stops cleanly on SIGTERM', async (t) => {
  const out = join(workDir, 'reports.jsonl');
  const cli = startCli(['--listen', '127.0.0.1:0', '--out', out]);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await cli.ready;
  const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());

  const policy = createPolicy({
    ca: pki.root.pem,
    hosts: { 'api.example.test': { pins: [pki.rogueIntermediate.pin, pki.rogueLeaf.pin], enforce: false, reportUri: url } },
  });
  for (let i = 0; i < 10; i++) assert.equal(await get(policy, server.port), 200);
  await until(() => cli.io.stdout.includes('\n'), 'the violation line');

  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0);
  const lines = cli.io.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0], new RegExp(`^\\S+Z api\\.example\\.test:${server.port} mismatch report-only leaf ${pki.leaf.pin.replace(/[+/]/g, '\\$&')} CN=api\\.example\\.test, O=certpin tests known 2 pins$`));
  const written = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(written.length, 1);
  assert.equal(written[0].report.hostname, 'api.example.test');
  assert.equal(written[0].report.port, server.port);
  assert.match(cli.io.stderr, /1 report, 0 duplicates, 0 refused/);
});

test('collect --json prints each report as one JSON line', async (t) => {
  const cli = startCli(['--listen', '127.0.0.1:0', '--json']);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await cli.ready;
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname: 'a.example.test', port: 443, 'known-pins': [] }) });
  assert.equal(res.status, 204);
  await until(() => cli.io.stdout.includes('\n'), 'the report');
  cli.child.kill('SIGINT');
  assert.equal(await cli.exited, 0);
  const report = JSON.parse(cli.io.stdout);
  assert.equal(report.hostname, 'a.example.test');
  assert.equal(report.format, 'rfc7469');
});

test('collect: 7 reports whose fields carry newlines, NUL and terminal escapes print exactly 7 lines', async (t) => {
  const cli = startCli(['--listen', '127.0.0.1:0']);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await cli.ready;
  const hostile = ['a\nforged 1', 'b\r\nforged 2', 'c\u0000d', 'e\u001b[2Kf', 'g\u2028h', 'i\u0085j', 'k\u202el'];
  for (const [i, hostname] of hostile.entries()) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname, port: 443, 'noted-hostname': `n${hostname}`, reason: `r${hostname}`, 'known-pins': [], i }) });
    assert.equal(res.status, 204);
  }
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0);
  assert.match(cli.io.stderr, /7 reports, 0 duplicates, 0 refused/);
  const lines = cli.io.stdout.replace(/\n$/, '').split(/\r\n|[\n\r\u2028\u2029\u0085]/);
  assert.equal(lines.length, 7, cli.io.stdout);
// eslint-disable-next-line no-control-regex -- matching control characters is the point
  for (const line of lines) assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u202e]/);
  assert.match(lines[0], / a\\x0aforged 1:443 ra\\x0aforged 1 noted na\\x0aforged 1 leaf unknown known 0 pins$/);
});

test('collect --json: hostile reports stay one JSON line each and read back unchanged', async (t) => {
  const cli = startCli(['--listen', '127.0.0.1:0', '--json']);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await cli.ready;
  const hostile = ['a\nb', 'c\u0000d', 'e\u001b[2Kf', 'g\u2028h', 'i\u0085j', 'k\u009b2Jl', 'm\u202en'];
  for (const hostname of hostile) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname, port: 443, 'known-pins': [] }) });
    assert.equal(res.status, 204);
  }
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0);
  const lines = cli.io.stdout.replace(/\n$/, '').split(/\r\n|[\n\r\u2028\u2029\u0085]/);
  assert.equal(lines.length, 7, cli.io.stdout);
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  for (const line of lines) assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u202e]/);
  assert.deepEqual(lines.map((line) => JSON.parse(line).hostname), hostile);
});

test('collect refuses a missing or malformed --listen with one line and exit 2', async () => {
  assertOneLineError(await runMain(['collect']), { pattern: /needs --listen HOST:PORT/ });
  assertOneLineError(await runMain(['collect', '--listen', 'localhost']), { pattern: /--listen takes HOST:PORT/ });
  assertOneLineError(await runMain(['collect', '--listen', '127.0.0.1:70000']), { pattern: /--listen takes HOST:PORT/ });
});

test('collect on an address in use fails with one line and exit 2', async (t) => {
  const first = startCli(['--listen', '127.0.0.1:0']);
  t.after(() => first.child.kill('SIGKILL'));
  const url = await first.ready;
  const result = await runMain(['collect', '--listen', `127.0.0.1:${new URL(url).port}`]);
  assertOneLineError(result, { pattern: /EADDRINUSE/ });
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);
});

test('collect stops cleanly on a SIGTERM sent the moment it says where it listens', async (t) => {
  const cli = startCli(['--listen', '127.0.0.1:0']);
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.ready;
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0, 'the signal handlers are in place before the line is printed');
  assert.match(cli.io.stderr, /0 reports, 0 duplicates, 0 refused/);
});
