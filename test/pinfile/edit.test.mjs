import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPin, approvePin, initPins, rejectPin } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { runCli, runMain } from '../support/cli.mjs';

const HOST = 'api.example.test';
const pki = await makePki();
const randomPin = () => `sha256/${randomBytes(32).toString('base64')}`;

// The CLI in this process through main() (runMain); the binary (runCli) where its exit status and the
// JSON on its stdout are the point: one success and one failure.
const certpin = (...args) => runMain(args);
const certpinBinary = (...args) => runCli(args);

async function tempDir(t) {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-edit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function pinFile(t, hosts) {
  const path = join(await tempDir(t), 'pins.json');
  await writeFile(path, `${JSON.stringify({ version: 1, hosts }, null, 2)}\n`);
  return path;
}

test('init against a real server creates the file with the intermediate pin, port and dates', async (t) => {
  const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());
  const path = join(await tempDir(t), 'pins.json');
  const now = new Date('2027-01-02T03:04:05.000Z');
  const { results, exitCode } = await initPins(path, [`localhost:${server.port}`], { inspect: { ca: pki.root.pem }, now });
  assert.equal(exitCode, 0);
  assert.deepEqual(results.map(({ host, port, action, pin, role, backupMissing }) => ({ host, port, action, pin, role, backupMissing })), [
    { host: 'localhost', port: server.port, action: 'added', pin: pki.intermediate.pin, role: 'intermediate', backupMissing: true },
  ]);
  const document = JSON.parse(await readFile(path, 'utf8'));
  assert.deepEqual(document, {
    $schema: 'https://unpkg.com/certpin/schema/pins.schema.json',
    version: 1,
    settings: { unpinned: 'allow', pinLevel: 'intermediate', expireUnseenAfterDays: 90 },
    hosts: { localhost: { port: server.port, pins: [{ pin: pki.intermediate.pin, status: 'active', subject: pki.intermediate.subject, firstSeen: now.toISOString(), lastSeen: now.toISOString() }] } },
  });
  const again = await initPins(path, [`localhost:${server.port}`], { inspect: { ca: pki.root.pem } });
  assert.equal(again.results[0].action, 'unchanged');
  assert.equal(JSON.parse(await readFile(path, 'utf8')).hosts.localhost.pins.length, 1);
});

test('init honours pinLevel, stores no port for 443, refuses untrusted and unreachable hosts without writing', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'pins.json');
  const probe = async (target) => {
    if (target.startsWith('down.')) throw new Error('connection refused');
    const chain = [pki.leaf, pki.intermediate, pki.root].map((e, i) => ({ role: ['leaf', 'intermediate', 'root'][i], subject: e.subject, pin: e.pin }));
    return { target, trusted: !target.startsWith('rogue.'), error: target.startsWith('rogue.') ? 'self-signed certificate in chain' : null, chain, unproven: [] };
  };
  const failed = await initPins(path, ['rogue.example.test', 'down.example.test'], { probe });
  assert.equal(failed.exitCode, 2);
  assert.deepEqual(failed.results.map((r) => r.action), ['error', 'error']);
  await assert.rejects(stat(path), { code: 'ENOENT' }, 'nothing recorded, no file created');

  await writeFile(path, `${JSON.stringify({ settings: { pinLevel: 'leaf' }, hosts: {} })}\n`);
  const mixed = await initPins(path, ['https://api.example.test/', 'rogue.example.test'], { probe });
  assert.equal(mixed.exitCode, 1);
  const { hosts } = JSON.parse(await readFile(path, 'utf8'));
  assert.deepEqual(Object.keys(hosts), [HOST]);
  assert.deepEqual(hosts[HOST].pins.map((p) => p.pin), [pki.leaf.pin]);
  assert.equal(hosts[HOST].port, undefined);
  await assert.rejects(initPins(path, ['server.pem'], { probe }), { code: 'ERR_CERTPIN_INVALID_INPUT' });
});

test('approve, reject and add change one pin; unknown hosts, unlisted and malformed pins are refused', async (t) => {
  const pending = randomPin();
  const active = randomPin();
  const path = await pinFile(t, { [HOST]: { pins: [active, { pin: pending, status: 'pending_review' }] } });
  const before = await readFile(path, 'utf8');
  await assert.rejects(approvePin(path, 'unknown.example.test', pending), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /unknown\.example\.test is not in .*certpin init/ });
  await assert.rejects(rejectPin(path, HOST, 'sha256/abc'), { code: 'ERR_CERTPIN_INVALID_PIN', message: /not a SHA-256 pin: "sha256\/abc"/ });
  await assert.rejects(approvePin(path, HOST, randomPin()), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /is not listed for api\.example\.test.*certpin add/ });
  await assert.rejects(addPin(path, 'unknown.example.test', randomPin(), { status: 'backup' }), { code: 'ERR_CERTPIN_INVALID_INPUT' });
  await assert.rejects(addPin(path, HOST, randomPin(), {}), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /"active" or "backup"/ });
  await assert.rejects(addPin(path, HOST, pending, { status: 'backup' }), { message: /already listed for api\.example\.test as pending_review; use `certpin approve`/ });
  assert.equal(await readFile(path, 'utf8'), before, 'refusals write nothing');

  const approved = await approvePin(path, `https://${HOST.toUpperCase()}`.slice(8), `pin-sha256="${pending.slice(7)}"`);
  assert.deepEqual(approved, { host: HOST, pin: pending, previous: 'pending_review', status: 'active', changed: true, trustedPins: 2, backupMissing: true });
  const rejected = await rejectPin(path, HOST, active.replace('sha256/', 'sha256//'));
  assert.deepEqual({ previous: rejected.previous, status: rejected.status, trustedPins: rejected.trustedPins }, { previous: 'active', status: 'rejected', trustedPins: 1 });
  const backup = randomPin();
  const added = await addPin(path, HOST, backup, { status: 'backup', note: 'safe 3' });
  assert.deepEqual({ previous: added.previous, backupMissing: added.backupMissing }, { previous: null, backupMissing: false });
  assert.equal((await addPin(path, HOST, backup, { status: 'backup' })).changed, false);
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')).hosts[HOST].pins, [
    { pin: active, status: 'rejected' },
    { pin: pending, status: 'active' },
    { pin: backup, status: 'backup', note: 'safe 3' },
  ]);
});

test('the CLI edit commands: exit 0 when done, 2 for unknown hosts, bad pins and usage errors', async (t) => {
  const pending = randomPin();
  const path = await pinFile(t, { [HOST]: { pins: [randomPin(), { pin: pending, status: 'pending_review' }] } });
  const ok = await certpinBinary('approve', HOST, pending, '--config', path, '--json');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).status, 'active');
  for (const args of [
    ['approve', 'unknown.example.test', pending, '--config', path],
    ['reject', HOST, 'sha256/abc', '--config', path],
    ['add', HOST, randomPin(), '--config', path],
    ['add', HOST, randomPin(), '--status', 'pending_review', '--config', path],
    ['approve', HOST, pending],
    ['reject', HOST, '--config', path],
    ['rotate', '--config', path, '--expire-after', 'soon'],
    ['init', '--config', path],
  ]) {
    const run = await certpin(...args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /^certpin: [^\n]+\n$/, 'one line on stderr, no stack');
  }
  const added = await certpin('add', HOST, randomPin(), '--status', 'backup', '--config', path);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /is backup \(added\)/);
});

test('the CLI reports a malformed or truncated pin file with exit 2 and never overwrites it', async (t) => {
  const dir = await tempDir(t);
  const cases = {
    truncated: '{\n  "version": 1,\n  "hosts": {\n    "api.example.test": {\n      "pins": [\n        "sha256/',
    invalid: `${JSON.stringify({ hosts: { [HOST]: { pins: [randomPin(), randomPin(), { pin: 'sha256/abc' }] } } }, null, 2)}\n`,
  };
  for (const [name, text] of Object.entries(cases)) {
    const path = join(dir, `${name}.json`);
    await writeFile(path, text);
    for (const args of [
      ['add', HOST, randomPin(), '--status', 'backup'],
      ['approve', HOST, randomPin()],
      ['rotate'],
      ['init', '127.0.0.1:1', '--timeout', '500'],
    ]) {
      const run = await certpin(...args, '--config', path);
      assert.equal(run.code, 2, `${name}: ${args[0]}: ${run.stderr}`);
      assert.ok(run.stderr.startsWith(`certpin: ${path}: `), run.stderr);
      assert.equal(await readFile(path, 'utf8'), text, `${args[0]} left the ${name} file alone`);
    }
    if (name === 'invalid') {
      const run = await certpin('rotate', '--config', path);
      assert.match(run.stderr, /hosts\["api\.example\.test"\]\.pins\[2\]\.pin: not a SHA-256 pin: "sha256\/abc"/);
    }
  }
  const missing = await certpinBinary('rotate', '--config', join(dir, 'missing.json'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*missing\.json: no such file/);
});
