// Hints run as printed (issue 16 item 7): every `certpin …` command the CLI suggests is executed here,
// pasted into a shell exactly as printed, from the directory the user was in, with a pin file path
// that needs quoting. And the guard rails around them (item 9). The commands that print the hints run
// in this process through main() (runMain), in the user's directory; the hints run as a user runs them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { assertOneLineError, BIN, runCli, runMain } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-hints-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// `certpin` on PATH, as an installed package puts it.
const binDir = join(dir, 'bin');
mkdirSync(binDir);
writeFileSync(join(binDir, 'certpin'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
chmodSync(join(binDir, 'certpin'), 0o755);
writeFileSync(join(dir, 'root.pem'), pki.root.pem);
const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
after(() => server.close());

let n = 0;
/** A fresh working directory with a pin file whose name needs quoting; returns both. */
function workspace(hosts) {
  const cwd = join(dir, `ws${++n}`);
  mkdirSync(cwd);
  const config = 'my pins.json';
  writeFileSync(join(cwd, config), `${JSON.stringify({ version: 1, hosts }, null, 2)}\n`);
  return { cwd, config, read: () => JSON.parse(readFileSync(join(cwd, config), 'utf8')) };
}

/** The `certpin …` commands quoted in backticks in some output. */
const hintsIn = (text) => [...text.matchAll(/`(certpin [^`]+)`/g)].map((m) => m[1]);

/** Runs a printed command line in a shell, in `cwd`, with certpin on PATH. */
function paste(command, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env: { ...process.env, PATH: `${binDir}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const pinsOf = (document, host) => Object.fromEntries(document.hosts[host].pins.map((p) => [p.pin, p.status]));

describe('hints run as printed', () => {
  test("rotate's approve and reject hints", async () => {
    const ws = workspace({ '127.0.0.1': { port: server.port, pins: [{ pin: pki.intermediate2.pin, status: 'active' }] } });
    const rotate = await runMain(['rotate', '--config', ws.config, '--ca', join(dir, 'root.pem')], { cwd: ws.cwd });
    assert.equal(rotate.code, 1, rotate.stderr);
    const [approve, reject] = hintsIn(rotate.stdout);
    assert.match(approve, /^certpin approve 127\.0\.0\.1 sha256\/\S+ --config 'my pins\.json'$/);
    assert.match(reject, /^certpin reject /);
    const ran = await paste(approve, ws.cwd);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(pinsOf(ws.read(), '127.0.0.1')[pki.intermediate.pin], 'active');

    // approve left no backup: its hints make one (keygen, runnable as printed) or add one (needs a PIN)
    const [keygen, add] = hintsIn(ran.stderr);
    assert.match(keygen, /^certpin keygen --type ec-p256 --out 127\.0\.0\.1-backup\.key --config 'my pins\.json' --host 127\.0\.0\.1$/);
    assert.match(add, /^certpin add 127\.0\.0\.1 PIN --status backup --config 'my pins\.json'$/);
    const made = await paste(keygen, ws.cwd);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(pinsOf(ws.read(), '127.0.0.1')[made.stdout.trim()], 'backup');
    const added = await paste(add.replace('PIN', pki.rogueRoot.pin), ws.cwd);
    assert.equal(added.code, 0, added.stderr);
  });

  test("init's backup hint, and approve's hint for a pin the file does not list", async () => {
    const ws = workspace({});
    const init = await runMain(['init', `127.0.0.1:${server.port}`, '--config', ws.config, '--ca', join(dir, 'root.pem')], { cwd: ws.cwd });
    assert.equal(init.code, 0, init.stderr);
    const [keygen] = hintsIn(init.stderr);
    const made = await paste(keygen, ws.cwd);
    assert.equal(made.code, 0, made.stderr);
    assert.ok(existsSync(join(ws.cwd, '127.0.0.1-backup.key')));

    const unlisted = await runMain(['approve', '127.0.0.1', pki.rogueIntermediate.pin, '--config', ws.config], { cwd: ws.cwd });
    assert.equal(unlisted.code, 2);
    const [add] = hintsIn(unlisted.stderr);
    assert.match(add, /--status active --config 'my pins\.json'$/);
    const ran = await paste(add, ws.cwd);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(pinsOf(ws.read(), '127.0.0.1')[pki.rogueIntermediate.pin], 'active');

    const unknownHost = await runMain(['approve', 'other.example.test', pki.rogueIntermediate.pin, '--config', ws.config], { cwd: ws.cwd });
    const [initHint] = hintsIn(unknownHost.stderr);
    assert.equal(initHint, "certpin init other.example.test --config 'my pins.json'");
  });
});

describe('guard rails', () => {
  test('approving a backup pin takes --force: it would leave the host without that backup', async () => {
    const ws = workspace({ 'api.example.test': { pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }] } });
    assertOneLineError(await runMain(['approve', 'api.example.test', pki.intermediate2.pin, '--config', ws.config], { cwd: ws.cwd }), { pattern: /is a backup pin of api\.example\.test: .*--force/ });
    assert.equal(pinsOf(ws.read(), 'api.example.test')[pki.intermediate2.pin], 'backup', 'unchanged');
    const forced = await runMain(['approve', 'api.example.test', pki.intermediate2.pin, '--config', ws.config, '--force'], { cwd: ws.cwd });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(pinsOf(ws.read(), 'api.example.test')[pki.intermediate2.pin], 'active');
  });

  test('rotate says on stderr why a host could not be checked', async () => {
    const closed = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    const { port } = closed;
    await closed.close();
    const ws = workspace({ '127.0.0.1': { port, pins: [pki.intermediate.pin] } });
    const rotate = await runMain(['rotate', '--config', ws.config, '--json'], { cwd: ws.cwd });
    assert.equal(rotate.code, 2);
    assert.equal(JSON.parse(rotate.stdout).results[0].action, 'error');
    assert.match(rotate.stderr, /^certpin: 127\.0\.0\.1: connection refused by 127\.0\.0\.1:\d+/m);
  });

  test('init names the target once in its error line', async () => {
    const closed = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    const { port } = closed;
    await closed.close();
    const ws = workspace({});
    const init = await runMain(['init', `127.0.0.1:${port}`, '--config', ws.config], { cwd: ws.cwd });
    assert.equal(init.code, 2);
    assert.equal(init.stdout, `127.0.0.1:${port}: error: connection refused by 127.0.0.1:${port}: nothing listens on that port (ECONNREFUSED)\n`);
  });

  test('--timeout of 2^31 ms or more is refused, not turned into 1 ms', async () => {
    assertOneLineError(await runMain(['pins', '127.0.0.1:1', '--timeout', String(2 ** 31)]), { pattern: /--timeout must be at most 2147483647 ms/ });
    // the binary: Node prints a TimeoutOverflowWarning on the process's stderr
    const result = await runCli(['pins', `127.0.0.1:${server.port}`, '--timeout', String(2 ** 31 - 1), '--ca', join(dir, 'root.pem')]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /TimeoutOverflowWarning/);
  });

  test('--resolve forms certpin cannot honour (curl\'s + and - entries) are refused, never ignored', async () => {
    // * hosts and several addresses are honoured now (test/cli/pins.test.mjs); these two forms are not.
    assertOneLineError(await runMain(['pins', 'x.example.test', '--resolve', '+x.example.test:443:127.0.0.1']), { pattern: /\+HOST form .* not supported/ });
    assertOneLineError(await runMain(['verify', 'x.example.test', '--pin', pki.leaf.pin, '--resolve=-x.example.test:443']), { pattern: /-HOST:PORT form .* not supported/ });
    const v6 = await runMain(['pins', `localhost:${server.port}`, '--resolve', `localhost:${server.port}:[::1]`, '--timeout', '3000']);
    assert.doesNotMatch(v6.stderr, /several addresses/, 'an IPv6 address is one address');
  });

  test('demo --json is refused rather than printing text', async () => {
    assertOneLineError(await runMain(['demo', '--json']), { pattern: /--json is not available/ });
  });

  test('unknown options get "did you mean", and --cacert is --ca', async () => {
    assertOneLineError(await runMain(['pins', '--jsno', 'x.example']), { pattern: /unknown option --jsno \(did you mean --json\?\)/ });
    assertOneLineError(await runMain(['verify', '--confg', 'pins.json']), { pattern: /did you mean --config\?/ });
    const result = await runMain(['pins', `127.0.0.1:${server.port}`, '--cacert', join(dir, 'root.pem'), '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).results[0].trusted, true);
    const equals = await runMain(['pins', `127.0.0.1:${server.port}`, `--cacert=${join(dir, 'root.pem')}`, '--json']);
    assert.equal(JSON.parse(equals.stdout).results[0].trusted, true);
    assertOneLineError(await runMain(['approve', '--cacert', 'x']), { pattern: /unknown option --cacert/ });
  });
});
