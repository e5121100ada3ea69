import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { approvePin, loadPolicy, PinPolicy, rejectPin } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { until } from '../support/until.mjs';

const pki = await makePki();
const HOST = 'api.example.test';
const chain = [pki.leaf.cert, pki.intermediate.cert];
const otherChain = [pki.leafOnInt2.cert, pki.intermediate2.cert];

async function setup(t, pins) {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-load-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'pins.json');
  await writeFile(path, `${JSON.stringify({ version: 1, hosts: { [HOST]: { pins } } }, null, 2)}\n`);
  return path;
}

/** Replaces the file by rename, so a watcher never reads it half-written. */
async function replace(path, text) {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

const basePins = () => [
  { pin: pki.intermediate.pin, status: 'active' },
  { pin: pki.intermediate2.pin, status: 'pending_review' },
];

test('loadPolicy reads the pin file into a policy', async (t) => {
  const path = await setup(t, basePins());
  const policy = await loadPolicy(path, { ca: pki.root.pem });
  assert.ok(policy instanceof PinPolicy);
  assert.equal(policy.check(HOST, chain).outcome, 'pinned');
  // pending_review is never trusted
  assert.equal(policy.check(HOST, otherChain).outcome, 'mismatch');
  policy.close();
});

test('an invalid file at load time throws, naming the file and the field', async (t) => {
  const path = await setup(t, [{ pin: 'sha256/abc', status: 'active' }]);
  await assert.rejects(loadPolicy(path), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /pins\.json: hosts\["api\.example\.test"\]\.pins\[0\]\.pin: not a SHA-256 pin: "sha256\/abc"/ });
  await assert.rejects(loadPolicy(join(path, '..', 'missing.json')), { name: 'CertpinError', code: 'ERR_CERTPIN_INVALID_INPUT', message: /cannot read .*missing\.json: no such file/ });
});

test('a watched file changed by the CLI writer is applied without a restart, through policy.update()', async (t) => {
  const path = await setup(t, basePins());
  const events = [];
  const onEvent = (message) => events.push(message);
  subscribe('certpin:pinfile', onEvent);
  t.after(() => unsubscribe('certpin:pinfile', onEvent));
  const policy = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 20 });
  t.after(() => policy.close());
  const version = policy.version;
  await approvePin(path, HOST, pki.intermediate2.pin);
  await until(() => policy.version > version, 'the reload');
  assert.equal(policy.version, version + 1, 'one write, one update');
  assert.equal(policy.check(HOST, otherChain).outcome, 'pinned');
  assert.deepEqual(events.filter((e) => e.event === 'reload').map((e) => e.version), [version + 1]);
  await rejectPin(path, HOST, pki.intermediate.pin);
  await until(() => policy.check(HOST, chain).outcome === 'mismatch', 'the rejection to apply');
});

test('a file edited in place (not renamed) is picked up too', async (t) => {
  const path = await setup(t, basePins());
  // A reader may catch an in-place write half done: that transient error is reported, then healed.
  const policy = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 20, onError: () => {} });
  t.after(() => policy.close());
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace('"pending_review"', '"backup"'));
  await until(() => policy.check(HOST, otherChain).ok, 'the in-place edit');
});

test('a file that turns invalid keeps the last good policy in force and reports the error', async (t) => {
  const path = await setup(t, basePins());
  const errors = [];
  const policy = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 20, onError: (error) => errors.push(error) });
  t.after(() => policy.close());
  const version = policy.version;
  const good = await readFile(path, 'utf8');
  // Replaced by rename, as an editor or a deploy would, with a broken pin...
  await writeFile(`${path}.new`, good.replace(pki.intermediate.pin, 'sha256/abc'));
  await rename(`${path}.new`, path);
  await until(() => errors.length > 0, 'the error report');
  assert.equal(errors[0].code, 'ERR_CERTPIN_INVALID_CONFIG');
  assert.match(errors[0].message, /pins\.json: hosts\["api\.example\.test"\]\.pins\[0\]\.pin: not a SHA-256 pin: "sha256\/abc"/);
  assert.equal(policy.version, version);
  assert.equal(policy.check(HOST, chain).outcome, 'pinned', 'the last good pins still apply');
  // ...then truncated.
  await replace(path, good.slice(0, 40));
  await until(() => errors.length > 1, 'the second error report');
  assert.match(errors.at(-1).message, /not valid JSON/);
  assert.equal(policy.check(HOST, chain).outcome, 'pinned');
  // A fixed file is applied again.
  await replace(path, good.replace('"pending_review"', '"active"'));
  await until(() => policy.version > version, 'the reload of the fixed file');
  assert.equal(policy.check(HOST, otherChain).outcome, 'pinned');
  await assert.rejects(policy.reload().then(() => writeFile(path, '{').then(() => policy.reload())), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
});

test('without onError, each distinct error is one process warning', async (t) => {
  const path = await setup(t, basePins());
  const warnings = [];
  const onWarning = (warning) => { if (warning.name === 'CertpinWarning') warnings.push(warning); };
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const attempts = [];
  const onPinFile = (message) => { if (message.event === 'error') attempts.push(message); };
  subscribe('certpin:pinfile', onPinFile);
  t.after(() => unsubscribe('certpin:pinfile', onPinFile));
  const policy = await loadPolicy(path, { watch: true, debounceMs: 10 });
  t.after(() => policy.close());
  await replace(path, '{ "hosts": ');
  await until(() => warnings.length > 0, 'the warning');
  const seen = attempts.length;
  await replace(path, '{ "hosts":  ');
  // The channel hears of every failed reload, the second one too; a warning for it would be emitted
  // in the same call and delivered on the next tick, so one turn of the event loop later it is here.
  await until(() => attempts.length > seen, 'the failed reload of the second invalid text');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(warnings.length, 1, 'the same error is not repeated');
  assert.match(warnings[0].message, /pins\.json: not valid JSON/);
});

test('close() and an aborted signal stop watching', async (t) => {
  const path = await setup(t, basePins());
  const closed = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 10 });
  const controller = new AbortController();
  const aborted = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 10, signal: controller.signal });
  // Aborted while the first read is still in progress: the listener added after it would never run.
  const early = new AbortController();
  const abortedEarly = loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 10, signal: early.signal });
  early.abort();
  const abortedWhileLoading = await abortedEarly;
  const watching = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 10 });
  t.after(() => watching.close());
  const unwatched = await loadPolicy(path, { ca: pki.root.pem });
  closed.close();
  closed.close();
  controller.abort();
  const stopped = [closed, aborted, abortedWhileLoading, unwatched];
  const versions = stopped.map((policy) => policy.version);
  await approvePin(path, HOST, pki.intermediate2.pin);
  await until(() => watching.check(HOST, otherChain).ok, 'the watching policy to follow');
  // A second change, written only after the watching policy applied the first: a policy still
  // following the file would have applied the first change by the time the second is applied.
  const followed = watching.version;
  await rejectPin(path, HOST, pki.intermediate.pin);
  await until(() => watching.version > followed, 'the watching policy to follow the second change');
  assert.deepEqual(stopped.map((policy) => policy.version), versions);
  for (const policy of stopped) assert.equal(policy.check(HOST, otherChain).outcome, 'mismatch');
  assert.equal(await unwatched.reload(), true, 'reload() applies the file on demand');
  assert.equal(unwatched.check(HOST, otherChain).outcome, 'pinned');
});

test('an open watcher does not keep the process alive', async () => {
  const code = `
    import { mkdtempSync, writeFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { tmpdir } from 'node:os';
    import { loadPolicy } from 'certpin';
    const path = join(mkdtempSync(join(tmpdir(), 'certpin-load-')), 'pins.json');
    writeFileSync(path, '{"hosts":{}}');
    await loadPolicy(path, { watch: true });
    writeFileSync(path, '{"hosts":{"a.example":{"pins":[]}}}');
  `;
  const started = Date.now();
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { timeout: 10_000 });
  assert.ok(Date.now() - started < 5000);
});

test('G2 across a reload: a keep-alive socket of the old file is not reused once a pin is rejected', async (t) => {
  const { pinnedAgent } = await import('certpin');
  const { startHttpsServer } = await import('../support/servers.mjs');
  const { request } = await import('node:https');
  const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());
  const path = await setup(t, [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }]);
  const policy = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 20 });
  t.after(() => policy.close());
  const agent = pinnedAgent(policy, { keepAlive: true });
  t.after(() => agent.destroy());
  const get = () => new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: server.port, servername: HOST, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: true, reused: req.reusedSocket }));
    });
    req.on('error', (error) => resolve({ ok: false, error }));
    req.end();
  });
  assert.equal((await get()).ok, true);
  const second = await get();
  assert.deepEqual(second, { ok: true, reused: true }, 'the socket is pooled while the file is unchanged');
  const version = policy.version;
  await rejectPin(path, HOST, pki.intermediate.pin);
  await until(() => policy.version > version, 'the reload');
  const after = await get();
  assert.equal(policy.check(HOST, [pki.leaf.cert, pki.intermediate.cert]).outcome, 'mismatch');
  assert.equal(after.ok, false, `the pooled socket of the old policy was not trusted blindly (reused: ${after.reused})`);
  assert.equal(after.error.code, 'ERR_CERTPIN_MISMATCH');
});
