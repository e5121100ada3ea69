// The start-up check of certpin/register (src/register/quick-check.ts) may only say "certainly valid"
// of a pin file the full validation accepts without a warning: else a process would start on a file
// it should have refused. Checked here against the real validation on a document with every field
// the check knows, mutated field by field and at random, with the values a user gets wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pinFileConfig } from '../../build/src/pinfile/load.js';
import { certainlyValidPinFile } from '../../build/src/register/quick-check.js';
import { makePki } from '../support/pki.mjs';
import { pinsFor } from './fixtures/harness.mjs';

const pki = await makePki();
const [PIN_A, PIN_B, PIN_C] = [pki.intermediate.pin, pki.intermediate2.pin, pki.rogueIntermediate.pin];
const PATH = '/etc/certpin-test/pins.json';
// Far from any day the suite runs on: whether an expiry has passed does not depend on today's date.
const FUTURE = '2999-12-31';
const PAST = '1999-01-01';

function fullDocument() {
  return {
    $schema: 'https://unpkg.com/certpin/schema/pins.schema.json',
    version: 1,
    note: 'top',
    'x-owner': 'payments',
    settings: { unpinned: 'allow', pinLevel: 'intermediate', expireUnseenAfterDays: 90, note: 'settings', 'x-n': 1 },
    hosts: {
      'api.example.com': {
        pins: [PIN_A, { pin: PIN_B, status: 'backup', subject: 'CN=backup', firstSeen: '2025-01-01T00:00:00.000Z', lastSeen: '2025-02-01T00:00:00.000Z', note: 'safe 3', 'x-ticket': 'SEC-1' }],
        enforce: true,
        includeSubdomains: false,
        port: 8443,
        expires: FUTURE,
        lastChecked: '2025-03-01T00:00:00.000Z',
        note: 'host',
        reportUri: 'https://reports.example.org/pins',
        'x-flag': null,
      },
      '*.example.org': { pins: [{ pin: PIN_A, status: 'active' }, { pin: PIN_C, status: 'pending_review' }], enforce: false, probeHost: 'www.example.org' },
      '**.example.net': { pins: [PIN_B, { pin: PIN_C, status: 'rejected' }, { pin: PIN_A, status: 'expired' }], includeSubdomains: true, reportUri: 'http://reports.example.com/', probeHost: 'a.b.example.net' },
    },
  };
}

/** What the full validation says of a pin file's text: 'valid', 'warns' or the error's message. */
function fullVerdict(text) {
  const original = process.emitWarning;
  let warned = false;
  process.emitWarning = () => { warned = true; };
  try {
    pinFileConfig(PATH, text);
    return warned ? 'warns' : 'valid';
  } catch (error) {
    return error.message;
  } finally {
    process.emitWarning = original;
  }
}

const quick = (text) => certainlyValidPinFile(JSON.parse(text));

/** Values users put where they do not belong. */
const VALUES = [
  null, true, false, 0, -1, 1, 1.5, 65535, 65536, '', ' ', 'x', 'allow', 'deny', 'leaf', 'root', 'active', 'backup', 'bogus',
  FUTURE, PAST, '2999-12-31T00:00:00Z', '2999-02-30', 'not a date', PIN_A, `${PIN_A} `, `sha256/${PIN_A.slice(7, -1)}`,
  `sha256//${PIN_A.slice(7)}`, `pin-sha256="${PIN_A.slice(7)}"`, [], [PIN_A], [PIN_A, PIN_A], {}, { pin: PIN_A }, { a: 1 },
  // Report URIs and probe hosts, in and out of the document's entries.
  'https://reports.example.com/', 'https://api.example.com/r', 'https://sub.api.example.com/', 'https://x.example.org/', 'https://a.x.example.org/',
  'https://example.org/', 'https://example.net/', 'https://a.b.example.net/', 'ftp://reports.example.org/', 'https://127.0.0.1/', 'https://[::1]/',
  'https://bücher.example/', 'https://R.Example.Org./', 'https://reports.example.org:8443/x?y', 'https:reports', 'www.example.org', 'a.b.example.org',
  'example.org', 'www.example.net', 'example.net', 'api.example.com', 'sub.api.example.com', '*.example.org', 'WWW.example.org', 'www.example.org.',
];
const KEYS = ['foo', 'includeSubdomain', 'ca', 'caFile', 'reportUri', 'probeHost', 'onViolation', 'status', 'pin', 'pins', 'x-deep', 'x-', 'X-upper', 'note', 'version', 'hosts', 'settings'];
const PATTERNS = [
  'API.example.com', ' api.example.com', 'api.example.com.', 'xn--bcher-kva.example', 'bücher.example', '127.0.0.1', '::1', '[::1]',
  '*.*.example.com', '***.example.com', '*example.com', 'a..b', '-a.com', 'a_b.com', 'localhost', '1.2.3.4.example', '*.com', '**.localhost', '', '*', '**.', 'api.example.com',
];

/** Every object of the document (with its path, for messages): where mutations apply. */
function objectsOf(document) {
  const found = [['', document]];
  for (let i = 0; i < found.length; i++) {
    const [path, value] = found[i];
    for (const [key, child] of Object.entries(value)) {
      if (typeof child === 'object' && child !== null) found.push([`${path}/${key}`, child]);
    }
  }
  return found;
}

function* mutations() {
  const count = objectsOf(fullDocument()).length;
  for (let o = 0; o < count; o++) {
    const keys = Object.keys(objectsOf(fullDocument())[o][1]);
    for (const key of keys) {
      for (const value of [undefined, ...VALUES]) {
        const document = fullDocument();
        const [path, target] = objectsOf(document)[o];
        if (value === undefined) delete target[key];
        else target[key] = value;
        yield [`${path}/${key} = ${JSON.stringify(value)}`, JSON.stringify(document)];
      }
    }
    for (const key of KEYS) {
      for (const value of ['text', 1, null, { nested: { deeper: 1 } }, [1]]) {
        const document = fullDocument();
        const [path, target] = objectsOf(document)[o];
        target[key] = value;
        yield [`${path}/+${key} = ${JSON.stringify(value)}`, JSON.stringify(document)];
      }
    }
  }
  for (const pattern of PATTERNS) {
    const document = fullDocument();
    document.hosts[pattern] = { pins: [PIN_A] };
    yield [`host ${JSON.stringify(pattern)}`, JSON.stringify(document)];
  }
  // Forms only JSON text can hold.
  const text = JSON.stringify(fullDocument());
  yield ['__proto__ key', text.replace('"note":"top"', '"__proto__":{"unpinned":"deny"}')];
  yield ['1e400', text.replace('"expireUnseenAfterDays":90', '"expireUnseenAfterDays":1e400')];
  yield ['port 1e400', text.replace('"port":8443', '"port":1e400')];
  yield ['duplicate key, later wins', text.replace('"version":1', '"version":1,"version":2')];
  yield ['too many pins', JSON.stringify({ version: 1, hosts: { 'a.example.com': { pins: Array.from({ length: 40 }, (_, i) => ({ pin: i === 0 ? PIN_A : PIN_B.replace(/^sha256\/../, `sha256/${String(i).padStart(2, '0')}`), status: 'backup' })) } } })];
  const deep = { version: 1, hosts: { 'a.example.com': { pins: [PIN_A], 'x-deep': 1 } } };
  let node = deep.hosts['a.example.com'];
  for (let i = 0; i < 70; i++) node = node['x-deep'] = { 'x-deep': 1 };
  yield ['annotation nested 70 deep', JSON.stringify(deep)];
}

test('what the quick check accepts, the full validation accepts without a warning (field by field)', () => {
  let accepted = 0;
  let total = 0;
  for (const [what, text] of mutations()) {
    total++;
    if (!quick(text)) continue;
    accepted++;
    assert.equal(fullVerdict(text), 'valid', `the quick check accepted ${what}`);
  }
  // Not vacuous: both verdicts occur, and the document with every field is accepted as it is.
  assert.ok(quick(JSON.stringify(fullDocument())));
  assert.ok(accepted > 50 && accepted < total - 50, `${accepted} of ${total} accepted`);
});

test('what the quick check accepts, the full validation accepts without a warning (random combinations)', () => {
  const all = [...mutations()].map(([what]) => what);
  // A fixed seed: the same combinations on every run, so a failure can be replayed.
  let seed = 0x2545f491;
  const random = (n) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const list = [...mutations()];
  for (let round = 0; round < 400; round++) {
    // Apply two or three field mutations to one document, replaying them on parsed copies.
    const picks = [random(list.length), random(list.length), random(list.length)].slice(0, 2 + random(2));
    let document = fullDocument();
    for (const pick of picks) {
      const mutated = JSON.parse(list[pick][1]);
      document = mergeDifference(document, fullDocument(), mutated);
    }
    const text = JSON.stringify(document);
    if (quick(text)) assert.equal(fullVerdict(text), 'valid', `the quick check accepted ${picks.map((p) => all[p]).join(' + ')}`);
  }
});

/** `target` with what `mutated` changed relative to `base`, applied (keys added, removed or replaced). */
function mergeDifference(target, base, mutated) {
  if (typeof base !== 'object' || base === null || typeof mutated !== 'object' || mutated === null || Array.isArray(base) !== Array.isArray(mutated)) return mutated;
  if (typeof target !== 'object' || target === null) return mutated;
  const result = Array.isArray(target) ? [...target] : { ...target };
  for (const key of new Set([...Object.keys(base), ...Object.keys(mutated)])) {
    if (!(key in mutated)) delete result[key];
    else if (!(key in base)) result[key] = mutated[key];
    else if (JSON.stringify(base[key]) !== JSON.stringify(mutated[key])) result[key] = mergeDifference(target[key], base[key], mutated[key]);
  }
  return result;
}

test('files the quick check declines for the full validation: each is refused or warned about there', () => {
  const declined = {
    'an invalid pin': { version: 1, hosts: { 'a.example.com': { pins: ['sha256/tooShort='] } } },
    'a pin listed twice': { version: 1, hosts: { 'a.example.com': { pins: [PIN_A, { pin: PIN_A, status: 'backup' }] } } },
    'an unknown key': { version: 1, hosts: { 'a.example.com': { pins: [PIN_A], includeSubdomain: true } } },
    'a pattern listed twice': { version: 1, hosts: { 'a.example.com': { pins: [PIN_A] }, 'A.example.com': { pins: [PIN_B] } } },
    'an expired pin set': { version: 1, hosts: { 'a.example.com': { pins: [PIN_A], expires: PAST } } },
    'a report URI under its own entry': { version: 1, hosts: { '**.example.com': { pins: [PIN_A], reportUri: 'https://r.example.com/' } } },
    'a report URI at its own host': { version: 1, hosts: { 'r.example.com': { pins: [PIN_A], reportUri: 'https://r.example.com/' } } },
    'a report URI one label under a wildcard': { version: 1, hosts: { '*.example.com': { pins: [PIN_A], reportUri: 'https://r.example.com/' } } },
    'a report URI under an entry with its subdomains': { version: 1, hosts: { 'example.com': { pins: [PIN_A], includeSubdomains: true, reportUri: 'https://a.b.example.com/' } } },
    'a probe host outside its pattern': { version: 1, hosts: { '*.example.com': { pins: [PIN_A], probeHost: 'other.example.org' } } },
    'a probe host two labels under a one-label wildcard': { version: 1, hosts: { '*.example.com': { pins: [PIN_A], probeHost: 'a.b.example.com' } } },
    'a CA file that does not exist': { version: 1, settings: { caFile: 'no-such-ca.pem' }, hosts: {} },
    'version 2': { version: 2, hosts: {} },
    'no hosts': { version: 1 },
  };
  for (const [what, document] of Object.entries(declined)) {
    const text = JSON.stringify(document);
    assert.equal(quick(text), false, what);
    assert.notEqual(fullVerdict(text), 'valid', what);
  }
});

test('the pin files certpin writes take the quick path', async () => {
  assert.ok(certainlyValidPinFile(await pinsFor(['api.example.com', '*.example.org'], { unpinned: 'deny' })));
  const written = {
    $schema: 'https://unpkg.com/certpin/schema/pins.schema.json',
    version: 1,
    settings: { pinLevel: 'intermediate' },
    hosts: {
      'api.example.com': {
        pins: [{ pin: PIN_A, status: 'active', subject: 'CN=certpin Test Intermediate', firstSeen: '2025-01-01T00:00:00.000Z', lastSeen: '2025-01-01T00:00:00.000Z' }, { pin: PIN_B, status: 'backup' }],
        lastChecked: '2025-01-02T00:00:00.000Z',
        port: 8443,
      },
    },
  };
  assert.ok(certainlyValidPinFile(written));
  assert.equal(fullVerdict(JSON.stringify(written)), 'valid');
  // With what people add by hand: a report URI elsewhere, subdomains, a probe host, annotations.
  written.hosts['api.example.com'].reportUri = 'https://pin-reports.example.net/api';
  written.hosts['**.internal.example.com'] = { pins: [PIN_A, PIN_B], probeHost: 'www.internal.example.com', note: 'corp', 'x-owner': 'infra' };
  written.hosts['example.org'] = { pins: [PIN_A, PIN_B], includeSubdomains: true, probeHost: 'a.example.org', expires: FUTURE };
  assert.ok(certainlyValidPinFile(written));
  assert.equal(fullVerdict(JSON.stringify(written)), 'valid');
});
