// The lint rule that keeps the CLI on the public API (scripts/eslint-public-api.mjs, applied to
// src/cli/** by eslint.config.js): each name a CLI file imports from the library must be one
// src/index.ts exports from that same module, type-only imports included, with only the commented
// exceptions of eslint.config.js. Run through ESLint itself, on snippets that do and do not comply.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import certpin from '../../scripts/eslint-public-api.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULE = 'certpin/public-api-only';

describe('the repository config applies the rule to src/cli/**', () => {
  const eslint = new ESLint({ cwd: ROOT });
  /** The rule's messages for `code` as if it were the file at `path` (relative to the repository). */
  async function problems(code, path) {
    const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
    return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
  }

  test('an internal name is refused, saying which name, from which module, and what to do', async () => {
    const found = await problems("import { connectTls } from '../../probe/connect.js';\nexport const c = connectTls;\n", 'src/cli/commands/example.ts');
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0], /^connectTls is imported from src\/probe\/connect\.ts, but src\/index\.ts does not export connectTls from src\/probe\/connect\.ts/);
    assert.match(found[0], /export it from src\/index\.ts with TSDoc/);
    assert.match(found[0], /move it under src\/cli\//);
  });

  test('type-only imports count, and every name is checked on its own', async () => {
    const code = "import type { Endpoint } from '../probe/target.js';\nimport { parseTarget, type ParsedTarget, endpointOf } from '../probe/target.js';\nexport type E = Endpoint | ParsedTarget;\nexport const f = [parseTarget, endpointOf];\n";
    const found = await problems(code, 'src/cli/example.ts');
    assert.deepEqual(found.map((m) => m.split(' ')[0]), ['Endpoint', 'endpointOf']);
  });

  test('what index.ts exports passes, from its own module or from index.ts itself', async () => {
    const code = [
      "import { verifyPins, type VerifyResult } from '../../ops/verify.js';",
      "import { createPolicy, type PinPolicy } from '../../policy/policy.js';",
      "import { lintPinFile } from '../../index.js';",
      "import { defineCommand } from '../command.js';",
      "import { readFileSync } from 'node:fs';",
      'export const all = [verifyPins, createPolicy, lintPinFile, defineCommand, readFileSync];',
      'export type T = VerifyResult | PinPolicy;',
    ].join('\n');
    assert.deepEqual(await problems(code, 'src/cli/commands/example.ts'), []);
  });

  test('a public name taken from the wrong module is pointed to the right one', async () => {
    const found = await problems("import { createPolicy } from '../../pinfile/load.js';\nexport const c = createPolicy;\n", 'src/cli/commands/example.ts');
    assert.equal(found.length, 1);
    assert.match(found[0], /Import createPolicy from src\/policy\/policy\.ts, the module src\/index\.ts exports it from/);
  });

  test('imports that name nothing cannot be checked, so they are refused too', async () => {
    const code = [
      "import * as store from '../pinfile/store.js';",
      "import '../register.js';",
      "export * from '../lib/pem.js';",
      "export { shellQuote } from '../lib/shell.js';",
      "export const later = () => import('../probe/connect.js');",
      "export type S = typeof store | import('../probe/target.js').Endpoint;",
    ].join('\n');
    const found = await problems(code, 'src/cli/example.ts');
    assert.equal(found.length, 6, found.join('\n'));
    assert.match(found[0], /^A namespace import/);
    assert.match(found[1], /^An import for side effects of src\/register\.ts/);
    assert.match(found[2], /^export \* from src\/lib\/pem\.ts names no export, so it cannot be checked against src\/index\.ts/);
    assert.match(found[3], /^shellQuote is imported from src\/lib\/shell\.ts/);
    assert.match(found[4], /^A dynamic import\(\)/);
    assert.match(found[5], /^Endpoint is imported from src\/probe\/target\.ts/);
  });

  test('the exceptions are one file and one name each', async () => {
    const code = "import { createCertificate } from '../lib/x509.js';\nexport const c = createCertificate;\n";
    assert.deepEqual(await problems(code, 'src/cli/demo.ts'), []);
    assert.equal((await problems(code.replace('../lib/', '../../lib/'), 'src/cli/commands/demo.ts')).length, 1, 'createCertificate in another file');
    const other = "import { createCertificate, readCertificate } from '../lib/x509.js';\nexport const c = [createCertificate, readCertificate];\n";
    assert.deepEqual((await problems(other, 'src/cli/demo.ts')).map((m) => m.split(' ')[0]), ['readCertificate']);
  });

  test('outside src/cli/ the library may import what it likes', async () => {
    assert.deepEqual(await problems("import { connectTls } from '../probe/connect.js';\nexport const c = connectTls;\n", 'src/ops/example.ts'), []);
  });
});

describe('how the rule reads the index', () => {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-eslint-rule-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'cli'));
  writeFileSync(join(dir, 'index.ts'), [
    "export { a as renamed, b } from './lib/one.js';",
    "export type { T } from './lib/one.js';",
    "export * from './lib/all.js';",
    'export const local = 1;',
  ].join('\n'));
  const linter = new Linter({ cwd: dir });
  const config = [{
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { certpin },
    rules: { [RULE]: ['error', { index: join(dir, 'index.ts'), root: dir, scope: 'cli' }] },
  }];
  const lint = (code) => linter.verify(code, config, { filename: join(dir, 'cli', 'x.ts') }).map((m) => m.message.split(' ')[0]);

  test('a renamed export is allowed under its name in its module; export * allows every name', () => {
    assert.deepEqual(lint("import { a, b, type T, renamed } from '../lib/one.js';\nimport { anything } from '../lib/all.js';\n"), ['renamed']);
  });

  test("the index's own exports may be imported from it", () => {
    assert.deepEqual(lint("import { renamed, local, T, a } from '../index.js';\n"), ['a']);
  });
});
