// Host patterns and hostname normalisation (docs/guarantees.md C4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy, normalizeHostname } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { HostIndex, parseHostPattern } from '../../build/src/policy/hosts.js';

function index(...patterns) {
  const idx = new HostIndex();
  for (const p of patterns) idx.add(parseHostPattern(p), p);
  return idx;
}
const matches = (idx, host) => idx.lookup(normalizeHostname(host));

test('normalisation: case, one trailing dot, IDN to punycode, IPv6 canonical form', () => {
  assert.equal(normalizeHostname('API.Example.COM'), 'api.example.com');
  assert.equal(normalizeHostname('api.example.com.'), 'api.example.com');
  assert.equal(normalizeHostname('api.example.com..'), '', 'only one trailing dot is dropped');
  assert.equal(normalizeHostname('Bücher.Example'), 'xn--bcher-kva.example');
  assert.equal(normalizeHostname('xn--bcher-kva.example'), 'xn--bcher-kva.example');
  assert.equal(normalizeHostname('[2001:DB8:0:0:0:0:0:1]'), '2001:db8::1');
  assert.equal(normalizeHostname('2001:0db8::0001'), '2001:db8::1');
  assert.equal(normalizeHostname('127.0.0.1'), '127.0.0.1');
});

test('exact pattern matches only its host', () => {
  const idx = index('api.example.com');
  assert.deepEqual(matches(idx, 'api.example.com'), ['api.example.com']);
  assert.deepEqual(matches(idx, 'API.EXAMPLE.COM.'), ['api.example.com']);
  assert.deepEqual(matches(idx, 'example.com'), []);
  assert.deepEqual(matches(idx, 'x.api.example.com'), []);
  assert.deepEqual(matches(idx, 'api.example.com.evil.test'), []);
});

test('*. matches exactly one more label', () => {
  const idx = index('*.example.com');
  assert.deepEqual(matches(idx, 'api.example.com'), ['*.example.com']);
  assert.deepEqual(matches(idx, 'example.com'), []);
  assert.deepEqual(matches(idx, 'a.b.example.com'), []);
  assert.deepEqual(matches(idx, 'notexample.com'), []);
});

test('**. matches zero or more labels', () => {
  const idx = index('**.example.com');
  for (const host of ['example.com', 'api.example.com', 'a.b.c.example.com']) assert.deepEqual(matches(idx, host), ['**.example.com'], host);
  assert.deepEqual(matches(idx, 'notexample.com'), []);
  assert.deepEqual(matches(idx, 'example.com.evil'), []);
});

test('every matching pattern is found (the policy takes the union of their pins)', () => {
  const idx = index('api.example.com', '*.example.com', '**.example.com', '**.com', 'other.example.com');
  assert.deepEqual(new Set(matches(idx, 'api.example.com')), new Set(['api.example.com', '*.example.com', '**.example.com', '**.com']));
});

test('IP literals match only themselves', () => {
  const idx = index('127.0.0.1', '::1', '[2001:db8::1]');
  assert.deepEqual(matches(idx, '127.0.0.1'), ['127.0.0.1']);
  assert.deepEqual(matches(idx, '0:0:0:0:0:0:0:1'), ['::1']);
  assert.deepEqual(matches(idx, '2001:DB8:0::1'), ['[2001:db8::1]']);
  assert.deepEqual(matches(idx, '127.0.0.2'), []);
});

test('other wildcards are refused', () => {
  for (const bad of ['api.*.example.com', 'a*.example.com', '*example.com', 'example.*', '***.example.com', '*.*.example.com', '*', '**', '*.127.0.0.1', '']) {
    assert.throws(() => parseHostPattern(bad), { code: 'ERR_CERTPIN_INVALID_CONFIG' }, bad);
  }
});

test('patterns are normalised like hostnames', () => {
  assert.equal(parseHostPattern('API.Example.COM.').text, 'api.example.com');
  assert.equal(parseHostPattern('*.Bücher.Example').text, '*.xn--bcher-kva.example');
  assert.equal(parseHostPattern('[2001:DB8::0:1]').text, '2001:db8::1');
});

test('zone IDs are not part of the host; an IPv4-mapped IPv6 address is its IPv4 address; nothing throws', () => {
  assert.equal(normalizeHostname('fe80::1%eth0'), 'fe80::1');
  assert.equal(normalizeHostname('[fe80::1%25eth0]'), 'fe80::1', 'the URL form of a zone (RFC 6874)');
  assert.equal(normalizeHostname('FE80::0:1%lo'), 'fe80::1');
  assert.equal(normalizeHostname('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(normalizeHostname('[::FFFF:7f00:1]'), '127.0.0.1');
  assert.equal(normalizeHostname('::ffff:1:7f00:1'), '::ffff:1:7f00:1', 'not an IPv4-mapped address');
  for (const odd of ['fe80::1%', '%eth0', '[]', '[::1', '::1]', ' ', 'a..b', '.', '..', 'a b.example']) {
    assert.doesNotThrow(() => normalizeHostname(odd), odd);
  }
  const idx = index('127.0.0.1', 'fe80::1');
  assert.deepEqual(matches(idx, '::ffff:127.0.0.1'), ['127.0.0.1']);
  assert.deepEqual(matches(idx, 'fe80::1%eth0'), ['fe80::1']);
});

test('a name that normalises to nothing is refused by the policy, never treated as unpinned (docs/guarantees.md C4)', async () => {
  const pki = await makePki();
  const chain = [pki.rogueLeaf.cert, pki.rogueIntermediate.cert];
  const policy = createPolicy({ ca: [pki.rogueRoot.pem], hosts: { 'api.example.test': { pins: [pki.intermediate.pin] } } });
  assert.equal(policy.check('unpinned.example', chain).outcome, 'unpinned', 'control: an unpinned host is allowed');
  for (const name of ['api.example.test..', 'a..b', '', ['api.example.test', 'x..']]) {
    const result = policy.check(name, chain);
    assert.equal(result.ok, false, JSON.stringify(name));
    assert.equal(result.outcome, 'invalid-host');
    assert.equal(result.error?.code, 'ERR_CERTPIN_INVALID_INPUT');
  }
  assert.equal(policy.check([], chain).ok, false, 'no name at all is refused too');
});

test('a connection is checked for every name it names: the union of their rules applies (docs/guarantees.md C4)', async () => {
  const pki = await makePki();
  const good = [pki.leaf.cert, pki.intermediate.cert];
  const other = [pki.rogueLeaf.cert, pki.rogueIntermediate.cert];
  const policy = createPolicy({
    ca: [pki.root.pem, pki.rogueRoot.pem],
    hosts: { 'api.example.test': { pins: [pki.intermediate.pin] }, 'other.example.test': { pins: [pki.rogueIntermediate.pin] } },
  });
  assert.equal(policy.check('unpinned.example', other).outcome, 'unpinned');
  const mixed = policy.check(['unpinned.example', 'API.example.test.'], other);
  assert.equal(mixed.outcome, 'mismatch', 'an unpinned servername does not make a pinned URL host unpinned');
  assert.equal(mixed.hostname, 'api.example.test', 'errors name the pinned name');
  assert.deepEqual(mixed.names, ['unpinned.example', 'api.example.test']);
  assert.match(mixed.error.message, /^Certificate pinning failure for api\.example\.test\n/);
  assert.equal(policy.check(['unpinned.example', 'api.example.test'], good).outcome, 'pinned');
  const both = policy.check(['api.example.test', 'other.example.test'], other);
  assert.equal(both.outcome, 'pinned', 'as with several patterns, the union of the pin sets applies');
  assert.deepEqual(new Set(both.expectedPins), new Set([pki.intermediate.pin, pki.rogueIntermediate.pin]));
  assert.equal(policy.check('api.example.test', good).names.length, 1, 'the one-name form is unchanged');
  assert.deepEqual(policy.rulesFor(['unpinned.example', 'other.example.test']).map((r) => r.pattern.text), ['other.example.test']);
});
