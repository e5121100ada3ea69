// Values that are not JSON (issue 14 item 3): each is a clear ERR_CERTPIN_INVALID_CONFIG naming where
// it is (or a TypeError when the argument itself is not a configuration), never one of Node's own
// errors ("Do not know how to serialize a BigInt", "Cannot read properties of null", "Maximum call
// stack size exceeded").
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicy, lintPinFile, loadPolicy } from 'certpin';
import { makePki } from '../../support/pki.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-values-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const HOST = 'api.example.com';
const pins = () => [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];
const NODE_INTERNALS = /serialize a BigInt|Cannot read properties|Maximum call stack|Converting circular|is not iterable|undefined is not/;

/** `depth` arrays, each holding the next, built without recursion. */
function nested(depth) {
  let value = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function refused(config, where, what) {
  assert.throws(() => createPolicy(config), (error) => {
    assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG', `${error.name}: ${error.message}`);
    assert.doesNotMatch(error.message, NODE_INTERNALS);
    assert.ok(error.message.startsWith(`${where}: `), error.message);
    assert.match(error.message, what);
    return true;
  });
}

describe('createPolicy refuses values JSON cannot hold', () => {
  test('a BigInt anywhere', () => {
    refused({ hosts: { [HOST]: { pins: pins(), port: 443n } } }, `hosts["${HOST}"].port`, /443n is not a JSON value \(a bigint\)/);
    refused({ hosts: { [HOST]: { pins: pins(), 'x-id': 1n } } }, `hosts["${HOST}"]["x-id"]`, /1n is not a JSON value/);
    refused({ settings: { expireUnseenAfterDays: 90n }, hosts: {} }, 'settings.expireUnseenAfterDays', /90n/);
    refused({ hosts: { [HOST]: { pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup', 'x-n': [1, 2n] }] } } }, `hosts["${HOST}"].pins[1]["x-n"][1]`, /2n/);
  });

  test('a circular object', () => {
    const config = { hosts: { [HOST]: { pins: pins() } } };
    config.hosts[HOST]['x-self'] = config.hosts[HOST];
    refused(config, `hosts["${HOST}"]["x-self"]`, /circular structure/);
    const top = { 'x-loop': {}, hosts: {} };
    top['x-loop'].back = top;
    refused(top, 'x-loop.back', /circular/);
  });

  test('a hole in a pins array is refused where it is, not with a TypeError', () => {
    const sparse = [pki.intermediate.pin];
    sparse[2] = { pin: pki.intermediate2.pin, status: 'backup' };
    refused({ hosts: { [HOST]: { pins: sparse } } }, `hosts["${HOST}"].pins[1]`, /expected a pin string or an object with pin and status, got undefined/);
  });

  test('a shared (not circular) object is fine', () => {
    const shared = { team: 'payments' };
    assert.doesNotThrow(() => createPolicy({ hosts: { [HOST]: { pins: pins(), 'x-owner': shared }, 'b.example.com': { pins: pins(), 'x-owner': shared } } }));
  });

  test('ca: null, 5, an empty list, a list with a number', () => {
    refused({ ca: null, hosts: {} }, 'ca', /expected PEM text, DER or PEM bytes \(a Buffer\), or a non-empty array of them, got null/);
    refused({ ca: 5, hosts: {} }, 'ca', /got 5$/);
    refused({ ca: [], hosts: {} }, 'ca', /an empty list, which would trust no server/);
    refused({ ca: [pki.root.pem, 5], hosts: {} }, 'ca', /got \[/);
    refused({ ca: { pem: pki.root.pem }, hosts: {} }, 'ca', /got \{"pem"/);
  });

  test('10,000 levels of nesting, in an annotation or in the pins', () => {
    refused({ 'x-deep': nested(10_000), hosts: {} }, 'x-deep[0][0][0][0][0]…', /nested deeper than 64 levels/);
    refused({ hosts: { [HOST]: { pins: [nested(10_000)] } } }, `hosts["${HOST}"].pins[0][0][0]…`, /nested deeper than 64 levels/);
    assert.doesNotThrow(() => createPolicy({ 'x-fine': nested(50), hosts: {} }));
  });

  test('functions, symbols, NaN, Dates and Maps', () => {
    refused({ hosts: { [HOST]: { pins: pins(), enforce: () => true } } }, `hosts["${HOST}"].enforce`, /a function is not a JSON value/);
    refused({ hosts: { [HOST]: { pins: pins(), port: Number.NaN } } }, `hosts["${HOST}"].port`, /NaN is not a JSON number/);
    refused({ hosts: { [HOST]: { pins: pins(), expires: new Date('2027-06-30') } } }, `hosts["${HOST}"].expires`, /a Date object is not a JSON value/);
    refused({ hosts: new Map([[HOST, { pins: pins() }]]) }, 'hosts', /a Map object is not a JSON value/);
    refused({ hosts: { [HOST]: { pins: [Symbol('pin')] } } }, `hosts["${HOST}"].pins[0]`, /Symbol\(pin\) is not a JSON value/);
  });

  test('a configuration that is not an object is a TypeError', () => {
    for (const bad of [5, null, undefined, 'pins.json', [], 1n]) {
      assert.throws(() => createPolicy(bad), { name: 'TypeError', message: /createPolicy expects a configuration object/ }, String(bad));
    }
    const policy = createPolicy({ hosts: {} });
    assert.throws(() => policy.update(5), { name: 'TypeError', message: /policy\.update expects a configuration object/ });
  });
});

describe('pin files with deep nesting', () => {
  const deep = (depth) => `{"version":1,"x-deep":${'['.repeat(depth)}${']'.repeat(depth)},"hosts":{}}`;

  test('loadPolicy: ERR_CERTPIN_INVALID_CONFIG naming the file and the field', async () => {
    const path = join(dir, 'deep.json');
    writeFileSync(path, deep(10_000));
    await assert.rejects(loadPolicy(path), (error) => {
      assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG', error.message);
      assert.equal(error.message, `${path}: x-deep[0][0][0][0][0]…: nested deeper than 64 levels; a configuration never needs that`);
      return true;
    });
  });

  test('lint: a finding, or an error for nesting JSON.parse itself cannot read, never a crash', async () => {
    const path = join(dir, 'deep-lint.json');
    writeFileSync(path, deep(10_000));
    const findings = await lintPinFile(path);
    assert.deepEqual(findings.map((f) => [f.host, f.rule]), [[null, 'invalid-entry']]);
    assert.match(findings[0].message, /x-deep\[0\]\[0\]\[0\]\[0\]\[0\]…: nested deeper than 64 levels/);
  });
});
