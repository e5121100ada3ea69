// The shipped alert rules (issue 16 item 3): valid for promtool, behaving as intended under
// `promtool test rules` (test/ops/fixtures/alerts.test.yml), about metrics certpin really exports,
// and shipped in the package.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatMetrics } from 'certpin';
import { runProgram } from '../support/cli.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = join(ROOT, 'prometheus', 'alerts.yml');
const RULE_TESTS = join(ROOT, 'test', 'ops', 'fixtures', 'alerts.test.yml');
const dir = mkdtempSync(join(tmpdir(), 'certpin-alerts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('prometheus/alerts.yml', () => {
  test('promtool check rules accepts it', async () => {
    const result = await runProgram('promtool', ['check', 'rules', RULES]);
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /SUCCESS: 7 rules found/);
  });

  test('promtool test rules: each alert fires when it should and only then', async () => {
    const result = await runProgram('promtool', ['test', 'rules', RULE_TESTS]);
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /SUCCESS/);
  });

  test('the rule tests can fail: a pin alert that also fired on outages is caught', async () => {
    // The mistake item 2 of the issue is about: alerting on "not 1" counts outages as mismatches.
    const broken = readFileSync(RULES, 'utf8').replace('expr: certpin_pin_match == 0', 'expr: certpin_pin_match != 1 or certpin_probe_success == 0');
    assert.notEqual(broken, readFileSync(RULES, 'utf8'));
    writeFileSync(join(dir, 'alerts.yml'), broken);
    writeFileSync(join(dir, 'alerts.test.yml'), readFileSync(RULE_TESTS, 'utf8').replace('../../../prometheus/alerts.yml', 'alerts.yml'));
    const result = await runProgram('promtool', ['test', 'rules', join(dir, 'alerts.test.yml')]);
    assert.notEqual(result.code, 0, result.stdout);
    assert.match(`${result.stdout}${result.stderr}`, /alertname: CertpinPinMismatch/);
  });

  test('every metric the rules use is one certpin exports', () => {
    const used = new Set(readFileSync(RULES, 'utf8').match(/certpin_[a-z_]+/g));
    const pin = `sha256/${Buffer.alloc(32).toString('base64')}`;
    const probe = { entry: 'a.example', target: 'a.example:443', reason: null, durationMs: 1, result: { target: 'a.example:443', host: 'a.example', port: 443, trusted: true, error: null, unproven: [], chain: [{ role: 'leaf', pin, notAfter: '2030-01-01T00:00:00.000Z' }] } };
    const exported = new Set(formatMetrics({ hosts: { 'a.example': { pins: [pin], expires: '2030-01-01' } } }, [probe], { now: 0 }).match(/^certpin_[a-z_]+/gm));
    for (const name of used) assert.ok(exported.has(name), `${name} is used by a rule but not exported`);
  });

  test('the package ships it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.ok(pkg.files.includes('prometheus/'), pkg.files.join());
  });
});
