// docs/cli.md `collect`: the library collector accepts RFC 7469 and TrustKit reports, de-duplicates them,
// writes JSON lines and refuses what is not a report. Real HTTP on loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCollectedReport, startCollector } from 'certpin';
import { makePki } from '../support/pki.mjs';

const pki = await makePki();
const workDir = mkdtempSync(join(tmpdir(), 'certpin-collector-test-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** A raw HTTP request, so tests control the method, headers and chunking. */
function send(url, { method = 'POST', headers = {}, body, chunks } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (chunks) for (const chunk of chunks) req.write(chunk);
    req.end(body);
  });
}

const postJson = (url, value, contentType = 'application/json') =>
  send(url, { headers: { 'content-type': contentType }, body: typeof value === 'string' ? value : JSON.stringify(value) });

const rfc7469 = (overrides = {}) => ({
  'date-time': '2026-11-28T10:00:00Z',
  hostname: 'api.example.test',
  port: 443,
  'effective-expiration-date': '2027-06-30T23:59:59.999Z',
  'include-subdomains': false,
  'noted-hostname': 'api.example.test',
  'served-certificate-chain': [pki.rogueLeaf.pem, pki.rogueIntermediate.pem],
  'validated-certificate-chain': [pki.rogueLeaf.pem, pki.rogueIntermediate.pem, pki.rogueRoot.pem],
  'known-pins': [`pin-sha256="${pki.intermediate.pin.slice(7)}"`],
  ...overrides,
});

const trustkit = (overrides = {}) => ({
  'app-bundle-id': 'com.example.app',
  'app-version': '1.2',
  'app-vendor-id': '00000000-0000-0000-0000-000000000000',
  'app-platform': 'IOS',
  'trustkit-version': '3.0.3',
  hostname: 'mobile.example.test',
  port: 443,
  'noted-hostname': 'example.test',
  'include-subdomains': true,
  'enforce-pinning': true,
  'validated-certificate-chain': [pki.rogueLeaf.pem, pki.rogueIntermediate.pem, pki.rogueRoot.pem],
  'known-pins': [`pin-sha256="${pki.intermediate.pin.slice(7)}"`, `pin-sha256="${pki.root.pin.slice(7)}"`],
  'validation-result': 1,
  'date-time': '2026-11-28T10:00:00Z',
  ...overrides,
});

describe('startCollector', () => {
  let collector;
  const lines = [];
  const out = join(workDir, 'reports.jsonl');
  before(async () => {
    collector = await startCollector({ out, maxBodyBytes: 16 * 1024, onReport: (_report, line) => lines.push(line) });
  });
  after(() => collector.close());

  test('accepts an RFC 7469 report with 204, prints one line and appends one JSON line', async () => {
    const res = await postJson(collector.url, rfc7469());
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^\S+Z api\.example\.test:443 pin-validation-failed leaf sha256\/\S+ CN=api\.example\.test, O=certpin tests known 1 pin$/);
    assert.ok(lines[0].includes(pki.rogueLeaf.pin));
    const written = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(written.length, 1);
    assert.equal(written[0].format, 'rfc7469');
    assert.equal(written[0].hostname, 'api.example.test');
    assert.deepEqual(written[0].leaf, { subject: 'CN=api.example.test, O=certpin tests', pin: pki.rogueLeaf.pin });
    assert.deepEqual(written[0].report, rfc7469());
  });

  test('an identical report, whatever its date, is accepted once', async () => {
    const before = collector.accepted;
    for (const date of ['2026-11-28T11:00:00Z', '2026-11-28T12:00:00Z']) {
      assert.equal((await postJson(collector.url, rfc7469({ 'date-time': date }))).status, 204);
    }
    assert.equal(collector.accepted, before);
    assert.equal(collector.duplicates, 2);
    // A different port, reason or chain is another report.
    assert.equal((await postJson(collector.url, rfc7469({ port: 8443 }))).status, 204);
    assert.equal((await postJson(collector.url, rfc7469({ reason: 'pins-expired', enforced: false }))).status, 204);
    assert.equal(collector.accepted, before + 2);
    assert.match(lines.at(-1), / pins-expired report-only /);
  });

  test('accepts JSON under other JSON media types (Expect-CT style) and with parameters', async () => {
    assert.equal((await postJson(collector.url, rfc7469({ port: 1 }), 'application/expect-ct-report+json')).status, 204);
    assert.equal((await postJson(collector.url, rfc7469({ port: 2 }), 'application/json; charset=utf-8')).status, 204);
  });

  test('accepts a TrustKit report and names its validation result', async () => {
    assert.equal((await postJson(collector.url, trustkit())).status, 204);
    assert.match(lines.at(-1), /mobile\.example\.test:443 no-matching-pin enforced noted example\.test leaf sha256\/\S+ .* known 2 pins app com\.example\.app$/);
    const last = JSON.parse(readFileSync(out, 'utf8').trim().split('\n').at(-1));
    assert.equal(last.format, 'trustkit');
    assert.equal(last.appBundleId, 'com.example.app');
    assert.equal(last.enforced, true);
    assert.equal(last.includeSubdomains, true);
    assert.equal(last.reason, 'no-matching-pin');
    const duplicates = collector.duplicates;
    assert.equal((await postJson(collector.url, trustkit({ 'date-time': '2026-11-29T00:00:00Z' }))).status, 204);
    assert.equal(collector.duplicates, duplicates + 1);
  });

  test('refuses what is not a POSTed JSON report', async () => {
    const refusedBefore = collector.refused;
    const get = await send(collector.url, { method: 'GET' });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await send(collector.url, { method: 'PUT', body: '{}' })).status, 405);
    assert.equal((await postJson(collector.url, 'hostname=x', 'application/x-www-form-urlencoded')).status, 400);
    assert.equal((await postJson(collector.url, '{"hostname": ')).status, 400);
    assert.equal((await postJson(collector.url, '[1, 2]')).status, 400);
    assert.equal((await postJson(collector.url, { port: 443 })).status, 400);
    const badChain = await postJson(collector.url, rfc7469({ 'served-certificate-chain': 'not a list' }));
    assert.equal(badChain.status, 400);
    assert.match(badChain.text, /served-certificate-chain must be an array of strings/);
    assert.equal(collector.refused, refusedBefore + 7);
  });

  test('refuses a body over the limit with 413, declared or streamed', async () => {
    const big = JSON.stringify(rfc7469({ padding: 'x'.repeat(20 * 1024) }));
    assert.equal((await postJson(collector.url, big)).status, 413);
    const half = big.slice(0, big.length / 2);
    const chunked = await send(collector.url, { headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, chunks: [half, big.slice(half.length)] });
    assert.equal(chunked.status, 413);
    // The collector still works afterwards.
    assert.equal((await postJson(collector.url, rfc7469({ port: 3 }))).status, 204);
  });
});

describe('collector de-duplication window (frozen clock)', () => {
  test('the same report is accepted again once the window has passed', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-12-01T00:00:00Z') });
    const collector = await startCollector({ dedupWindowMs: 60_000 });
    t.after(() => collector.close());
    assert.equal((await postJson(collector.url, rfc7469())).status, 204);
    t.mock.timers.tick(59_999);
    assert.equal((await postJson(collector.url, rfc7469())).status, 204);
    assert.equal(collector.accepted, 1);
    t.mock.timers.tick(1);
    assert.equal((await postJson(collector.url, rfc7469())).status, 204);
    assert.equal(collector.accepted, 2);
  });

  test('remembers a bounded number of reports', async () => {
    const collector = await startCollector({ maxRemembered: 2 });
    try {
      for (const port of [1, 2, 3, 1]) assert.equal((await postJson(collector.url, rfc7469({ port }))).status, 204);
      // Port 1 was forgotten to make room for port 3, so it counts again.
      assert.equal(collector.accepted, 4);
    } finally {
      await collector.close();
    }
  });
});

/** Field values a reporter controls that would break one report into several log lines, or hide text. */
const HOSTILE = [
  'evil.example.test\n2026-11-28T10:00:00.000Z api.example.test:443 forged-line',
  'nul\u0000.example.test',
  'cr.example.test\rOVERWRITTEN',
  'ansi\u001b[2K\u001b[1A.example.test',
  'ls\u2028.example.test',
  'ps\u2029.example.test',
  'bidi\u202e.example.test',
];

describe('collector output cannot be forged by a report (log injection, CWE-117)', () => {
  test('control characters in any printed field are escaped: 7 hostile reports print exactly 7 lines', async (t) => {
    const lines = [];
    const collector = await startCollector({ onReport: (_report, line) => lines.push(line) });
    t.after(() => collector.close());
    for (const [i, hostile] of HOSTILE.entries()) {
      const report = i % 2 === 0
        ? rfc7469({ hostname: hostile, 'noted-hostname': `noted-${hostile}`, reason: `reason-${hostile}` })
        : trustkit({ hostname: hostile, 'app-bundle-id': `app-${hostile}` });
      assert.equal((await postJson(collector.url, report)).status, 204);
    }
    assert.equal(collector.accepted, 7);
    const printed = lines.join('\n');
    assert.equal(printed.split(/\r\n|[\n\r\u2028\u2029\u0085]/).length, 7, printed);
// eslint-disable-next-line no-control-regex -- matching control characters is the point
    for (const line of lines) assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    assert.match(lines[0], / evil\.example\.test\\x0a2026-11-28T10:00:00\.000Z api\.example\.test:443 forged-line:443 reason-evil\.example\.test\\x0a2026/);
    assert.match(lines[1], / nul\\x00\.example\.test:443 no-matching-pin .* app app-nul\\x00\.example\.test$/);
    assert.match(lines[3], /ansi\\x1b\[2K\\x1b\[1A\.example\.test/);
    assert.match(lines[4], /ls\\u2028\.example\.test/);
    assert.match(lines[6], /bidi\\u202e\.example\.test/);
  });

  test('the escaping is unambiguous: a literal backslash sequence is not mistaken for an escaped one', () => {
    const base = { receivedAt: '2026-11-28T10:00:00.000Z', format: 'rfc7469', port: 443, notedHostname: null, includeSubdomains: null, enforced: null, reason: 'r', appBundleId: null, knownPins: [], leaf: null, report: {} };
    const literal = formatCollectedReport({ ...base, hostname: 'a\\x0ab' });
    const newline = formatCollectedReport({ ...base, hostname: 'a\nb' });
    assert.notEqual(literal, newline);
    assert.match(literal, / a\\\\x0ab:443 /);
    assert.match(newline, / a\\x0ab:443 /);
  });
});

describe('collector counts and de-duplicates only what it stored', () => {
  const deep = (depth) => `{"hostname":"deep.example.test","port":443,"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;

  test('a 5,000-deep JSON report (10 KB) is refused with 400, every copy, and never counted', async (t) => {
    const out = join(workDir, 'deep.jsonl');
    const lines = [];
    const collector = await startCollector({ out, onReport: (_report, line) => lines.push(line) });
    t.after(() => collector.close());
    const body = deep(5000);
    assert.ok(body.length > 10_000 && body.length < 10_100);
    const answers = await Promise.all(Array.from({ length: 5 }, () => postJson(collector.url, body)));
    assert.deepEqual(answers.map((a) => a.status), [400, 400, 400, 400, 400]);
    assert.match(answers[0].text, /nests deeper than 32 levels/);
    assert.deepEqual([collector.accepted, collector.duplicates, collector.refused], [0, 0, 5]);
    assert.deepEqual(lines, []);
    assert.equal(existsSync(out), false);
    // A report nested as deep as allowed is still taken, and written.
    assert.equal((await postJson(collector.url, deep(30))).status, 204);
    assert.equal(collector.accepted, 1);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 1);
  });

  test('concurrent copies of a report whose write fails get 500, not 204 "duplicate", and a later copy is stored', async (t) => {
    const dir = join(workDir, 'not-yet');
    const out = join(dir, 'reports.jsonl');
    const lines = [];
    const collector = await startCollector({ out, onReport: (_report, line) => lines.push(line) });
    t.after(() => collector.close());
    const answers = await Promise.all(Array.from({ length: 5 }, () => postJson(collector.url, rfc7469())));
    assert.deepEqual(answers.map((a) => a.status), [500, 500, 500, 500, 500]);
    assert.deepEqual([collector.accepted, collector.duplicates], [0, 0]);
    assert.deepEqual(lines, [], 'nothing is announced that was not stored');
    mkdirSync(dir);
    const stored = await Promise.all(Array.from({ length: 5 }, () => postJson(collector.url, rfc7469())));
    assert.deepEqual(stored.map((a) => a.status), [204, 204, 204, 204, 204]);
    assert.deepEqual([collector.accepted, collector.duplicates], [1, 4]);
    assert.equal(lines.length, 1);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 1);
  });
});
