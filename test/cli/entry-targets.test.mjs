// Which server represents a pin file entry is one answer (probeTargets) for every command: an exact
// name is itself, `**.x` is x, a `probeHost` wins, and `*.x` names no single host, so every command
// says it skipped it and why. Before, `**.x` was checked by expiry, skipped by rotate and refused by verify.
// The commands run in this process through main() (runMain): which server is probed is the question here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, writePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { runMain } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-entries-'));
const paths = await writePki(join(dir, 'pki'));
let server;
let config;
let net;

before(async () => {
  server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  config = join(dir, 'pins.json');
  writeFileSync(config, JSON.stringify({
    version: 1,
    hosts: {
      '**.api.example.test': { port: server.port, pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }] },
      '*.example.test': { port: server.port, pins: [{ pin: pki.intermediate.pin, status: 'active' }] },
    },
  }, null, 2));
  net = ['--ca', paths.root.cert, '--resolve', `api.example.test:${server.port}:127.0.0.1`];
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const SKIPPED = /\*\.example\.test names no single host; set "probeHost"/;

test('verify --config checks **.api.example.test at api.example.test, and says why *.example.test is skipped', async () => {
  const result = await runMain(['verify', '--config', config, '--json', ...net]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout).results.map((r) => [r.host, r.ok]), [['api.example.test', true]]);
  assert.match(result.stderr, SKIPPED);
});

test('expiry --config probes the same server and skips the same entry', async () => {
  const result = await runMain(['expiry', '--config', config, '--json', ...net]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout).results.map((r) => r.target), [`api.example.test:${server.port}`]);
  assert.match(result.stderr, /\*\.example\.test/);
});

test('rotate --config looks at the same server (no change) and skips the same entry', async () => {
  const result = await runMain(['rotate', '--config', config, '--json', ...net]);
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
  const { results, skipped } = JSON.parse(result.stdout);
  assert.deepEqual(results.map((r) => [r.host, r.action]), [['**.api.example.test', 'no_change']]);
  assert.deepEqual(skipped.map((s) => s.host), ['*.example.test']);
  assert.match(skipped[0].reason, SKIPPED);
});
