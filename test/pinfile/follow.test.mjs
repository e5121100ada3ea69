// The one follower of a pin file (src/pinfile/follow.ts), on its own and through loadPolicy: any
// event of the folder leads to a read (a Kubernetes `..data` swap names no pin file), content is
// de-duplicated (an unchanged file is not applied again, an invalid one is reported once per distinct
// content), and the debounce has a maximum wait, so a busy folder cannot keep the policy stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPolicy, pinnedAgent } from 'certpin';
import { fingerprintOf, followPinFile } from '../../build/src/pinfile/follow.js';
import { kubeletVolume } from '../support/kubelet.mjs';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { httpsRequest } from '../support/transport-fixtures.mjs';

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
 * A follower that can be watched: `reads` lists what each read of the file came to ('applied',
 * 'unchanged', 'failed') and `nextRead()` resolves at the next one; `prepared` counts the texts given
 * to `prepare` (the validation), `applied` lists what was applied, `errors` what was reported. A text
 * `{ "ca": "FILE" }` names a CA bundle, FILE in the folder, whose bytes are part of the fingerprint.
 */
function observedFollower(t, path, options = {}) {
  const probe = { reads: [], prepared: 0, applied: [], errors: [], waiters: [] };
  /** The next read, or with `outcome` the next read that came to it. */
  probe.nextRead = (outcome) => within(`${outcome ?? 'any'} read of the pin file`, (resolve) => probe.waiters.push({ outcome, resolve }));
  const follower = followPinFile({
    path,
    prepare(text) {
      probe.prepared++;
      const document = JSON.parse(text);
      if (document.valid !== true) throw new Error(`invalid: ${text}`);
      const caFile = document.ca === undefined ? undefined : join(dirname(path), document.ca);
      const ca = caFile === undefined ? undefined : readFileSync(caFile);
      return { fingerprint: fingerprintOf(text, ca), caFile, apply: () => probe.applied.push(document.n) };
    },
    onError: (error) => probe.errors.push(error.message),
    onRead: (outcome) => {
      probe.reads.push(outcome);
      const ready = probe.waiters.filter((waiter) => waiter.outcome === undefined || waiter.outcome === outcome);
      probe.waiters = probe.waiters.filter((waiter) => !ready.includes(waiter));
      for (const { resolve } of ready) resolve(outcome);
    },
    warningDetail: 'test',
    debounceMs: 0,
    ...options,
  });
  t.after(() => follower.close());
  return { follower, probe };
}

test('followPinFile: every event of the folder leads to a read; the file in force is neither validated nor applied again', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  writeFileSync(path, '{"valid":true,"n":1}');
  const { follower, probe } = observedFollower(t, path);
  follower.start('{"valid":true,"n":1}');
  for (let i = 0; i < 5; i++) {
    const read = probe.nextRead();
    appendFileSync(join(dir, 'app.log'), `line ${i}\n`);
    assert.equal(await read, 'unchanged');
  }
  assert.ok(probe.reads.length >= 5);
  assert.equal(probe.prepared, 0, 'the text in force was validated again');
  assert.deepEqual(probe.applied, [], 'the same content is never applied again');
  const read = probe.nextRead();
  replace(path, '{"valid":true,"n":2}');
  assert.equal(await read, 'applied');
  assert.deepEqual(probe.applied, [2]);
  assert.equal(probe.prepared, 1);
});

test('followPinFile: a rewrite with the same text is not validated again; a changed CA bundle is', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  const text = '{"valid":true,"n":1,"ca":"ca.pem"}';
  writeFileSync(join(dir, 'ca.pem'), 'bundle 1');
  writeFileSync(path, text);
  const { follower, probe } = observedFollower(t, path);
  follower.start({ fingerprint: fingerprintOf(text, Buffer.from('bundle 1')), caFile: join(dir, 'ca.pem') });

  // The same text by rename, as `certpin rotate` or a ConfigMap update of another key writes it; then
  // the bundle rewritten with the same bytes. check() reads after the rewrite; event reads may run too.
  replace(path, text);
  assert.equal(await follower.check(), false);
  replace(join(dir, 'ca.pem'), 'bundle 1');
  assert.equal(await follower.check(), false);
  assert.equal(probe.prepared, 0, 'an unchanged rewrite was validated');
  assert.deepEqual(probe.applied, []);
  assert.ok(!probe.reads.includes('applied'));

  // The bundle changed under the same text: that is a change of the pin file's content.
  const applied = probe.nextRead('applied');
  replace(join(dir, 'ca.pem'), 'bundle 2');
  await applied;
  assert.equal(probe.prepared, 1);
  assert.deepEqual(probe.applied, [1]);
  // The bundle gone: validated (and here refused), never taken for unchanged.
  const failed = probe.nextRead('failed');
  rmSync(join(dir, 'ca.pem'));
  await failed;
  assert.ok(probe.prepared >= 2);
  assert.deepEqual(probe.applied, [1]);
});

test('followPinFile: started from a fingerprint alone (no bundle path), the first read validates, the next ones do not', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pins.json');
  const text = '{"valid":true,"n":1,"ca":"ca.pem"}';
  writeFileSync(join(dir, 'ca.pem'), 'bundle 1');
  writeFileSync(path, text);
  const { follower, probe } = observedFollower(t, path);
  follower.start(fingerprintOf(text, Buffer.from('bundle 1')));
  let read = probe.nextRead();
  appendFileSync(join(dir, 'app.log'), 'line\n');
  assert.equal(await read, 'unchanged');
  assert.equal(probe.prepared, 1, 'without the bundle path, only validation can tell');
  read = probe.nextRead();
  appendFileSync(join(dir, 'app.log'), 'line\n');
  assert.equal(await read, 'unchanged');
  assert.equal(probe.prepared, 1, 'the path learnt from that validation is used from then on');
  assert.deepEqual(probe.applied, []);
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
  return httpsRequest({ host: '127.0.0.1', port, servername: HOST, path: '/', agent, headers: { authorization: 'Bearer app-secret' } })
    .then(() => ({ ok: true }), (error) => ({ ok: false, error }));
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
