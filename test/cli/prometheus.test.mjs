// The Prometheus scrape configuration of docs/prometheus.md, run by a real Prometheus (issue 16 item 1): the
// /probe job with its relabeling scrapes `certpin metrics --listen --interval 0`, and the series
// arrive labelled by target, with the shipped alert rules loaded. The config is taken from the
// document itself, with only the addresses and intervals replaced.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { BIN, runProgram } from '../support/cli.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-prometheus-'));
const children = [];
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('close', r)) : undefined)));
  rmSync(dir, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a program and resolves once `pattern` appears on its stderr (or stdout). */
function startProgram(command, args, pattern) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const match = pattern.exec(output);
      if (match) resolve({ child, match });
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`${command} exited ${code}: ${output}`)));
  });
}

/** Asks Prometheus until `accept(result)` holds: waiting on the event (a scrape stored), not on time. */
async function queryUntil(base, query, accept) {
  for (let attempt = 0; attempt < 300; attempt++) {
    const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`).catch(() => undefined);
    const body = response?.ok ? await response.json() : undefined;
    if (body && accept(body.data.result)) return body.data.result;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`Prometheus never answered ${query} as expected`);
}

test('the documented scrape config, run by Prometheus, scrapes /probe per target with the relabeling', { timeout: 120_000 }, async () => {
  const good = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  const rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  after(() => Promise.all([good.close(), rogue.close()]));
  writeFileSync(join(dir, 'root.pem'), `${pki.root.pem}${pki.rogueRoot.pem}`);
  writeFileSync(join(dir, 'pins.json'), JSON.stringify({ version: 1, hosts: { '127.0.0.1': { pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }] } } }));
  const exporter = await startProgram(process.execPath, [BIN, 'metrics', '--config', join(dir, 'pins.json'), '--ca', join(dir, 'root.pem'), '--listen', '127.0.0.1:0', '--interval', '0'], /serving http:\/\/(127\.0\.0\.1:\d+)\/metrics/);
  const exporterAddress = exporter.match[1];

  const readme = readFileSync(join(ROOT, 'docs', 'prometheus.md'), 'utf8');
  const block = /```yaml\n(# prometheus\.yml\n[\s\S]*?)```/.exec(readme);
  assert.ok(block, 'docs/prometheus.md has the prometheus.yml block');
  const config = block[1]
    .replace('node_modules/certpin/prometheus/alerts.yml', join(ROOT, 'prometheus', 'alerts.yml'))
    .replaceAll('127.0.0.1:9469', exporterAddress)
    .replace("[api.example.com, 'auth.example.com:8443']", `['127.0.0.1:${good.port}', '127.0.0.1:${rogue.port}']`)
    .replace('scrape_interval: 5m', 'scrape_interval: 1s')
    .replace('scrape_timeout: 30s', 'scrape_timeout: 1s');
  assert.notEqual(config, block[1]);
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n${config}`);
  const check = await runProgram('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
  assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);

  const port = await freePort();
  await startProgram('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], /Server is ready to receive web requests/);
  const base = `http://127.0.0.1:${port}`;

  const matches = await queryUntil(base, 'certpin_pin_match{job="certpin"}', (r) => r.length === 2);
  const byInstance = Object.fromEntries(matches.map((s) => [s.metric.instance, s]));
  // The relabeling made each target its own instance; certpin's labels name the entry and target.
  assert.equal(byInstance[`127.0.0.1:${good.port}`].value[1], '1');
  assert.equal(byInstance[`127.0.0.1:${good.port}`].metric.host, '127.0.0.1');
  assert.equal(byInstance[`127.0.0.1:${good.port}`].metric.target, `127.0.0.1:${good.port}`);
  assert.equal(byInstance[`127.0.0.1:${rogue.port}`].value[1], '0', 'the rogue chain is a mismatch');
  const up = await queryUntil(base, 'up{job="certpin-pin-file"}', (r) => r.length === 1);
  assert.equal(up[0].value[1], '1');
  await queryUntil(base, 'certpin_trusted_pins{job="certpin-pin-file"}', (r) => r.length === 1 && r[0].value[1] === '2');
  // The shipped rules are loaded, and the mismatch alert fires for the rogue target only.
  const alerts = await queryUntil(base, 'ALERTS{alertname="CertpinPinMismatch"}', (r) => r.length > 0);
  assert.deepEqual(alerts.map((a) => a.metric.instance), [`127.0.0.1:${rogue.port}`]);
});
