import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rotatePins } from 'certpin';
import { makePki } from '../support/pki.mjs';

const pki = await makePki();
const HOST = 'api.example.test';
const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2027-03-01T12:00:00.000Z');
const daysAgo = (days) => new Date(NOW.getTime() - days * DAY).toISOString();

const entryOf = (e, role) => ({ role, subject: e.subject, issuer: null, notBefore: null, notAfter: null, daysLeft: null, pin: e.pin, fingerprint256: null });
/** What inspect() returns for a trusted server presenting `leaf` under `intermediate`. */
const trusted = (leaf, intermediate) => ({ trusted: true, error: null, chain: [entryOf(leaf, 'leaf'), entryOf(intermediate, 'intermediate'), entryOf(pki.root, 'root')], unproven: [] });
const ORIGINAL = trusted(pki.leaf, pki.intermediate);
const NEW_INTERMEDIATE = trusted(pki.leafOnInt2, pki.intermediate2);

/** A probe that answers per target and records what it was asked. */
function fakeProbe(answers) {
  const calls = [];
  const probe = async (target, options) => {
    calls.push({ target, options });
    const answer = answers[target] ?? answers['*'];
    if (answer instanceof Error) throw answer;
    return { target, host: null, port: null, ...answer };
  };
  return Object.assign(probe, { calls });
}

async function pinFile(t, hosts, settings) {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-rotate-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'pins.json');
  await writeFile(path, `${JSON.stringify({ version: 1, ...(settings ? { settings } : {}), hosts }, null, 2)}\n`);
  return path;
}

const read = async (path) => JSON.parse(await readFile(path, 'utf8'));
const summary = (result) => result.results.map(({ host, action, pin }) => ({ host, action, pin }));

test('a trusted pin in the chain: no_change, lastSeen of every known pin in the chain, lastChecked', async (t) => {
  const path = await pinFile(t, { [HOST]: { pins: [
    { pin: pki.intermediate.pin, status: 'active', lastSeen: daysAgo(3) },
    { pin: pki.leaf.pin, status: 'pending_review' },
    { pin: pki.root.pin, status: 'backup' },
  ] } });
  const probe = fakeProbe({ [`${HOST}:443`]: ORIGINAL });
  const result = await rotatePins(path, { probe, now: NOW, inspect: { timeout: 1234 } });
  assert.deepEqual(summary(result), [{ host: HOST, action: 'no_change', pin: pki.intermediate.pin }]);
  assert.equal(result.exitCode, 0);
  assert.deepEqual(probe.calls, [{ target: `${HOST}:443`, options: { timeout: 1234 } }]);
  const { hosts } = await read(path);
  assert.deepEqual(hosts[HOST].pins.map((p) => p.lastSeen), [NOW.toISOString(), NOW.toISOString(), NOW.toISOString()]);
  assert.deepEqual(hosts[HOST].pins.map((p) => p.status), ['active', 'pending_review', 'backup']);
  assert.equal(hosts[HOST].lastChecked, NOW.toISOString());
});

test('no trusted pin in the chain: the pin at pinLevel is recorded pending_review, never trusted, once', async (t) => {
  const path = await pinFile(t, { [HOST]: { pins: [pki.intermediate.pin] } });
  const probe = fakeProbe({ '*': NEW_INTERMEDIATE });
  const first = await rotatePins(path, { probe, now: NOW });
  assert.deepEqual(summary(first), [{ host: HOST, action: 'new_pin_detected', pin: pki.intermediate2.pin }]);
  assert.equal(first.exitCode, 1);
  assert.match(first.results[0].message, /certpin approve api\.example\.test sha256\//);
  const again = await rotatePins(path, { probe, now: NOW });
  assert.deepEqual(summary(again), summary(first), 'still pending, still a human needed');
  const { hosts } = await read(path);
  assert.deepEqual(hosts[HOST].pins, [
    pki.intermediate.pin,
    { pin: pki.intermediate2.pin, status: 'pending_review', subject: pki.intermediate2.subject, firstSeen: NOW.toISOString(), lastSeen: NOW.toISOString() },
  ]);
});

for (const [pinLevel, expected] of [['leaf', 'leafOnInt2'], ['intermediate', 'intermediate2'], ['root', 'root']]) {
  test(`pinLevel ${pinLevel} records the ${expected} pin`, async (t) => {
    const path = await pinFile(t, { [HOST]: { pins: [{ pin: pki.rogueRoot.pin, status: 'active' }] } }, { pinLevel });
    const result = await rotatePins(path, { probe: fakeProbe({ '*': NEW_INTERMEDIATE }), now: NOW });
    assert.equal(result.results[0].pin, pki[expected].pin);
  });
}

test('a rejected pin seen again is reported, and not recorded again', async (t) => {
  const path = await pinFile(t, { [HOST]: { pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'rejected' }] } });
  const result = await rotatePins(path, { probe: fakeProbe({ '*': NEW_INTERMEDIATE }), now: NOW });
  assert.deepEqual(summary(result), [{ host: HOST, action: 'rejected_pin_seen', pin: pki.intermediate2.pin }]);
  assert.equal(result.exitCode, 1);
  const pins = (await read(path)).hosts[HOST].pins;
  assert.deepEqual(pins.map((p) => [p.pin, p.status]), [[pki.intermediate.pin, 'active'], [pki.intermediate2.pin, 'rejected']]);
});

test('an expired pin seen again comes back as pending_review', async (t) => {
  const path = await pinFile(t, { [HOST]: { pins: [{ pin: pki.intermediate2.pin, status: 'active' }, { pin: pki.intermediate.pin, status: 'expired', lastSeen: daysAgo(200) }] } });
  const result = await rotatePins(path, { probe: fakeProbe({ '*': ORIGINAL }), now: NOW });
  assert.deepEqual(summary(result), [{ host: HOST, action: 'new_pin_detected', pin: pki.intermediate.pin }]);
  assert.equal((await read(path)).hosts[HOST].pins[1].status, 'pending_review');
});

test('only active pins with a lastSeen older than the limit expire; never backups, never unseen pins', async (t) => {
  const pins = [
    { pin: pki.intermediate.pin, status: 'active', lastSeen: daysAgo(1) },
    { pin: pki.intermediate2.pin, status: 'active', lastSeen: daysAgo(90) },
    { pin: pki.rogueRoot.pin, status: 'active', lastSeen: daysAgo(89.9) },
    { pin: pki.rogueIntermediate.pin, status: 'backup', lastSeen: daysAgo(400) },
    { pin: pki.leafOnInt2.pin, status: 'active' },
    { pin: pki.rsaLeaf.pin, status: 'pending_review', lastSeen: daysAgo(400) },
  ];
  const path = await pinFile(t, { [HOST]: { pins } });
  const result = await rotatePins(path, { probe: fakeProbe({ '*': ORIGINAL }), now: NOW });
  assert.deepEqual(result.expired, [{ host: HOST, pin: pki.intermediate2.pin }]);
  assert.equal(result.exitCode, 0, 'expiry alone needs no human');
  const statuses = (await read(path)).hosts[HOST].pins.map((p) => p.status);
  assert.deepEqual(statuses, ['active', 'expired', 'active', 'backup', 'active', 'pending_review']);
});

test('expireAfterDays overrides the setting, and the setting overrides the default', async (t) => {
  const hosts = () => ({ [HOST]: { pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'active', lastSeen: daysAgo(10) }] } });
  const byOption = await pinFile(t, hosts());
  assert.equal((await rotatePins(byOption, { probe: fakeProbe({ '*': ORIGINAL }), now: NOW, expireAfterDays: 10 })).expired.length, 1);
  const bySetting = await pinFile(t, hosts(), { expireUnseenAfterDays: 7 });
  assert.equal((await rotatePins(bySetting, { probe: fakeProbe({ '*': ORIGINAL }), now: NOW })).expired.length, 1);
  const byDefault = await pinFile(t, hosts());
  assert.equal((await rotatePins(byDefault, { probe: fakeProbe({ '*': ORIGINAL }), now: NOW })).expired.length, 0);
  await assert.rejects(rotatePins(byDefault, { expireAfterDays: 0 }), { code: 'ERR_CERTPIN_INVALID_INPUT' });
});

test('an unreachable host is an error with exit 2, and its pins do not expire', async (t) => {
  const path = await pinFile(t, {
    [HOST]: { pins: [{ pin: pki.intermediate.pin, status: 'active', lastSeen: daysAgo(365) }] },
    'other.example.test': { pins: [pki.intermediate.pin] },
  });
  const probe = fakeProbe({ [`${HOST}:443`]: new Error('connection refused'), '*': ORIGINAL });
  const result = await rotatePins(path, { probe, now: NOW });
  assert.deepEqual(result.results.map((r) => r.action), ['error', 'no_change']);
  assert.match(result.results[0].message, /connection refused/);
  assert.equal(result.exitCode, 2);
  assert.deepEqual(result.expired, []);
  const { hosts } = await read(path);
  assert.equal(hosts[HOST].pins[0].status, 'active');
  assert.equal(hosts[HOST].lastChecked, NOW.toISOString());
});

test('an untrusted chain is an error with exit 1, and nothing is recorded from it', async (t) => {
  const path = await pinFile(t, { [HOST]: { pins: [pki.intermediate.pin] } });
  const untrusted = { ...trusted(pki.rogueLeaf, pki.rogueIntermediate), trusted: false, error: 'unable to get local issuer certificate' };
  const result = await rotatePins(path, { probe: fakeProbe({ '*': untrusted }), now: NOW });
  assert.deepEqual(summary(result), [{ host: HOST, action: 'error', pin: null }]);
  assert.match(result.results[0].message, /not trusted \(unable to get local issuer certificate\)/);
  assert.equal(result.exitCode, 1);
  assert.deepEqual((await read(path)).hosts[HOST].pins, [pki.intermediate.pin]);
});

test('wildcard entries are skipped unless they name a probeHost; ports and host filters apply', async (t) => {
  const path = await pinFile(t, {
    '*.example.test': { pins: [pki.intermediate.pin] },
    '**.example.org': { port: 8443, probeHost: 'www.example.org', pins: [pki.intermediate.pin] },
    [HOST]: { port: 8443, pins: [pki.intermediate.pin] },
  });
  const probe = fakeProbe({ '*': ORIGINAL });
  const all = await rotatePins(path, { probe, now: NOW });
  assert.deepEqual(all.skipped.map((s) => s.host), ['*.example.test']);
  assert.match(all.skipped[0].reason, /probeHost/);
  assert.deepEqual(probe.calls.map((c) => c.target), ['www.example.org:8443', `${HOST}:8443`]);
  assert.deepEqual(all.results.map((r) => r.host), ['**.example.org', HOST]);
  assert.equal((await read(path)).hosts['*.example.test'].lastChecked, undefined);

  const one = await rotatePins(path, { probe: fakeProbe({ '*': ORIGINAL }), now: NOW, hosts: ['API.example.test.'] });
  assert.deepEqual(one.results.map((r) => r.host), [HOST]);
  await assert.rejects(rotatePins(path, { probe, hosts: ['nope.example.test'] }), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /nope\.example\.test is not in/ });
});

test('probes run outside the lock and are applied to a fresh read, so concurrent edits survive', async (t) => {
  const path = await pinFile(t, { [HOST]: { pins: [pki.intermediate.pin] } });
  const probe = async () => {
    // Another writer edits the file while the server is being probed.
    const doc = await read(path);
    doc.hosts[HOST]['x-team'] = 'payments';
    await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
    return { target: HOST, host: HOST, port: 443, ...ORIGINAL };
  };
  await rotatePins(path, { probe, now: NOW });
  const { hosts } = await read(path);
  assert.equal(hosts[HOST]['x-team'], 'payments');
  assert.equal(hosts[HOST].lastChecked, NOW.toISOString());
});
