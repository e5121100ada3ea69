// Annotations (docs/policy.md, 8; issue 14 item 1): `note` and `x-…` keys at every level (top, settings, host,
// pin) survive every rewrite of the pin file: approve, reject, add, init, rotate and updatePinFile,
// with init and rotate probing a real TLS server.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPin, approvePin, initPins, readPinFile, rejectPin, rotatePins, updatePinFile } from 'certpin';
import { makePki } from '../../support/pki.mjs';
import { startTlsServer } from '../../support/servers.mjs';

const pki = await makePki();
const HOST = 'api.example.test';
const PENDING = pki.rogueIntermediate.pin;
const TO_REJECT = pki.rogueRoot.pin;

function document(port) {
  return {
    $schema: './node_modules/certpin/schema/pins.schema.json',
    'x-owner': { team: 'payments', oncall: ['alice', 'bob'] },
    note: 'pins of the payments services',
    version: 1,
    settings: { pinLevel: 'intermediate', 'x-reviewed': '2026-11-01', note: 'defaults on purpose' },
    hosts: {
      [HOST]: {
        note: 'the public API',
        'x-ticket': 'SEC-42',
        port,
        pins: [
          { pin: pki.intermediate.pin, status: 'active', 'x-source': 'init', note: 'issuing CA' },
          { pin: pki.intermediate2.pin, status: 'backup', note: 'offline key, safe 3', 'x-custodian': { name: 'carol' } },
          { pin: PENDING, status: 'pending_review', 'x-seenBy': 'rotate@ci' },
          { pin: TO_REJECT, status: 'pending_review', note: 'looks wrong' },
        ],
      },
    },
  };
}

/** Every annotation of a pin file, by path: what must survive. */
function annotations(doc) {
  const found = {};
  const pick = (value, path) => {
    for (const [key, v] of Object.entries(value)) if (key === 'note' || key.startsWith('x-') || key === '$schema') found[`${path}${key}`] = v;
  };
  pick(doc, '');
  pick(doc.settings, 'settings.');
  for (const [host, entry] of Object.entries(doc.hosts)) {
    pick(entry, `${host}.`);
    for (const record of entry.pins) if (typeof record === 'object') pick(record, `${host}.${record.pin}.`);
  }
  return found;
}

describe('annotations survive every rewrite of the pin file', () => {
  test('approve, reject, add, updatePinFile, init and rotate', async (t) => {
    const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), 'certpin-annotations-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'pins.json');
    const original = document(server.port);
    await writeFile(path, `${JSON.stringify(original, null, 2)}\n`);
    const expected = annotations(original);
    const inspect = { ca: pki.root.pem, resolve: [`${HOST}:${server.port}:127.0.0.1`], timeout: 5000 };
    let last = await readFile(path, 'utf8');

    const steps = [
      ['approve', () => approvePin(path, HOST, PENDING)],
      ['reject', () => rejectPin(path, HOST, TO_REJECT)],
      ['add', () => addPin(path, HOST, pki.leaf2.pin, { status: 'backup', note: 'second backup' })],
      ['updatePinFile', () => updatePinFile(path, (doc) => { doc.hosts[HOST].enforce = true; })],
      ['init', () => initPins(path, [`${HOST}:${server.port}`], { inspect, now: new Date('2027-01-02T00:00:00.000Z') })],
      ['rotate', () => rotatePins(path, { inspect, now: new Date('2027-01-03T00:00:00.000Z') })],
    ];
    for (const [name, step] of steps) {
      await step();
      const text = await readFile(path, 'utf8');
      assert.notEqual(text, last, `${name} rewrote the file`);
      last = text;
      const now = annotations(JSON.parse(text));
      for (const [where, value] of Object.entries(expected)) assert.deepEqual(now[where], value, `${name}: ${where}`);
    }
    const { document: final } = await readPinFile(path);
    assert.equal(final.hosts[HOST].pins.find((p) => p.pin === pki.leaf2.pin).note, 'second backup');
    assert.equal(final.hosts[HOST].lastChecked, '2027-01-03T00:00:00.000Z', 'rotate ran against the server');
    assert.deepEqual(final.hosts[HOST].pins.map((p) => p.status), ['active', 'backup', 'active', 'rejected', 'backup']);
  });
});
