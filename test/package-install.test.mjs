// The package as npm users get it, for real: `npm pack` in a copy of the checkout builds first and
// publishes a package.json with no install-time script (npm 11 warns about a file or git dependency's
// prepare: a red flag for a security package), while the checkout keeps its own; the tarball installs
// into a fresh CommonJS project with no warning, and is used from ESM, from CommonJS (require(esm))
// and from the shell. A control proves the warning check sees a prepare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { INSTALL_SCRIPTS } from '../scripts/pack-manifest.mjs';
import { copyCheckout, freshProject, INSTALL_SCRIPT_WARNING, NPM_QUIET, sh, tarballManifest, tempDir } from './support/npm.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'schema', 'pins.schema.json'), 'utf8'));

test('npm pack publishes no install script; a fresh project installs the tarball with no warning and uses it from ESM, CommonJS and the shell', { timeout: 170_000 }, async (t) => {
  // A copy of the checkout (no build/), with this checkout's node_modules: npm pack must build it first.
  const clone = await copyCheckout(t, ROOT, 'certpin-pack-');
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  assert.ok(!existsSync(join(clone, 'build')));

  const packed = join(clone, '.packed');
  mkdirSync(packed);
  const checkoutManifest = readFileSync(join(clone, 'package.json'), 'utf8');
  let tgz;
  await t.test('npm pack builds first and publishes a package.json without install scripts; the checkout keeps its own', async () => {
    const pack = await sh('npm', ['pack', '--pack-destination', packed], { cwd: clone });
    assert.equal(pack.code, 0, pack.output);
    const [name] = readdirSync(packed).filter((file) => file.endsWith('.tgz'));
    assert.equal(name, `certpin-${PACKAGE.version}.tgz`);
    tgz = join(packed, name);
    const published = await tarballManifest(tgz);
    assert.deepEqual(INSTALL_SCRIPTS.filter((script) => published.scripts?.[script] !== undefined), [], 'install-time scripts in the published package.json');
    assert.equal(published.scripts.prepack, PACKAGE.scripts.prepack, 'only install scripts are left out');
    assert.deepEqual(published.exports, PACKAGE.exports);
    assert.equal(readFileSync(join(clone, 'package.json'), 'utf8'), checkoutManifest, 'postpack restores the checkout package.json byte for byte');
    assert.ok(!existsSync(join(clone, 'build', 'package.json.checkout')));
    assert.ok(JSON.parse(checkoutManifest).scripts.prepare, 'the checkout keeps prepare (npm ci and git installs build)');
    const { stdout: listing } = await run('tar', ['-tzf', tgz]);
    const files = listing.split('\n').filter(Boolean).map((path) => path.replace(/^package\//, ''));
    assert.ok(files.includes('build/src/index.js') && files.includes('schema/pins.schema.json') && files.includes('bin/certpin'));
    assert.deepEqual(files.filter((path) => !/^(bin|build\/src|schema|prometheus)\//.test(path) && !['README.md', 'LICENSE', 'package.json'].includes(path)), []);
  });

  await t.test('a fresh project installs the tarball with no warning; ESM import, CommonJS require, the schema and the bin work', async (t) => {
    const project = freshProject(t, 'certpin-install-');
    const install = await sh('npm', ['install', ...NPM_QUIET, tgz], { cwd: project });
    assert.equal(install.code, 0, install.output);
    assert.doesNotMatch(install.output, INSTALL_SCRIPT_WARNING, install.output);
    writeFileSync(join(project, 'esm.mjs'), `
      import { createPolicy, spkiPin } from 'certpin'
      import schema from 'certpin/schema/pins.schema.json' with { type: 'json' }
      console.log(JSON.stringify({ createPolicy: typeof createPolicy, spkiPin: typeof spkiPin, schema: import.meta.resolve('certpin/schema/pins.schema.json'), id: schema.$id, register: import.meta.resolve('certpin/register') }))
    `);
    // require(esm): Node 20.19+ and 22.12+ load an ES module without top-level await from require().
    writeFileSync(join(project, 'cjs.cjs'), `
      const { createPolicy, isCertpinError } = require('certpin')
      let invalid
      try { createPolicy({ hosts: { 'api.example.com': { pins: ['sha256/abc'] } } }) } catch (err) { invalid = isCertpinError(err, 'ERR_CERTPIN_INVALID_CONFIG') }
      console.log(JSON.stringify({ invalid, schema: require.resolve('certpin/schema/pins.schema.json'), id: require('certpin/schema/pins.schema.json').$id }))
    `);
    const [esm, cjs, bin] = await Promise.all([
      sh(process.execPath, ['esm.mjs'], { cwd: project }),
      sh(process.execPath, ['cjs.cjs'], { cwd: project }),
      sh(join(project, 'node_modules', '.bin', 'certpin'), ['--version'], { cwd: project }),
    ]);
    assert.equal(esm.code, 0, esm.output);
    const imported = JSON.parse(esm.stdout);
    assert.deepEqual([imported.createPolicy, imported.spkiPin], ['function', 'function']);
    assert.equal(imported.schema, new URL('node_modules/certpin/schema/pins.schema.json', `file://${project}/`).href);
    assert.equal(imported.id, SCHEMA.$id);
    assert.match(imported.register, /node_modules\/certpin\/build\/src\/register\.js$/);
    assert.equal(cjs.code, 0, cjs.output);
    const required = JSON.parse(cjs.stdout);
    assert.equal(required.invalid, true);
    assert.equal(required.schema, join(project, 'node_modules', 'certpin', 'schema', 'pins.schema.json'));
    assert.equal(required.id, SCHEMA.$id);
    assert.equal(bin.code, 0, bin.output);
    assert.equal(bin.stdout.trim(), PACKAGE.version);
  });
});

test('control: the install check sees a tarball whose package.json keeps a prepare script', async (t) => {
  // Proves INSTALL_SCRIPT_WARNING matches what npm prints: the check above could not pass by accident.
  const pkg = tempDir(t, 'certpin-control-pkg-');
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'prepare-control', version: '1.0.0', files: ['index.js'], scripts: { prepare: 'node -e 0' } }));
  writeFileSync(join(pkg, 'index.js'), 'module.exports = 1\n');
  const pack = await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', pkg], { cwd: pkg });
  assert.equal(pack.code, 0, pack.output);
  const project = freshProject(t, 'certpin-control-');
  const install = await sh('npm', ['install', ...NPM_QUIET, join(pkg, 'prepare-control-1.0.0.tgz')], { cwd: project });
  assert.equal(install.code, 0, install.output);
  assert.match(install.output, INSTALL_SCRIPT_WARNING);
});
