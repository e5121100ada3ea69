// The package as users get it: what `npm pack` publishes, that it is imported by its name (and
// certpin/register resolves), that its types compile for an ESM TypeScript consumer (and a wrong use
// does not), and that every public export is documented with an example.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** A consumer folder whose node_modules/certpin links this checkout (as `npm install certpin` would place it). */
function makeConsumer(t) {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-consumer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certpin = join(dir, 'node_modules', 'certpin');
  mkdirSync(certpin, { recursive: true });
  for (const name of ['package.json', 'build', 'bin', 'schema']) symlinkSync(join(ROOT, name), join(certpin, name));
  symlinkSync(join(ROOT, 'node_modules'), join(certpin, 'node_modules'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  return dir;
}

function cleanEnv() {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  delete env.CERTPIN_CONFIG;
  return env;
}

test('npm pack publishes only bin/, build/src/, schema/, README, LICENSE and package.json', async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env: cleanEnv() });
  const files = JSON.parse(stdout)[0].files.map((f) => f.path);
  const allowed = (path) => /^(bin|build\/src|schema|prometheus)\//.test(path) || ['README.md', 'LICENSE', 'package.json'].includes(path);
  assert.deepEqual(files.filter((path) => !allowed(path)), [], 'files outside the published set');
  assert.deepEqual(files.filter((path) => /(^|\/)(tests?|fixtures?|bench)(\/|\.|$)|\.test\.|\.tgz$/i.test(path)), [], 'tests, fixtures or benchmarks published');
  for (const needed of ['bin/certpin', 'build/src/index.js', 'build/src/index.d.ts', 'build/src/register.js', 'build/src/register.d.ts', 'schema/pins.schema.json', 'README.md', 'LICENSE', 'package.json']) {
    assert.ok(files.includes(needed), `${needed} is published`);
  }
});

test('the package is imported by its name; certpin/register resolves; internals are not reachable', async (t) => {
  const dir = makeConsumer(t);
  writeFileSync(join(dir, 'main.mjs'), `
    import * as certpin from 'certpin'
    import { createPolicy, pinnedFetch, isCertpinError } from 'certpin'
    const policy = createPolicy({ hosts: { 'api.example.com': { pins: ['sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='] } } })
    const fetch = pinnedFetch(policy)
    await fetch.dispatcher.close()
    let internal
    try { await import('certpin/build/src/pin.js') } catch (err) { internal = err.code }
    let invalid
    try { createPolicy({ hosts: { 'api.example.com': { pins: ['sha256/abc'] } } }) } catch (err) { invalid = isCertpinError(err, 'ERR_CERTPIN_INVALID_CONFIG') }
    console.log(JSON.stringify({
      exports: Object.keys(certpin).sort(),
      register: import.meta.resolve('certpin/register'),
      internal,
      invalid,
    }))
  `);
  const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: dir, env: cleanEnv() });
  const result = JSON.parse(stdout);
  for (const name of ['createPolicy', 'pinnedFetch', 'pinnedDispatcher', 'pinnedAgent', 'pinnedTlsOptions', 'loadPolicy', 'spkiPin', 'parsePin', 'inspect', 'CertpinError', 'PinMismatchError', 'isCertpinError', 'VIOLATION_CHANNEL']) {
    assert.ok(result.exports.includes(name), `certpin exports ${name}`);
  }
  assert.match(result.register, /\/build\/src\/register\.js$/);
  assert.equal(result.internal, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  assert.equal(result.invalid, true);
});

const GOOD_CONSUMER = `
import { createPolicy, isCertpinError, loadPolicy, PinMismatchError, pinnedFetch } from 'certpin';
import type { CertpinErrorCode, PinPolicy, PolicyConfig, ViolationReport } from 'certpin';

const config: PolicyConfig = {
  hosts: {
    'api.example.com': {
      pins: ['sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', { pin: 'sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', status: 'backup' }],
      enforce: false,
    },
  },
  settings: { unpinned: 'deny' },
};
const seen: ViolationReport[] = [];
const policy: PinPolicy = createPolicy(config, { onViolation: (report) => { seen.push(report); } });
const fetch = pinnedFetch(policy, { proxy: 'env', connect: { timeout: 5_000 } });

export async function status(): Promise<number> {
  try {
    const response = await fetch('https://api.example.com/');
    return response.status;
  } catch (err) {
    if (err instanceof PinMismatchError) {
      const expected: string[] = err.expectedPins;
      console.error(err.hostname, expected, err.peerPins.map((p) => p.subject));
    }
    if (isCertpinError(err)) {
      const code: CertpinErrorCode = err.code;
      switch (code) {
        case 'ERR_CERTPIN_MISMATCH': return -1;
        default: return -2;
      }
    }
    throw err;
  } finally {
    await fetch.dispatcher.close();
  }
}

const filePolicy = await loadPolicy('pins.json', { watch: true, onError: (error: Error) => console.error(error.message) });
filePolicy.close();
`;

// Each line is a wrong use the types must refuse.
const BAD_CONSUMER = `
import { createPolicy, isCertpinError, loadPolicy, pinnedFetch } from 'certpin';
const policy = createPolicy({ hosts: { 'api.example.com': { pins: 42 } } });
pinnedFetch(policy, { proxy: 42 });
await loadPolicy('pins.json', { watch: 'yes' });
const err: unknown = new Error('x');
if (isCertpinError(err, 'ERR_CERTPIN_NO_SUCH_CODE')) console.log(err.code);
`;

async function tsc(dir, file) {
  const args = [TSC, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', file];
  try {
    const { stdout } = await run(process.execPath, args, { cwd: dir, env: cleanEnv() });
    return { code: 0, output: stdout };
  } catch (error) {
    return { code: error.code, output: `${error.stdout}${error.stderr}` };
  }
}

test('types resolve for an ESM TypeScript consumer (NodeNext), and a wrong use does not compile', async (t) => {
  const dir = makeConsumer(t);
  writeFileSync(join(dir, 'good.ts'), GOOD_CONSUMER);
  writeFileSync(join(dir, 'bad.ts'), BAD_CONSUMER);
  const [good, bad] = await Promise.all([tsc(dir, 'good.ts'), tsc(dir, 'bad.ts')]);
  assert.equal(good.code, 0, good.output);
  assert.notEqual(bad.code, 0, 'the wrong uses compiled');
  const failedLines = new Set([...bad.output.matchAll(/^bad\.ts\((\d+),\d+\): error TS\d+/gm)].map((m) => Number(m[1])));
  assert.deepEqual([...failedLines].sort((a, b) => a - b), [3, 4, 5, 7], bad.output);
  assert.doesNotMatch(bad.output, /Cannot find module 'certpin'/);
});

/** The public exports of src/index.ts without a TSDoc comment carrying an @example. */
function exportsLackingExamples() {
  const program = ts.createProgram([join(ROOT, 'src', 'index.ts')], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true });
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(join(ROOT, 'src', 'index.ts'));
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(index));
  const lacking = [];
  for (const exported of exports) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = symbol.declarations ?? [];
    const hasExample = declarations.some((declaration) => ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'example'));
    if (!hasExample) {
      const where = declarations[0] ? `${declarations[0].getSourceFile().fileName.slice(ROOT.length)}` : '?';
      lacking.push(`${exported.name} (${where})`);
    }
  }
  return { count: exports.length, lacking };
}

test('every public export of src/index.ts has a TSDoc comment with an @example', () => {
  const { count, lacking } = exportsLackingExamples();
  assert.ok(count > 50, `found ${count} exports`);
  assert.deepEqual(lacking, [], `exports without an @example:\n  ${lacking.join('\n  ')}`);
});

// Strict configuration types (issue 14): annotations (`note`, `x-…`) compile at every level; a
// misspelled key does not, at any level, each error naming the key.
const ANNOTATED_CONSUMER = `
import { createPolicy, type PolicyConfig } from 'certpin';
const pin = 'sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';
const config: PolicyConfig = {
  $schema: './node_modules/certpin/schema/pins.schema.json',
  note: 'payments', 'x-owner': { team: 'payments' },
  settings: { unpinned: 'deny', caFile: 'root.pem', note: 'defaults', 'x-reviewed': true },
  hosts: { 'api.example.com': { pins: [pin, { pin, status: 'backup', note: 'safe 3', 'x-custodian': 'carol' }], port: 8443, lastChecked: '2026-01-01T00:00:00Z', note: 'api', 'x-ticket': 1 } },
  onViolation: (report) => console.log(report.hostname),
};
createPolicy(config);
`;

const TYPO_LINES = {
  includeSubdomain: "createPolicy({ hosts: { 'a.example.com': { pins: [], includeSubdomain: true } } });",
  enforse: "createPolicy({ hosts: { 'a.example.com': { pins: [], enforse: false } } });",
  reportURI: "createPolicy({ hosts: { 'a.example.com': { pins: [], reportURI: 'https://r.example.net/' } } });",
  unpinned: "createPolicy({ unpinned: 'deny', hosts: {} });",
  unPinned: "createPolicy({ settings: { unPinned: 'deny' }, hosts: {} });",
  notes: "createPolicy({ hosts: { 'a.example.com': { pins: [{ pin: 'sha256/x', status: 'backup', notes: 'safe 3' }] } } });",
};

test('configuration types: annotations compile, every misspelled key is a compile error naming it', async (t) => {
  const dir = makeConsumer(t);
  writeFileSync(join(dir, 'annotated.ts'), ANNOTATED_CONSUMER);
  const lines = Object.values(TYPO_LINES);
  writeFileSync(join(dir, 'typos.ts'), `import { createPolicy } from 'certpin';\n${lines.join('\n')}\n`);
  const [good, bad] = await Promise.all([tsc(dir, 'annotated.ts'), tsc(dir, 'typos.ts')]);
  assert.equal(good.code, 0, good.output);
  const errors = [...bad.output.matchAll(/^typos\.ts\((\d+),\d+\): error (TS\d+): (.*)$/gm)].map((m) => ({ line: Number(m[1]), code: m[2], text: m[3] }));
  Object.keys(TYPO_LINES).forEach((key, i) => {
    const onLine = errors.filter((e) => e.line === i + 2);
    assert.equal(onLine.length, 1, `${key} compiled:\n${bad.output}`);
    assert.ok(onLine[0].text.includes(`'${key}'`), onLine[0].text);
  });
});
