#!/usr/bin/env node
// The first step of `npm test`: the suite runs real peers (openssl, curl, tinyproxy, mitmproxy,
// xmllint, promtool, and javac, java and python3 to compile and parse what `export` writes), and a
// missing one must fail the run up front with one line that says what to install, not fail a dozen
// tests one by one. As root on Debian or Ubuntu (a container, CI) the missing packages are installed
// with apt-get; anywhere else the line names them.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Each tool the tests start, by the name they start it with, and the Debian package that provides it. */
const TOOLS = [
  ['openssl', 'openssl'],
  ['curl', 'curl'],
  ['tinyproxy', 'tinyproxy'],
  ['mitmdump', 'mitmproxy'],
  ['xmllint', 'libxml2-utils'],
  ['promtool', 'prometheus'],
  ['javac', 'openjdk-17-jdk-headless'],
  ['java', 'openjdk-17-jdk-headless'],
  ['python3', 'python3'],
];

const MIN_NODE = [20, 19];

/** The tool's path on PATH, or undefined; the tests start them by name, so PATH is what counts. */
function onPath(tool) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

const missing = () => TOOLS.filter(([tool]) => onPath(tool) === undefined);

function fail(message) {
  process.stderr.write(`npm test: ${message}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
  fail(`certpin needs Node.js ${MIN_NODE.join('.')} or later; this is ${process.version}`);
}

let absent = missing();
const canInstall = absent.length > 0 && process.getuid?.() === 0 && onPath('apt-get') !== undefined && process.env.CERTPIN_TEST_NO_INSTALL === undefined;
if (canInstall) {
  const packages = [...new Set(absent.map(([, pkg]) => pkg))];
  process.stderr.write(`npm test: installing ${packages.join(' ')} with apt-get (the tests run these tools for real)\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
  if (!apt(['update', '-qq']) || !apt(['install', '-y', '-qq', '--no-install-recommends', ...packages])) {
    fail(`apt-get could not install ${packages.join(' ')}`);
  }
  absent = missing();
}
if (absent.length > 0) {
  const names = absent.map(([tool, pkg]) => (tool === pkg ? tool : `${tool} (package ${pkg})`)).join(', ');
  const packages = [...new Set(absent.map(([, pkg]) => pkg))].join(' ');
  fail(`missing tools the tests run: ${names}; install them (Debian/Ubuntu: sudo apt-get install ${packages}) and run it again`);
}
