// Host patterns and hostname normalisation (SPEC 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeHostname } from 'certpin';
import { HostIndex, parseHostPattern } from '../build/src/hosts.js';

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
