// `certpin lint` (docs/policy.md, 9): exit 0 clean, 1 on findings (each with its fix), 2 for an unreadable or
// invalid file; --live against a real loopback server. In this process through main() (runMain); the
// binary runs once, for exit 1 with the findings on stdout.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { assertOneLineError, runCli, runMain } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-lint-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const inDays = (days) => new Date(Date.now() + days * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
let n = 0;
function pinFile(hosts) {
  const path = join(dir, `pins${++n}.json`);
  writeFileSync(path, JSON.stringify({ version: 1, hosts }));
  return path;
}
const good = () => ({ expires: inDays(180), pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }] });

describe('certpin lint', () => {
  test('a sound pin file: exit 0', async () => {
    const result = await runMain(['lint', '--config', pinFile({ 'api.example.com': good() })]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /no findings/);
  });

  test('findings: exit 1, each with its fix on the next line', async () => {
    const config = pinFile({
      'api.example.com': { expires: inDays(-3), pins: [pki.intermediate.pin] },
      '**.co.uk': good(),
      'far.example.com': { ...good(), expires: inDays(800) },
      'bad.example.com': { ...good(), pins: [...good().pins, 'sha256/tooShort='] },
    });
    const result = await runCli(['lint', '--config', config]);
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.match(lines.at(-1), /^5 findings in /);
    const findingLines = lines.slice(0, -1);
    for (let i = 0; i < findingLines.length; i += 2) {
      assert.match(findingLines[i], /^[a-z-]+: /);
      assert.match(findingLines[i + 1], /^ {2}fix: \S/);
    }
    const json = JSON.parse((await runMain(['lint', '--config', config, '--json'])).stdout);
    assert.deepEqual(json.findings.map((f) => `${f.host} ${f.rule}`).sort(), [
      '**.co.uk public-suffix', 'api.example.com expires-past', 'api.example.com too-few-pins', 'bad.example.com malformed-pin', 'far.example.com expires-far',
    ]);
  });

  test('a misspelled key: exit 1, naming the key, where it is and the nearest known key', async () => {
    const path = join(dir, `pins${++n}.json`);
    writeFileSync(path, JSON.stringify({ version: 1, settings: { unPinned: 'deny' }, hosts: { 'api.example.com': { ...good(), includeSubdomain: true } } }));
    const result = await runMain(['lint', '--config', path]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^unknown-key: settings\.unPinned: unknown key "unPinned" \(did you mean unpinned\?\)/m);
    assert.match(result.stdout, /^unknown-key: hosts\["api\.example\.com"\]\.includeSubdomain: unknown key "includeSubdomain" \(did you mean includeSubdomains\?\)/m);
    assert.match(result.stdout, /^ {2}fix: rename it to includeSubdomains$/m);
    assert.match(result.stdout, /^2 findings in /m);
  });

  test('report-only hosts are listed as info: exit 0 when nothing else is found', async () => {
    const config = pinFile({ 'api.example.com': { ...good(), enforce: false } });
    const result = await runMain(['lint', '--config', config]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^report-only: api\.example\.com is report-only .*runs unpinned/m);
    assert.match(result.stdout, /^1 info in /m);
    const json = JSON.parse((await runMain(['lint', '--config', config, '--json'])).stdout);
    assert.deepEqual(json.findings.map((f) => [f.host, f.rule, f.severity]), [['api.example.com', 'report-only', 'info']]);
    const both = await runMain(['lint', '--config', pinFile({ 'api.example.com': { ...good(), enforce: false }, 'b.example.com': { ...good(), expires: inDays(-1) } })]);
    assert.equal(both.code, 1);
    assert.match(both.stdout, /^1 finding and 1 info in /m);
  });

  test('unreadable or invalid file: exit 2 with one line', async () => {
    assertOneLineError(await runMain(['lint', '--config', join(dir, 'missing.json')]), { code: 2, pattern: /no such file/ });
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, 'hosts: []');
    assertOneLineError(await runMain(['lint', '--config', notJson]), { code: 2, pattern: /not valid JSON/ });
    const noHosts = join(dir, 'nohosts.json');
    writeFileSync(noHosts, '{"version":1}');
    assertOneLineError(await runMain(['lint', '--config', noHosts]), { code: 2, pattern: /hosts/ });
    assertOneLineError(await runMain(['lint']), { code: 2, pattern: /--config/ });
  });

  test('--live: every trusted pin in the live chain is reported, a real backup is not', async (t) => {
    const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => server.close());
    const rootFile = join(dir, 'root.pem');
    writeFileSync(rootFile, pki.root.pem);
    const config = pinFile({
      '127.0.0.1': { port: server.port, expires: inDays(180), pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.root.pin, status: 'backup' }] },
      'api.example.test': { port: server.port, ...good() },
    });
    assert.equal((await runMain(['lint', '--config', config])).code, 0, 'on paper both have a backup');
    const result = await runMain(['lint', '--config', config, '--live', '--ca', rootFile, '--resolve', `api.example.test:${server.port}:127.0.0.1`, '--json']);
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).findings.map((f) => `${f.host} ${f.rule}`), ['127.0.0.1 no-pin-outside-chain']);
  });
});
