// Metrics (docs/cli.md): Prometheus exposition of a probe round, checked by the real promtool, and served
// over HTTP on loopback.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectMetrics, formatMetrics, probeMetrics, serveMetrics } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { runProgram } from '../support/cli.mjs';

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
        localhost: { port: good, pins: [pki.rogueIntermediate.pin] },
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
    // The pins a pinned client accepts for api.example.test include those of *.example.test (docs/guarantees.md C4: union).
    assert.equal(s[`certpin_pin_match${at('api.example.test', good)}`], 1);
    assert.equal(s[`certpin_pin_match${at('localhost', good)}`], 0);
    assert.equal(s[`certpin_probe_success${at('down.example.test', down)}`], 0);
    // An outage is not a mismatch: no pin_match at all for a failed probe (issue 16 item 2).
    assert.equal(s[`certpin_pin_match${at('down.example.test', down)}`], undefined);
    assert.match(text, /# HELP certpin_pin_match .*Absent when the probe failed/);
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
});

describe('/probe?target= (the blackbox_exporter pattern), / and /-/healthy', () => {
  test('probes one host of the pin file per scrape, with its entry\'s pins and port', async (t) => {
    const good = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => good.close());
    const other = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => other.close());
    const down = await closedPort();
    const config = {
      hosts: {
        '127.0.0.1': { port: good.port, pins: [pki.intermediate.pin, { pin: pki.rogueRoot.pin, status: 'pending_review' }] },
        'api.example.test': { port: good.port, pins: [pki.rogueIntermediate.pin] },
        'down.example.test': { port: down, pins: [pki.intermediate.pin] },
      },
    };
    const resolve = [`api.example.test:${good.port}:127.0.0.1`, `down.example.test:${down}:127.0.0.1`, `stranger.example.test:${other.port}:127.0.0.1`];
    // intervalMs 0: no rounds of its own, every probe comes from a scrape of /probe.
    const server = await serveMetrics({ port: 0, intervalMs: 0, ca: pki.root.pem, resolve, timeout: 3000, load: () => config });
    t.after(() => server.close());
    const probe = async (query) => fetch(new URL(`/probe?${query}`, server.url));

    const first = await probe('target=127.0.0.1');
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await first.text();
    await assertPromtoolAccepts(text);
    const s = samples(text);
    const labels = `{host="127.0.0.1",target="127.0.0.1:${good.port}"}`;
    assert.equal(s[`certpin_probe_success${labels}`], 1, text);
    assert.equal(s[`certpin_pin_match${labels}`], 1);
    assert.equal(s[`certpin_chain_earliest_expiry_timestamp_seconds${labels}`], Math.floor(Date.parse(pki.leaf.cert.validTo) / 1000));
    assert.equal(s['certpin_pending_pins{host="127.0.0.1"}'], 1);
    assert.ok(!text.includes('api.example.test'), 'only the probed entry');

    const mismatch = await (await probe(`target=api.example.test:${good.port}`)).text();
    await assertPromtoolAccepts(mismatch);
    assert.equal(samples(mismatch)[`certpin_pin_match{host="api.example.test",target="api.example.test:${good.port}"}`], 0);

    const failed = await (await probe('target=down.example.test')).text();
    await assertPromtoolAccepts(failed);
    assert.equal(samples(failed)[`certpin_probe_success{host="down.example.test",target="down.example.test:${down}"}`], 0);
    assert.ok(!/^certpin_pin_match\{/m.test(failed), 'no pin_match for a failed probe');

    // /metrics without rounds: the pin file's own series, no probe at all.
    const before = good.connections();
    const metrics = await (await fetch(server.url)).text();
    await assertPromtoolAccepts(metrics);
    assert.equal(samples(metrics)['certpin_trusted_pins{host="127.0.0.1"}'], 1);
    assert.ok(!/^certpin_probe_success\{/m.test(metrics));
    assert.equal(good.connections(), before);
  });

  test('refuses what would make it an open prober or a file reader', async (t) => {
    const stranger = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => stranger.close());
    const config = { hosts: { 'api.example.test': { pins: [pki.intermediate.pin] } } };
    const server = await serveMetrics({ port: 0, intervalMs: 0, ca: pki.root.pem, resolve: [`stranger.example.test:${stranger.port}:127.0.0.1`], load: () => config });
    t.after(() => server.close());
    const get = async (path) => {
      const response = await fetch(new URL(path, server.url));
      return { status: response.status, body: await response.text() };
    };
    const unlisted = await get(`/probe?target=stranger.example.test:${stranger.port}`);
    assert.equal(unlisted.status, 404);
    assert.match(unlisted.body, /matches no host entry/);
    assert.equal(stranger.connections(), 0, 'no connection to a host outside the pin file');
    const withConfig = await get('/probe?target=api.example.test&config=/etc/passwd');
    assert.equal(withConfig.status, 400);
    assert.match(withConfig.body, /config= is not accepted/);
    assert.doesNotMatch(withConfig.body, /root:/);
    for (const bad of ['/etc/passwd', 'pins.json/..', 'a b', '[nope]:1', 'api.example.test:0', 'api.example.test:70000', '']) {
      const answer = await get(`/probe?target=${encodeURIComponent(bad)}`);
      assert.equal(answer.status, 400, `${bad}: ${answer.body}`);
    }
    assert.equal((await get('/probe')).status, 400);
    assert.equal((await get('/probe?target=a&target=b')).status, 400);
    assert.equal((await fetch(new URL('/probe?target=api.example.test', server.url), { method: 'POST' })).status, 405);
  });

  test('/ is a landing page and /-/healthy a health check; other paths 404', async (t) => {
    const server = await serveMetrics({ port: 0, intervalMs: 60_000, load: () => ({ hosts: {} }) });
    t.after(() => server.close());
    const landing = await fetch(new URL('/', server.url));
    assert.equal(landing.status, 200);
    assert.match(landing.headers.get('content-type'), /^text\/html/);
    const html = await landing.text();
    for (const link of ['href="metrics"', 'href="probe?target=', 'href="-/healthy"']) assert.ok(html.includes(link), link);
    const healthy = await fetch(new URL('/-/healthy', server.url));
    assert.equal(healthy.status, 200);
    assert.match(await healthy.text(), /healthy/);
    assert.equal((await fetch(new URL('/nothing', server.url))).status, 404);
  });

  test('concurrent /probe scrapes share one load of the pin file per second (frozen clock)', async (t) => {
    const port = await liveServer(t, [pki.leaf, pki.intermediate]);
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    let loads = 0;
    const config = { hosts: { '127.0.0.1': { port, pins: [pki.intermediate.pin] } } };
    const server = await serveMetrics({ port: 0, intervalMs: 0, ca: pki.root.pem, timeout: 3000, load: () => (loads++, config) });
    t.after(() => server.close());
    const scrape = () => fetch(new URL('/probe?target=127.0.0.1', server.url)).then((r) => r.text());
    const bodies = await Promise.all([1, 2, 3, 4, 5].map(scrape));
    assert.ok(bodies.every((b) => b.includes('certpin_pin_match{host="127.0.0.1"')), bodies[0]);
    assert.equal(loads, 1);
    t.mock.timers.tick(1000);
    await scrape();
    assert.equal(loads, 2, 'a second later the pin file is read again');
  });

  test('probeMetrics as a function', async (t) => {
    const port = await liveServer(t, [pki.leaf, pki.intermediate]);
    const text = await probeMetrics({ hosts: { '127.0.0.1': { pins: [pki.intermediate.pin] } } }, `127.0.0.1:${port}`, { ca: pki.root.pem, timeout: 3000 });
    await assertPromtoolAccepts(text);
    assert.equal(samples(text)[`certpin_pin_match{host="127.0.0.1",target="127.0.0.1:${port}"}`], 1);
    await assert.rejects(probeMetrics({ hosts: { '127.0.0.1': { pins: [pki.intermediate.pin] } } }, 'other.example.test'), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /matches no host entry/ });
    await assert.rejects(probeMetrics({ hosts: {} }, '/etc/passwd'), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /target must be HOST/ });
  });
});
