// Done-when of issue 4: the whole rotation story against real loopback servers, through the real CLI
// and inspect(), with an application that pins through a watched pin file and is never restarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPolicy, pinnedTlsOptions, rotatePins } from 'certpin';
import { chainPem, makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';

const BIN = fileURLToPath(new URL('../../bin/certpin', import.meta.url));
const HOST = 'api.example.test';
const DAY = 24 * 60 * 60 * 1000;
const pki = await makePki();

function certpin(...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

/** The application: a pinned tls.connect that sends one line once the handshake passed. */
function appConnect(policy, port) {
  return new Promise((resolve) => {
    const socket = connect(pinnedTlsOptions(policy, { host: '127.0.0.1', port, servername: HOST }));
    socket.once('secureConnect', () => {
      socket.end('GET /secret HTTP/1.1\r\n\r\n');
      resolve({ ok: true });
    });
    socket.once('error', (error) => resolve({ ok: false, error }));
  });
}

const serve = (server, ...chain) => server.server.setSecureContext({ key: chain[0].keyPem, cert: chainPem(...chain) });

test('rotation end to end: leaf renewal, new intermediate pending, approval live, old pin expiring', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'pins.json');
  const rootFile = join(dir, 'root.pem');
  await writeFile(rootFile, pki.root.pem);
  const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());
  const target = `${HOST}:${server.port}`;
  const net = ['--ca', rootFile, '--resolve', `${HOST}:${server.port}:127.0.0.1`];
  const rotate = async (...extra) => {
    const run = await certpin('rotate', '--config', config, '--json', ...net, ...extra);
    return { ...run, json: run.stdout === '' ? undefined : JSON.parse(run.stdout) };
  };

  // 1. init records the intermediate (the default pinLevel) as active, and says a backup is missing.
  const init = await certpin('init', target, '--config', config, ...net);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, new RegExp(`pinned ${pki.intermediate.pin.replace(/[+/]/g, '\\$&')} \\(intermediate CN=certpin Test Intermediate\\) as active`));
  assert.match(init.stderr, /no backup pin yet/);
  let file = JSON.parse(await readFile(config, 'utf8'));
  const entry = file.hosts[HOST];
  assert.equal(entry.port, server.port);
  assert.deepEqual(entry.pins.map((p) => [p.pin, p.status, p.subject]), [[pki.intermediate.pin, 'active', 'CN=certpin Test Intermediate']]);
  assert.ok(entry.pins[0].firstSeen && entry.pins[0].lastSeen);
  const backup = `sha256/${randomBytes(32).toString('base64')}`;
  const add = await certpin('add', HOST, backup, '--status', 'backup', '--note', 'offline key, safe 3', '--config', config);
  assert.equal(add.code, 0, add.stderr);

  const policy = await loadPolicy(config, { watch: true, ca: pki.root.pem, debounceMs: 20 });
  t.after(() => policy.close());
  assert.equal((await appConnect(policy, server.port)).ok, true);

  // 2. A routine leaf renewal under the same intermediate: nothing to do.
  serve(server, pki.leaf2, pki.intermediate);
  const renewal = await rotate();
  assert.equal(renewal.code, 0, renewal.stderr);
  assert.deepEqual(renewal.json.results.map(({ host, action, pin }) => ({ host, action, pin })), [{ host: HOST, action: 'no_change', pin: pki.intermediate.pin }]);
  assert.deepEqual(renewal.json.expired, []);
  assert.equal((await appConnect(policy, server.port)).ok, true);

  // 3. A new intermediate: recorded as pending_review, a human is needed, and the app still refuses it.
  serve(server, pki.leafOnInt2, pki.intermediate2);
  const change = await rotate();
  assert.equal(change.code, 1, change.stderr);
  assert.deepEqual(change.json.results.map(({ host, action, pin }) => ({ host, action, pin })), [{ host: HOST, action: 'new_pin_detected', pin: pki.intermediate2.pin }]);
  file = JSON.parse(await readFile(config, 'utf8'));
  assert.deepEqual(file.hosts[HOST].pins.map((p) => p.status), ['active', 'backup', 'pending_review']);
  const text = await certpin('rotate', '--config', config, ...net);
  assert.equal(text.code, 1, 'still pending: still a human needed');
  assert.match(text.stdout, /new_pin_detected/);
  // Apply the file as rotate left it, whether or not the watcher has got there yet: the pending pin
  // is in force in the app, and still not trusted.
  await policy.reload();
  const bytesBefore = server.bytesReceived();
  const refused = await appConnect(policy, server.port);
  assert.equal(refused.ok, false);
  assert.equal(refused.error.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(server.bytesReceived(), bytesBefore, 'not one application byte reached the server');

  // 4. The operator approves; the running app, watching the file, accepts the new chain without a restart.
  const approve = await certpin('approve', HOST, pki.intermediate2.pin, '--config', config);
  assert.equal(approve.code, 0, approve.stderr);
  assert.match(approve.stdout, /is active \(was pending_review\)/);
  const deadline = Date.now() + 5000;
  let accepted;
  while (!(accepted = await appConnect(policy, server.port)).ok && Date.now() < deadline) await sleep(20);
  assert.equal(accepted.ok, true, 'the approved pin is trusted by the running app');
  assert.equal((await rotate()).code, 0);

  // 5. 90 days later (a frozen clock), the old intermediate, unseen since step 2, expires; the backup
  // (never seen) does not. This step uses the library with the real inspect(), to set the clock.
  const later = new Date(Date.now() + 90 * DAY + 60_000);
  const expiry = await rotatePins(config, { now: later, inspect: { ca: pki.root.pem, resolve: [`${HOST}:${server.port}:127.0.0.1`] } });
  assert.equal(expiry.exitCode, 0);
  assert.deepEqual(expiry.results.map((r) => r.action), ['no_change']);
  assert.deepEqual(expiry.expired, [{ host: HOST, pin: pki.intermediate.pin }]);
  file = JSON.parse(await readFile(config, 'utf8'));
  assert.deepEqual(file.hosts[HOST].pins.map((p) => [p.pin, p.status]), [[pki.intermediate.pin, 'expired'], [backup, 'backup'], [pki.intermediate2.pin, 'active']]);
  assert.equal(file.hosts[HOST].pins[1].note, 'offline key, safe 3');
  assert.equal(file.hosts[HOST].lastChecked, later.toISOString());

  // The app follows: the old intermediate is no longer trusted; and rotate brings it back only for review.
  serve(server, pki.leaf, pki.intermediate);
  const oldDeadline = Date.now() + 5000;
  let old;
  while ((old = await appConnect(policy, server.port)).ok && Date.now() < oldDeadline) await sleep(20);
  assert.equal(old.ok, false, 'an expired pin is not trusted');
  const back = await rotate();
  assert.equal(back.code, 1);
  assert.deepEqual(back.json.results.map(({ action, pin }) => ({ action, pin })), [{ action: 'new_pin_detected', pin: pki.intermediate.pin }]);
  file = JSON.parse(await readFile(config, 'utf8'));
  assert.equal(file.hosts[HOST].pins[0].status, 'pending_review');
});
