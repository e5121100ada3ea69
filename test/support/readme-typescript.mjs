// Type-checks the README's JavaScript examples as a TypeScript reader would paste them: each block
// saved as a .ts file of one project that installed certpin (node_modules/certpin links this
// checkout's package.json and build, so the types are the built .d.ts a user gets), axios, got, ws and
// undici (with @types/node and @types/ws), compiled by tsc with the settings `tsc --init` of
// TypeScript 5.9 writes: strict, module nodenext, noUncheckedIndexedAccess, exactOptionalPropertyTypes.
// Under strict, a `catch (err)` binding is `unknown`: an example that reads err.cause without
// narrowing does not compile, which is what this catches.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TSCONFIG = {
  compilerOptions: {
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: true,
  },
  include: ['*.ts'],
};

/**
 * Compiles `files` (`[{ name, code, line, file }]`, `line` the line of the fence in `file`, README.md by default) in one project.
 * Resolves `{ errors: Map<name, string[]>, unattributed: string[], output }`, each error of a file as
 * `FILE:LINE:COLUMN: error TS…`; `unattributed` holds any other error tsc printed (a broken setup).
 */
export async function typeCheck(root, files) {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-readme-ts-'));
  try {
    const modules = join(dir, 'node_modules');
    const certpin = join(modules, 'certpin');
    mkdirSync(certpin, { recursive: true });
    for (const name of ['package.json', 'build']) symlinkSync(join(root, name), join(certpin, name));
    symlinkSync(join(root, 'node_modules'), join(certpin, 'node_modules'), 'dir');
    for (const name of ['axios', 'got', 'ws', 'undici', '@types']) symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-ts-app', private: true, type: 'module' }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    for (const file of files) writeFileSync(join(dir, file.name), file.code);
    let output = '';
    try {
      await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir });
    } catch (error) {
      if (typeof error.code !== 'number') throw error;
      output = `${error.stdout}${error.stderr}`;
    }
    const errors = new Map(files.map((file) => [file.name, []]));
    const unattributed = [];
    for (const line of output.split('\n').filter((l) => /error TS\d+/.test(l))) {
      const match = /^([\w.-]+\.ts)\((\d+),(\d+)\): (error TS\d+: .*)$/.exec(line);
      const file = match && files.find((f) => f.name === match[1]);
      if (file) errors.get(file.name).push(`${file.file ?? 'README.md'}:${file.line + Number(match[2])}:${match[3]}: ${match[4]}`);
      else unattributed.push(line);
    }
    return { errors, unattributed, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
