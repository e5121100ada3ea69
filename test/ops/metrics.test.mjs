// Metrics (SPEC 9): Prometheus exposition of a probe round, checked by the real promtool, and served
// over HTTP on loopback.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectMetrics, formatMetrics, serveMetrics } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { runProgram } from '../support/cli.mjs';
import { parseDuration } from '../../build/src/ops/metrics.js';

const pki = await makePki();

/** `promtool check metrics` on stdin: exit 0 and no lint problem reported. */
async function assertPromtoolAccepts(text) {
  const result = await runProgram('promtool', ['check', 'metrics'], { input: text });
  assert.equal(result.code, 0, `promtool: ${result.stdout}${result.stderr}\n${text}`);
  assert.equal(`${result.stdout}${result.stderr}`.trim(), '', `promtool reported problems\n${text}`);
}

/** Parses `name{labels} value` lines into { 'name{labels}': value }. */
const samples = (text) => Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));

async function liveServer(t, chain) {
  const server = await startTlsServer({ cert: chain });
  t.after(() => server.close());
  return server.port;
}

async function closedPort() {
  const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  const { port } = server;
  await server.close();
  return port;
}

describe('formatMetrics', () => {
  test('label values are escaped (backslash, quote, newline) and promtool accepts the result', async () => {
    const probe = {
      entry: 'api.example.com', target: 'we"ird\\host\nname:443', reason: null, durationMs: 12.3456,
      result: { target: 'x', host: 'x', port: 443, trusted: true, error: null, unproven: [], chain: [{ role: 'leaf', pin: pki.leaf.pin, notAfter: '2027-01-01T00:00:00.000Z' }] },
    };
    const text = formatMetrics({ hosts: { 'api.example.com': { pins: [pki.leaf.pin] } } }, [probe], { now: 0 });
    assert.ok(text.includes('certpin_probe_success{host="api.example.com",target="we\\"ird\\\\host\\nname:443"} 1'), text);
    assert.ok(text.includes('certpin_probe_duration_seconds{host="api.example.com",target="we\\"ird\\\\host\\nname:443"} 0.012'), text);
    await assertPromtoolAccepts(text);
    // the check can fail: promtool rejects what an unescaped quote would produce
    const broken = await runProgram('promtool', ['check', 'metrics'], { input: '# HELP x y\n# TYPE x gauge\nx{a="b"c"} 1\n' });
    assert.notEqual(broken.code, 0);
  });
});

describe('collectMetrics', () => {
  test('one probe round: success, pin match, earliest chain expiry, pin counts per host', async (t) => {
    const good = await liveServer(t, [pki.soonLeaf, pki.intermediate]);
    const down = await closedPort();
    const config = {
      version: 1,
      hosts: {
        '127.0.0.1': { port: good, pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }, { pin: pki.rogueRoot.pin, status: 'pending_review' }] },
        'api.example.test': { port: good, pins: [pki.rogueIntermediate.pin] },
        'down.example.test': { port: down, expires: '2030-01-01', pins: [pki.intermediate.pin] },
        '*.example.test': { pins: [pki.root.pin, pki.intermediate.pin] },
      },
    };
    const resolve = [`api.example.test:${good}:127.0.0.1`, `down.example.test:${down}:127.0.0.1`];
    const text = await collectMetrics(config, { ca: pki.root.pem, resolve, timeout: 3000, now: Date.parse('2026-01-01T00:00:00Z') });
    await assertPromtoolAccepts(text);
    const s = samples(text);
    const at = (host, port) => `{host="${host}",target="${host}:${port}"}`;
    assert.equal(s[`certpin_probe_success${at('127.0.0.1', good)}`], 1);
    assert.equal(s[`certpin_pin_match${at('127.0.0.1', good)}`], 1);
    assert.equal(s[`certpin_chain_earliest_expiry_timestamp_seconds${at('127.0.0.1', good)}`], Math.floor(Date.parse(pki.soonLeaf.cert.validTo) / 1000));
    assert.equal(s[`certpin_pin_match${at('api.example.test', good)}`], 0);
    assert.equal(s[`certpin_probe_success${at('down.example.test', down)}`], 0);
    assert.equal(s[`certpin_pin_match${at('down.example.test', down)}`], 0);
    assert.equal(s[`certpin_chain_earliest_expiry_timestamp_seconds${at('down.example.test', down)}`], undefined);
    assert.equal(s['certpin_trusted_pins{host="127.0.0.1"}'], 2);
    assert.equal(s['certpin_pending_pins{host="127.0.0.1"}'], 1);
    assert.equal(s['certpin_trusted_pins{host="*.example.test"}'], 2);
    assert.equal(s['certpin_pin_set_expiry_timestamp_seconds{host="down.example.test"}'], Math.floor(Date.parse('2030-01-01T23:59:59.999Z') / 1000));
    assert.equal(s.certpin_probe_round_timestamp_seconds, Date.parse('2026-01-01T00:00:00Z') / 1000);
    assert.ok(!Object.keys(s).some((k) => k.includes('host="*.example.test",target')), 'a *. entry without probeHost is not probed');
  });

  test('an invalid policy is refused before any probe', async () => {
    await assert.rejects(collectMetrics({ hosts: { 'x.example': { pins: ['nope'] } } }), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
  });
});

describe('serveMetrics', () => {
  test('serves /metrics on loopback from probe rounds, reloading the policy each round', async (t) => {
    const port = await liveServer(t, [pki.leaf, pki.intermediate]);
    let pins = [pki.intermediate.pin];
    let loads = 0;
    const server = await serveMetrics({ host: '127.0.0.1', port: 0, intervalMs: 60_000, ca: pki.root.pem, timeout: 3000, load: () => (loads++, { hosts: { '127.0.0.1': { port, pins } } }) });
    t.after(() => server.close());
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const first = await fetch(server.url);
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await first.text();
    await assertPromtoolAccepts(text);
    assert.equal(samples(text)[`certpin_pin_match{host="127.0.0.1",target="127.0.0.1:${port}"}`], 1);
    pins = [pki.rogueRoot.pin];
    await server.refresh();
    assert.equal(loads, 2);
    const second = await (await fetch(server.url)).text();
    assert.equal(samples(second)[`certpin_pin_match{host="127.0.0.1",target="127.0.0.1:${port}"}`], 0);
    assert.equal((await fetch(new URL('/other', server.url))).status, 404);
    assert.equal((await fetch(server.url, { method: 'POST' })).status, 405);
    await server.close();
    await assert.rejects(fetch(server.url));
  });

  test('before any good round it answers 503 with the reason', async (t) => {
    const errors = [];
    const server = await serveMetrics({ port: 0, intervalMs: 60_000, load: () => ({ hosts: { 'x.example': { pins: ['nope'] } } }), onError: (e) => errors.push(e) });
    t.after(() => server.close());
    const response = await fetch(server.url);
    assert.equal(response.status, 503);
    assert.match(await response.text(), /not a SHA-256 pin/);
    assert.equal(errors.length, 1);
  });

  test('durations as Prometheus writes them', () => {
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('30'), 30_000);
    assert.throws(() => parseDuration('5 minutes'), { name: 'TypeError', message: /not a duration/ });
  });
});
