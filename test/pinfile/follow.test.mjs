// The one follower of a pin file (src/pinfile/follow.ts), on its own and through loadPolicy: any
// event of the folder leads to a read (a Kubernetes `..data` swap names no pin file), content is
// de-duplicated (an unchanged file is not applied again, an invalid one is reported once per distinct
// content), and the debounce has a maximum wait, so a busy folder cannot keep the policy stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request } from 'node:https';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPolicy, pinnedAgent } from 'certpin';
import { followPinFile } from '../../build/src/pinfile/follow.js';
import { kubeletVolume } from '../support/kubelet.mjs';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';

const pki = await makePki();
const HOST = 'api.example.test';
const chain = [pki.leaf.cert, pki.intermediate.cert];

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces the file by rename, so that no read sees it half written. */
function replace(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const pinsDocument = (pins) => ({ version: 1, hosts: { [HOST]: { pins } } });
const trusted = () => pinsDocument([{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }]);
const revoked = () => pinsDocument([{ pin: pki.intermediate.pin, status: 'rejected' }, { pin: pki.intermediate2.pin, status: 'active' }]);

/**
 * Resolves with `start(resolve)`'s value, or fails after 10 s. The timer also holds the process open:
 * the follower's watcher and timers deliberately do not.
 */
function within(what, start) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000);
    start((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** The next message of the `certpin:pinfile` channel with this `event`. */
function nextPinFileEvent(t, event) {
  return within(`${event} event`, (resolve) => {
    const onMessage = (message) => {
      if (message.event !== event) return;
      unsubscribe('certpin:pinfile', onMessage);
      resolve(message);
    };
    subscribe('certpin:pinfile', onMessage);
    t.after(() => unsubscribe('certpin:pinfile', onMessage));
  });
}

/**
 * A follower whose `prepare` is observable: `reads` counts the texts it was given, `nextRead()`
 * resolves at the next one, `applied` lists what was applied, `errors` what was reported.
 */
function observedFollower(t, path, options = {}) {
  const probe = { reads: 0, applied: [], errors: [], waiters: [] };
  probe.nextRead = () => within('read of the pin file', (resolve) => probe.waiters.push(resolve));
  const follower = followPinFile({
    path,
    prepare(text) {
      probe.reads++;
      for (const resolve of probe.waiters.splice(0)) resolve();
      const document = JSON.parse(text);
      if (document.valid !== true) throw new Error(`invalid: ${text}`);
      return { fingerprint: text, apply: () => probe.applied.push(document.n) };
    },
    onError: (error) => probe.errors.push(error.message),
    warningDetail: 'test',
    debounceMs: 0,
    ...options,
  });
  t.after(() => follower.close());
  return { follower, probe };
}

test('followPinFile: every event of the folder leads to a read; an unchanged file is not applied again', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  writeFileSync(path, '{"valid":true,"n":1}');
  const { follower, probe } = observedFollower(t, path);
  follower.start('{"valid":true,"n":1}');
  for (let i = 0; i < 5; i++) {
    const read = probe.nextRead();
    appendFileSync(join(dir, 'app.log'), `line ${i}\n`);
    await read;
  }
  assert.ok(probe.reads >= 5);
  assert.deepEqual(probe.applied, [], 'the same content is never applied again');
  const read = probe.nextRead();
  replace(path, '{"valid":true,"n":2}');
  await read;
  assert.deepEqual(probe.applied, [2]);
});

test('followPinFile: an invalid file is reported once per distinct content, whatever else the folder sees', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  writeFileSync(path, '{"valid":true,"n":1}');
  const { follower, probe } = observedFollower(t, path);
  follower.start('{"valid":true,"n":1}');
  let read = probe.nextRead();
  replace(path, '{"valid":false}');
  await read;
  assert.equal(probe.errors.length, 1);
  // An application logging into the folder: each write is another read of the same invalid file.
  for (let i = 0; i < 20; i++) {
    read = probe.nextRead();
    appendFileSync(join(dir, 'app.log'), `line ${i}\n`);
    await read;
  }
  assert.deepEqual(probe.errors, ['invalid: {"valid":false}'], 'reported once, not once per write');
  read = probe.nextRead();
  replace(path, '{"valid":false,"other":1}');
  await read;
  assert.equal(probe.errors.length, 2, 'another invalid content is reported');
  read = probe.nextRead();
  replace(path, '{"valid":true,"n":3}');
  await read;
  assert.deepEqual(probe.applied, [3]);
  // Invalid again after a valid version: reported again, even with the first invalid content.
  read = probe.nextRead();
  replace(path, '{"valid":false}');
  await read;
  assert.equal(probe.errors.length, 3);
});

test('followPinFile: under a sustained burst of writes the maximum wait still reads the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  writeFileSync(path, '{"valid":true,"n":1}');
  // The quiet time never comes while the burst lasts: only the maximum wait can read the file.
  const { follower, probe } = observedFollower(t, path, { debounceMs: 600_000, maxWaitMs: 100 });
  follower.start('{"valid":true,"n":1}');
  replace(path, '{"valid":true,"n":2}');
  const limit = 2000;
  let writes = 0;
  while (probe.applied.length === 0 && writes < limit) {
    appendFileSync(join(dir, 'app.log'), `line ${writes++}\n`);
    await sleep(5); // the pace of the burst (about 200 writes/s), not a wait for something to happen
  }
  assert.deepEqual(probe.applied, [2], `not applied after ${writes} writes`);
  assert.ok(writes < limit);
});

test('followPinFile: delays are checked (setTimeout fires at once above 2^31-1 ms)', (t) => {
  const path = join(tempDir(t), 'pins.json');
  const base = { path, prepare: () => assert.fail('not read'), warningDetail: 'test' };
  assert.throws(() => followPinFile({ ...base, maxWaitMs: 2 ** 31 }), { name: 'TypeError', message: /maxWaitMs must be a number of milliseconds from 0 to 2147483647, got 2147483648/ });
  assert.throws(() => followPinFile({ ...base, debounceMs: -1 }), { name: 'TypeError', message: /debounceMs/ });
  assert.throws(() => followPinFile({ ...base, debounceMs: Number.NaN }), { name: 'TypeError', message: /debounceMs/ });
});

/** A GET through `agent` to the test server at 127.0.0.1 for HOST: `{ ok }` or `{ ok: false, error }`. */
function get(agent, port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, servername: HOST, path: '/', agent, headers: { authorization: 'Bearer app-secret' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: true }));
    });
    req.on('error', (error) => resolve({ ok: false, error }));
    req.end();
  });
}

test('loadPolicy({ watch: true }) follows a Kubernetes ConfigMap update (..data swap): the revoked pin is refused', async (t) => {
  const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());
  const volume = kubeletVolume(join(tempDir(t), 'config'), { 'pins.json': trusted() });
  const policy = await loadPolicy(volume.path('pins.json'), { watch: true, ca: pki.root.pem });
  t.after(() => policy.close());
  const agent = pinnedAgent(policy);
  t.after(() => agent.destroy());
  assert.equal((await get(agent, server.port)).ok, true);

  const version = policy.version;
  const reloaded = nextPinFileEvent(t, 'reload');
  volume.update({ 'pins.json': revoked() });
  assert.equal((await reloaded).version, version + 1);
  assert.equal(policy.check(HOST, chain).outcome, 'mismatch');
  const bytes = server.bytesReceived();
  const after = await get(agent, server.port);
  assert.equal(after.ok, false, 'the revoked pin is still trusted');
  assert.equal(after.error.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(server.bytesReceived(), bytes, 'nothing was sent under the revoked pin');
});

test('loadPolicy({ watch: true }): writes to other files of the folder do not repeat onError for an invalid pin file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  writeFileSync(path, JSON.stringify(trusted()));
  const errors = [];
  const policy = await loadPolicy(path, { watch: true, ca: pki.root.pem, debounceMs: 0, onError: (error) => errors.push(error) });
  t.after(() => policy.close());
  const reported = nextPinFileEvent(t, 'error');
  replace(path, '{ "version": 1, "hosts": ');
  await reported;
  for (let i = 0; i < 43; i++) {
    appendFileSync(join(dir, 'app.log'), `line ${i}\n`);
    await sleep(5); // the pace of the application's logging
  }
  // A fixed file is applied, after the burst of log writes.
  const reloaded = nextPinFileEvent(t, 'reload');
  replace(path, JSON.stringify(revoked()));
  await reloaded;
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
  assert.match(errors[0].message, /pins\.json: not valid JSON/);
  assert.equal(policy.check(HOST, chain).outcome, 'mismatch');
});
