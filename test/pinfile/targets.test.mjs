// Which server represents a pin-file entry (src/pinfile/targets.ts): probeTargets is the one answer
// verify --config, expiry, rotate and metrics use (test/cli/entry-targets.test.mjs runs those commands).
// An exact name is its own host, `**.x` is x, `*.x` names no single host unless the entry has a
// probeHost, which wins for every pattern; the port is the entry's, else 443. And the helpers around it:
// reading a server target, writing one for inspect(), the certificate a pin level records, and how a
// probe's outcome is sorted, the last against real loopback servers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { probeTargets } from 'certpin';
import { defaultProbe, formatTarget, parseHostPort, pickAtLevel, probeHost } from '../../build/src/pinfile/targets.js';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';

const pki = await makePki();
const target = (entry, value = { pins: [] }) => probeTargets({ hosts: { [entry]: value } })[0];
const SKIPPED = (base) => new RegExp(`^\\*\\.${base.replace(/\./g, '\\.')} names no single host; set "probeHost" on the entry \\(e\\.g\\. "www\\.${base.replace(/\./g, '\\.')}"\\) to probe it$`);

describe('probeTargets', () => {
  test('the example of its documentation', () => {
    const [any, one] = probeTargets({ hosts: { '**.example.com': { pins: [], port: 8443 }, '*.example.org': { pins: [] } } });
    assert.deepEqual(any, { entry: '**.example.com', target: 'example.com:8443', reason: null });
    assert.equal(one.entry, '*.example.org');
    assert.equal(one.target, null);
    assert.match(one.reason, SKIPPED('example.org'));
  });

  test('an exact name is its own host, on port 443 unless the entry gives one', () => {
    assert.deepEqual(target('api.example.com'), { entry: 'api.example.com', target: 'api.example.com:443', reason: null });
    assert.deepEqual(target('api.example.com', { pins: [], port: 8443 }), { entry: 'api.example.com', target: 'api.example.com:8443', reason: null });
  });

  test('**.x is probed at x itself; *.x names no single host and says how to probe it', () => {
    assert.deepEqual(target('**.api.example.com', { pins: [], port: 9443 }), { entry: '**.api.example.com', target: 'api.example.com:9443', reason: null });
    const one = target('*.cdn.example.com', { pins: [], port: 9443 });
    assert.deepEqual([one.entry, one.target], ['*.cdn.example.com', null]);
    assert.match(one.reason, SKIPPED('cdn.example.com'));
  });

  test('probeHost wins for every pattern, with the entry\'s port', () => {
    assert.deepEqual(target('*.example.com', { pins: [], probeHost: 'www.example.com' }), { entry: '*.example.com', target: 'www.example.com:443', reason: null });
    assert.deepEqual(target('**.example.com', { pins: [], probeHost: 'origin.example.com', port: 8443 }), { entry: '**.example.com', target: 'origin.example.com:8443', reason: null });
    assert.deepEqual(target('api.example.com', { pins: [], probeHost: 'api-1.example.com' }), { entry: 'api.example.com', target: 'api-1.example.com:443', reason: null });
  });

  test('IP entries: an IPv4 address as is, an IPv6 one in brackets, with or without them in the file', () => {
    assert.equal(target('127.0.0.1', { pins: [], port: 8443 }).target, '127.0.0.1:8443');
    assert.equal(target('::1').target, '[::1]:443');
    assert.equal(target('[::1]', { pins: [], port: 8443 }).target, '[::1]:8443');
    assert.equal(target('2001:DB8:0:0::1').target, '[2001:db8::1]:443', 'in the canonical form the policy matches');
    assert.equal(target('*.example.com', { pins: [], probeHost: '::1', port: 9443 }).target, '[::1]:9443');
  });

  test('the target is the name the policy matches; the entry stays as written', () => {
    assert.deepEqual(target('API.Example.COM'), { entry: 'API.Example.COM', target: 'api.example.com:443', reason: null });
    assert.equal(target('**.Example.COM.').target, 'example.com:443');
    assert.equal(target('bücher.example').target, 'xn--bcher-kva.example:443');
  });

  test('an entry that is no host pattern is not probed, with the reason, and never throws', () => {
    const wildIp = target('*.127.0.0.1');
    assert.deepEqual([wildIp.entry, wildIp.target], ['*.127.0.0.1', null]);
    assert.match(wildIp.reason, /invalid host pattern "\*\.127\.0\.0\.1": an IP address cannot take a wildcard/);
    assert.match(target('api.*.example.com').reason, /a wildcard is allowed only as the whole first label/);
    assert.match(target('api..example.com').reason, /not a valid hostname/);
  });

  test('one answer per entry, in the order of the file, the skipped ones included', () => {
    const hosts = {
      'b.example.com': { pins: [] },
      '*.example.net': { pins: [] },
      '**.example.org': { pins: [], port: 8443 },
      'a.example.com': { pins: [], port: 1 },
    };
    assert.deepEqual(probeTargets({ hosts }).map((t) => [t.entry, t.target]), [
      ['b.example.com', 'b.example.com:443'],
      ['*.example.net', null],
      ['**.example.org', 'example.org:8443'],
      ['a.example.com', 'a.example.com:1'],
    ]);
    assert.deepEqual(probeTargets({ hosts: {} }), []);
  });
});

describe('server targets', () => {
  test('parseHostPort reads host, host:port, [v6]:port and https:// URLs, as inspect() does', () => {
    assert.deepEqual(parseHostPort('api.example.com'), { host: 'api.example.com', port: 443 });
    assert.deepEqual(parseHostPort('api.example.com:8443'), { host: 'api.example.com', port: 8443 });
    assert.deepEqual(parseHostPort('[::1]:9443'), { host: '::1', port: 9443 });
    assert.deepEqual(parseHostPort('https://api.example.com:8443/health'), { host: 'api.example.com', port: 8443 });
  });

  test('parseHostPort refuses a file: a pin file entry needs a server', () => {
    assert.throws(() => parseHostPort('./chain.pem'), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /"\.\/chain\.pem" is a file; a pin file entry needs a server/ });
    assert.throws(() => parseHostPort('api.example.com:99999'), { code: 'ERR_CERTPIN_INVALID_INPUT' });
  });

  test('formatTarget writes what parseHostPort reads back, IPv6 in brackets', () => {
    assert.equal(formatTarget('api.example.com', 443), 'api.example.com:443');
    assert.equal(formatTarget('127.0.0.1', 8443), '127.0.0.1:8443');
    assert.equal(formatTarget('2001:db8::1', 8443), '[2001:db8::1]:8443');
    for (const [host, port] of [['api.example.com', 8443], ['::1', 9443], ['10.0.0.5', 443]]) assert.deepEqual(parseHostPort(formatTarget(host, port)), { host, port });
  });
});

describe('pickAtLevel', () => {
  const [leaf, intermediate, root] = ['leaf', 'intermediate', 'root'].map((role) => ({ role, pin: pki[role].pin }));

  test('the leaf, the issuer of the leaf, or the anchor of a verified chain', () => {
    const chain = [leaf, intermediate, root];
    assert.equal(pickAtLevel(chain, 'leaf'), leaf);
    assert.equal(pickAtLevel(chain, 'intermediate'), intermediate);
    assert.equal(pickAtLevel(chain, 'root'), root);
  });

  test('a chain too short for the level yields its nearest member; an empty one nothing', () => {
    const selfSigned = [leaf];
    for (const level of ['leaf', 'intermediate', 'root']) assert.equal(pickAtLevel(selfSigned, level), leaf, level);
    assert.equal(pickAtLevel([leaf, root], 'intermediate'), root);
    assert.equal(pickAtLevel([], 'intermediate'), undefined);
  });
});

describe('probeHost sorts what a probe found: trusted, untrusted or unreachable', () => {
  const servers = {};
  before(async () => {
    servers.good = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    servers.rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
    const closed = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    servers.refusedPort = closed.port;
    await closed.close();
  });
  after(() => Promise.all([servers.good.close(), servers.rogue.close()]));
  const options = { ca: pki.root.pem, timeout: 5000 };

  test('a chain that passes validation is trusted, with the verified chain', async () => {
    const outcome = await probeHost(defaultProbe, `127.0.0.1:${servers.good.port}`, options);
    assert.equal(outcome.kind, 'trusted');
    assert.deepEqual(outcome.result.chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
  });

  test('a chain that does not is untrusted: the chain as served and why, named by the target', async () => {
    const where = `127.0.0.1:${servers.rogue.port}`;
    const outcome = await probeHost(defaultProbe, where, options);
    assert.equal(outcome.kind, 'untrusted');
    assert.equal(outcome.result.chain[0].pin, pki.rogueLeaf.pin);
    assert.ok(outcome.message.startsWith(`${where}: the certificate chain is not trusted (`), outcome.message);
    assert.ok(outcome.message.includes(outcome.result.error), outcome.message);
  });

  test('no connection is unreachable, with the probe\'s message after the target', async () => {
    const where = `127.0.0.1:${servers.refusedPort}`;
    const outcome = await probeHost(defaultProbe, where, options);
    assert.equal(outcome.kind, 'unreachable');
    assert.match(outcome.message, new RegExp(`^${where.replace(/\./g, '\\.')}: connection refused by ${where.replace(/\./g, '\\.')}`));
    assert.equal('result' in outcome, false);
  });

  test('a result without any certificate is unreachable too: no handshake took place', async () => {
    // A ProbeFunction (the documented way to supply another probe) that reached nothing.
    const probe = async (where) => ({ target: where, host: 'api.example.com', port: 443, trusted: false, error: 'no handshake', chain: [], unproven: [] });
    assert.deepEqual(await probeHost(probe, 'api.example.com:443', {}), { kind: 'unreachable', message: 'api.example.com:443: no handshake' });
  });

  test('the probe is given the target and the options as they are', async () => {
    const calls = [];
    const probe = async (...args) => {
      calls.push(args);
      return defaultProbe(...args);
    };
    await probeHost(probe, `127.0.0.1:${servers.good.port}`, options);
    assert.deepEqual(calls, [[`127.0.0.1:${servers.good.port}`, options]]);
  });
});
