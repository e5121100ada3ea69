// Helpers for the tests that run npm as a user would (test/package*.test.mjs, test/api-docs.test.mjs):
// a clean environment for child processes, a command runner that never throws on an exit code, and
// fresh project folders.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The environment for a child: no test-runner or certpin variables, no npm settings of the current run. */
export function cleanEnv() {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  delete env.CERTPIN_CONFIG;
  // Under `npm test`, npm's own settings for the run (npm_config_*, npm_lifecycle_*) would leak into
  // the npm commands below; they must behave as in a user's shell. This node first on PATH, as npm's.
  for (const name of Object.keys(env)) if (/^npm_/i.test(name)) delete env[name];
  env.PATH = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ''}`;
  return env;
}

// What npm prints about a dependency's lifecycle scripts (npm 11: "install scripts not yet covered by allowScripts").
export const INSTALL_SCRIPT_WARNING = /install.scripts|allowScripts|npm warn/i;
export const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'];

/** A temporary folder removed after the test. */
export function tempDir(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command; resolves `{ code, stdout, stderr, output }` whatever its exit code. */
export async function sh(command, args, options) {
  try {
    const { stdout, stderr } = await run(command, args, { env: cleanEnv(), maxBuffer: 64 * 1024 * 1024, ...options });
    return { code: 0, stdout, stderr, output: `${stdout}${stderr}` };
  } catch (error) {
    if (typeof error.code !== 'number') throw error;
    return { code: error.code, stdout: error.stdout, stderr: error.stderr, output: `--- stdout\n${error.stdout}--- stderr\n${error.stderr}` };
  }
}

/** The package.json inside a tarball. */
export async function tarballManifest(tgz) {
  const { stdout } = await run('tar', ['-xzOf', tgz, 'package/package.json']);
  return JSON.parse(stdout);
}

/** A fresh project as `npm init -y` writes it: CommonJS. */
export function freshProject(t, prefix) {
  const dir = tempDir(t, prefix);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'fresh-project', version: '1.0.0', private: true, type: 'commonjs' }, null, 2)}\n`);
  return dir;
}

/**
 * The checkout `root` as a clone has it, in a temporary folder: the files git tracks (and new ones it
 * does not ignore), so no build/ and no node_modules/.
 */
export async function copyCheckout(t, root, prefix) {
  const dir = tempDir(t, prefix);
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  for (const path of stdout.split('\0').filter(Boolean)) {
    if (existsSync(join(root, path))) cpSync(join(root, path), join(dir, path), { recursive: true, verbatimSymlinks: true });
  }
  return dir;
}
