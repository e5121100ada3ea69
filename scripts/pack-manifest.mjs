#!/usr/bin/env node
// The published package.json carries no install-time script. A checkout needs one: `npm ci` in a
// clone, and `npm install` from git, must build the TypeScript (SPEC 9: `./bin/certpin` runs after
// `npm ci`), and npm runs only the `prepare` script for that. A tarball, though, must not keep it:
// npm 11 lists a file or git dependency's `prepare` among "install scripts not yet covered by
// allowScripts", and a lifecycle script in a security package reads as a supply-chain risk.
//
// npm reads the package.json that goes into the tarball from disk after `prepack` and before
// `postpack` (libnpmpack), so `prepack` runs `strip` (the build, then package.json without the install
// scripts, the checkout's copy kept byte for byte in build/) and `postpack` runs `restore` (that copy
// renamed back: atomic). A pack that died in between is repaired by the next `strip` or `restore`.
// `npm publish` from the directory re-reads package.json after `postpack` for the registry's metadata,
// so releases publish the tarball that was packed and tested (`npm publish certpin-X.Y.Z.tgz`), and
// `guard-publish` (prepublishOnly) refuses the directory form.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MANIFEST = `${ROOT}package.json`;
const SAVED = `${ROOT}build/package.json.checkout`;
const TEMPORARY = `${ROOT}package.json.pack-tmp`;

/** The lifecycle scripts npm runs when the package is installed as a dependency. */
export const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'];

function restore() {
  if (existsSync(SAVED)) renameSync(SAVED, MANIFEST);
}

function strip() {
  restore();
  const text = readFileSync(MANIFEST, 'utf8');
  const manifest = JSON.parse(text);
  for (const name of INSTALL_SCRIPTS) delete manifest.scripts?.[name];
  mkdirSync(`${ROOT}build`, { recursive: true });
  writeFileSync(SAVED, text);
  writeFileSync(TEMPORARY, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(TEMPORARY, MANIFEST);
}

function guardPublish() {
  process.stderr.write(
    'certpin: publish the tarball that was packed and tested, not the directory:\n' +
      '  npm pack && npm publish certpin-<version>.tgz\n' +
      '(from a directory npm would send the checkout package.json, with its `prepare` script, to the registry)\n',
  );
  process.exit(1);
}

// Run as a script (the tests import INSTALL_SCRIPTS from it).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const commands = { strip, restore, 'guard-publish': guardPublish };
  const command = commands[process.argv[2]];
  if (command === undefined) {
    process.stderr.write(`usage: node scripts/pack-manifest.mjs ${Object.keys(commands).join('|')}\n`);
    process.exit(2);
  }
  command();
}
