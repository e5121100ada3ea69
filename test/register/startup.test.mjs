// Fail closed: a process asked to run pinned never runs unpinned. A missing or invalid pin file stops
// it before the application's first line, with one line on stderr naming the file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makeAppDir, pinsFor, runToEnd } from './fixtures/harness.mjs';

describe('certpin/register at start', () => {
  let app;
  before(async () => {
    app = await makeAppDir();
  });
  after(() => app?.rm());

  const HOOKS = [
    ['import', 'app.mjs'],
    ['require', 'app.cjs'],
    ['NODE_OPTIONS', 'app.cjs'],
  ];

  async function refused(hook, script, env, expected) {
    const run = await runToEnd(app, { hook, script, env });
    assert.notEqual(run.status, 0, `${hook}: the application ran: ${run.stdout}`);
    assert.equal(run.stdout, '', `${hook}: the application printed ${run.stdout}`);
    const lines = run.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${hook}: expected one line, got:\n${run.stderr}`);
    assert.match(lines[0], /^certpin: /);
    assert.match(lines[0], expected);
    assert.doesNotMatch(lines[0], /\bat \S+:\d+/, 'no stack trace');
    return lines[0];
  }

  for (const [hook, script] of HOOKS) {
    test(`${hook}: a missing pin file stops the process, naming the file`, async () => {
      const missing = join(app.dir, 'no-such-pins.json');
      const line = await refused(hook, script, { CERTPIN_CONFIG: missing }, /no such file/);
      assert.ok(line.includes(missing), line);
    });

    test(`${hook}: an invalid pin file stops the process, naming the file and the field`, async () => {
      const broken = join(app.dir, 'broken.json');
      const document = await pinsFor(['api.example.test']);
      document.hosts['api.example.test'].pins[1].pin = 'sha256/tooShort=';
      app.writePinsTo(broken, document);
      const line = await refused(hook, script, { CERTPIN_CONFIG: broken }, /hosts\["api\.example\.test"\]\.pins\[1\]/);
      assert.ok(line.includes(broken), line);
      app.writePinsTo(broken, '{ "version": 1, "hosts": { ');
      assert.ok((await refused(hook, script, { CERTPIN_CONFIG: broken }, /not valid JSON/)).includes(broken));
    });

    test(`${hook}: CERTPIN_CONFIG unset stops the process`, async () => {
      await refused(hook, script, { CERTPIN_CONFIG: undefined }, /CERTPIN_CONFIG is not set/);
    });
  }

  test('a Node whose require() of ES modules is off stops the process (the hook loads its parts with it)', async () => {
    // Every Node certpin supports (20.19+, 22.12+, 24) can turn it off, and says so: the setup is real.
    const probe = spawnSync(process.execPath, ['--no-experimental-require-module', '-p', 'process.features.require_module'], { encoding: 'utf8' });
    assert.equal(probe.stdout.trim(), 'false', `this Node did not turn require(esm) off: ${probe.stderr.trim()}`);
    await refused('import', 'app.mjs', { NODE_OPTIONS: '--no-experimental-require-module' }, /require\(\) of ES modules, which is off in this process/);
  });

  test('a CA bundle named by the pin file that cannot be read stops the process', async () => {
    const withCa = join(app.dir, 'with-ca.json');
    app.writePinsTo(withCa, await pinsFor(['api.example.test'], { caFile: 'missing-ca.pem' }));
    await refused('import', 'app.mjs', { CERTPIN_CONFIG: withCa }, /settings\.caFile: cannot use .*missing-ca\.pem/);
  });
});
