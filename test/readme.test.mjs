// Runs the README as a reader would use it. Every ```js block is written to a file of an application
// folder that has certpin installed (node_modules/certpin links this checkout) and run with node,
// talking to https://api.example.com: test/support/readme-preload.mjs routes that name to a local
// server whose certificate comes from the test PKI, and NODE_EXTRA_CA_CERTS makes the machine trust
// the test root. Each example must then exit 0. Each is run again with api.example.com routed to a
// trusted MITM (a certificate for the same name from another root the machine trusts): a pinning
// example must fail with ERR_CERTPIN_MISMATCH and the MITM must receive zero application bytes; the
// report-only example must go ahead and report the violation. The ```sh blocks of the CLI tour and
// the CI check are run the same way; the other sh blocks are marked illustrative in the README, with
// the reason, right after the block.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { independentPin } from './support/pki.mjs';
import { startReadmeServers } from './support/readme-site.mjs';
import { typeCheck } from './support/readme-typescript.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./support/readme-preload.mjs', import.meta.url));
const BIN = join(ROOT, 'bin', 'certpin');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
// The README and the pages of docs/ it links (not the generated API reference): every example in them runs.
const DOCUMENTS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

// The README's example pins. Replacing them with the pins of the test PKI is legitimate: it is exactly
// what a reader does (paste the pins `certpin pins` and `certpin keygen` printed for their host), and
// the local api.example.com is issued by the test intermediate.
const EXAMPLE_INTERMEDIATE_PIN = 'sha256/EXAMPLE+issuing+CA+pin+of+api+example+com+0=';
const EXAMPLE_BACKUP_PIN = 'sha256/EXAMPLE+backup+key+pin+for+api+example+com0=';
const EXAMPLE_TIMEOUT_MS = 30_000;

/** Fenced blocks in order: `{ file, lang, code, line, illustrative }` (the reason of a following `<!-- illustrative: … -->`). */
function codeBlocks(markdown, file) {
  const blocks = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```[ \t]*\n(?:<!-- illustrative: (.+?) -->)?/gm;
  for (const match of markdown.matchAll(fence)) {
    blocks.push({
      file,
      lang: match[1],
      code: match[2],
      line: markdown.slice(0, match.index).split('\n').length,
      illustrative: match[3],
    });
  }
  return blocks;
}

const blocks = DOCUMENTS.flatMap((file) => codeBlocks(readFileSync(join(ROOT, file), 'utf8'), file));
const jsBlocks = blocks.filter((b) => b.lang === 'js' || b.lang === 'javascript' || b.lang === 'mjs');
const isPolicyFile = (block) => block.code.startsWith('// policy.js\n');
const isReportOnly = (block) => /enforce:\s*false/.test(block.code);

let servers;
let appDir;
let extraCaPath;
let backupPin;
let substitute;
const ran = new Set();

function childEnv(target) {
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: extraCaPath, CERTPIN_README_ROUTES: servers.routes(target), NO_COLOR: '1' };
  for (const name of ['NODE_TEST_CONTEXT', 'NODE_OPTIONS', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'CERTPIN_CONFIG', 'NODE_TLS_REJECT_UNAUTHORIZED']) delete env[name];
  return env;
}

/** Runs node with the preload; resolves `{ code, signal, stdout, stderr, output }`, killing it after the timeout. */
function runNode(args, { cwd, target }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PRELOAD, ...args], { cwd, env: childEnv(target), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), EXAMPLE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output: `--- stdout\n${stdout}--- stderr\n${stderr}` });
    });
  });
}

/** A folder for an application that ran `npm install certpin axios got ws undici`, linked to this checkout. */
function makeAppDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const modules = join(dir, 'node_modules');
  const certpin = join(modules, 'certpin');
  mkdirSync(certpin, { recursive: true });
  symlinkSync(join(ROOT, 'package.json'), join(certpin, 'package.json'));
  symlinkSync(join(ROOT, 'build'), join(certpin, 'build'), 'dir');
  symlinkSync(join(ROOT, 'bin'), join(certpin, 'bin'), 'dir');
  symlinkSync(join(ROOT, 'node_modules'), join(certpin, 'node_modules'), 'dir');
  for (const name of ['axios', 'got', 'ws', 'undici']) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: 'module' }));
  return dir;
}

/** Waits until `condition()` holds (for effects that land just after a child exits), or `ms` passed. */
async function eventually(condition, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return condition();
}

before(async () => {
  servers = await startReadmeServers();
  backupPin = independentPin(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  substitute = (text) => text.replaceAll(EXAMPLE_INTERMEDIATE_PIN, servers.pki.intermediate.pin).replaceAll(EXAMPLE_BACKUP_PIN, backupPin);
  appDir = makeAppDir('certpin-readme-');
  extraCaPath = join(appDir, 'machine-extra-ca.pem');
  writeFileSync(extraCaPath, servers.extraCa);
  const pinFile = blocks.find((b) => b.lang === 'json' && 'hosts' in JSON.parse(b.code));
  writeFileSync(join(appDir, 'pins.json'), substitute(pinFile.code));
  for (const [i, block] of jsBlocks.entries()) {
    writeFileSync(join(appDir, isPolicyFile(block) ? 'policy.js' : `example-${i}.mjs`), substitute(block.code));
  }
});

after(async () => {
  await servers?.close();
  if (appDir) rmSync(appDir, { recursive: true, force: true });
});

test('the README uses the example pins the substitution replaces, and pins api.example.com in policy.js first', () => {
  assert.ok(jsBlocks.length >= 9, `expected the library examples, found ${jsBlocks.length} js blocks`);
  assert.ok(isPolicyFile(jsBlocks[0]), 'the first js block is policy.js');
  assert.match(jsBlocks[0].code, /export const policy = createPolicy\(/);
  assert.ok(jsBlocks[0].code.includes(EXAMPLE_INTERMEDIATE_PIN) && jsBlocks[0].code.includes(EXAMPLE_BACKUP_PIN));
  assert.equal(jsBlocks.filter(isPolicyFile).length, 1);
  for (const block of jsBlocks.slice(1)) {
    assert.ok(block.code.includes("from './policy.js'") || block.code.includes(EXAMPLE_INTERMEDIATE_PIN) || block.code.includes("loadPolicy('pins.json'"),
      `${block.file}:${block.line}: an example must pin api.example.com (import ./policy.js, list the pins or load pins.json)`);
  }
  const quickStart = README.slice(README.indexOf('## Quick start'), README.indexOf('\n## ', README.indexOf('## Quick start') + 1));
  assert.match(quickStart, /^npm ci && npm run demo\b/m);
  assert.match(quickStart, /^npm test\b/m);
});

test('an ordinary client is fooled by the MITM (so a pinned example refusing it proves the pins)', async () => {
  const script = join(appDir, 'unpinned-control.mjs');
  writeFileSync(script, "const res = await fetch('https://api.example.com/v1/me')\nconsole.log(res.status, await res.text())\n");
  const before = servers.mitm.bytesReceived();
  const run = await runNode([script], { cwd: appDir, target: 'mitm' });
  assert.equal(run.code, 0, run.output);
  assert.match(run.stdout, /^200 /, run.output);
  assert.ok(servers.mitm.bytesReceived() > before, 'the MITM read the request');
});

for (const [i, block] of jsBlocks.entries()) {
  if (isPolicyFile(block)) {
    test(`${block.file}:${block.line} policy.js is imported by the examples`, () => {
      assert.ok(jsBlocks.some((b) => b.code.includes("from './policy.js'")));
      ran.add(i);
    });
    continue;
  }
  const file = `example-${i}.mjs`;
  const modules = [...block.code.matchAll(/^import .* from '([^.'][^']*)'/gm)].map((m) => m[1]).filter((m) => m !== 'certpin');
  const api = [...new Set(block.code.replace(/\/\/.*$/gm, '').match(/\b(pinned(?:Fetch|Dispatcher|Agent|TlsOptions)|loadPolicy)\b/g))];
  const title = [...api, ...modules].join(' + ');
  test(`${block.file}:${block.line} (${title}) works against api.example.com`, async () => {
    const requestsBefore = servers.site.requests.length;
    const run = await runNode([file], { cwd: appDir, target: 'site' });
    assert.equal(run.signal, null, `killed after ${EXAMPLE_TIMEOUT_MS} ms: the example must finish on its own\n${run.output}`);
    assert.equal(run.code, 0, run.output);
    assert.notEqual(run.stdout.trim(), '', run.output);
    assert.doesNotMatch(run.stdout + run.stderr, /ERR_CERTPIN|violation/, run.output);
    if (!block.code.includes('WebSocket')) assert.ok(servers.site.requests.length > requestsBefore, 'the site answered a request');
    ran.add(i);
  });

  if (isReportOnly(block)) {
    test(`${block.file}:${block.line} (report-only) goes ahead through the MITM and reports the violation`, async () => {
      const bytesBefore = servers.mitm.bytesReceived();
      const reportsBefore = servers.collector.reports();
      const run = await runNode([file], { cwd: appDir, target: 'mitm' });
      assert.equal(run.code, 0, run.output);
      assert.match(run.stdout, /certpin:violation api\.example\.com mismatch/, run.output);
      assert.match(run.stderr, /not enforced yet: Certificate pinning failure for api\.example\.com/, run.output);
      assert.ok(servers.mitm.bytesReceived() > bytesBefore, 'report-only: the request went ahead');
      assert.ok(await eventually(() => servers.collector.reports() > reportsBefore), 'the report reached reportUri');
    });
  } else {
    test(`${block.file}:${block.line} (${title}) refuses a trusted MITM: ERR_CERTPIN_MISMATCH, zero bytes sent`, async () => {
      const bytesBefore = servers.mitm.bytesReceived();
      const connectionsBefore = servers.mitm.connections();
      const run = await runNode([file], { cwd: appDir, target: 'mitm' });
      assert.equal(run.signal, null, `killed after ${EXAMPLE_TIMEOUT_MS} ms: the example must fail on its own\n${run.output}`);
      assert.notEqual(run.code, 0, run.output);
      assert.match(run.stdout + run.stderr, /ERR_CERTPIN_MISMATCH/, run.output);
      assert.ok(servers.mitm.connections() > connectionsBefore, 'the example was routed to the MITM');
      assert.equal(servers.mitm.bytesReceived(), bytesBefore, 'the MITM received application bytes');
    });
  }
}

// The same examples as a TypeScript reader pastes them (strict, NodeNext), against the built types.
// The control is the README's old catch block, which read err.cause of an `unknown` err.
const CONTROL_TS = `import { isCertpinError } from 'certpin'
try { await fetch('https://api.example.com/') } catch (err) {
  if (isCertpinError(err.cause, 'ERR_CERTPIN_MISMATCH')) console.error(err.cause.message)
}
`;
const tsName = (block, i) => (isPolicyFile(block) ? 'policy.ts' : `example-${i}.ts`);
let typeChecked;
const typeCheckReadme = () => (typeChecked ??= typeCheck(ROOT, [
  ...jsBlocks.map((block, i) => ({ name: tsName(block, i), code: block.code, line: block.line, file: block.file })),
  { name: 'control-unknown-catch.ts', code: CONTROL_TS, line: 0 },
]));

test('the TypeScript check of the README examples is real: an unnarrowed catch (err) does not compile', async () => {
  const { errors, unattributed, output } = await typeCheckReadme();
  assert.deepEqual(unattributed, [], output);
  assert.match(errors.get('control-unknown-catch.ts').join('\n'), /error TS18046: 'err' is of type 'unknown'/, output);
});

for (const [i, block] of jsBlocks.entries()) {
  test(`${block.file}:${block.line} type-checks as strict TypeScript (NodeNext) against the built types`, async () => {
    const { errors } = await typeCheckReadme();
    assert.deepEqual(errors.get(tsName(block, i)), []);
  });
}

test('every js block of the README and docs/ was run', () => {
  const missing = jsBlocks.map((b, i) => (ran.has(i) ? undefined : `${b.file}:${b.line}`)).filter(Boolean);
  assert.deepEqual(missing, [], `js blocks not run (or failing): ${missing.join(', ')}`);
});

/** `certpin a b --c d   # comment` → ['a', 'b', '--c', 'd']; double quotes group words. */
function shellWords(line) {
  const words = [];
  for (const match of line.replace(/\s#.*$/, '').matchAll(/"([^"]*)"|(\S+)/g)) words.push(match[1] ?? match[2]);
  return words;
}

test('the CLI tour and the CI check run as written against api.example.com; the other sh blocks say why not', async (t) => {
  const shBlocks = blocks.filter((b) => b.lang === 'sh' || b.lang === 'bash' || b.lang === 'shell');
  const [quickStart, ...rest] = shBlocks;
  assert.match(quickStart.code, /^npm ci && npm run demo/m, 'the first sh block is the quick start (run by test/cli/demo.test.mjs)');
  const tourDir = makeAppDir('certpin-readme-cli-');
  t.after(() => rmSync(tourDir, { recursive: true, force: true }));
  let commands = 0;
  for (const block of rest) {
    if (block.illustrative !== undefined) {
      assert.ok(block.illustrative.trim().length > 10, `${block.file}:${block.line}: say why the block is illustrative`);
      continue;
    }
    for (const line of block.code.split('\n').filter((l) => l.trim() !== '')) {
      assert.match(line, /^certpin /, `${block.file}:${block.line}: a run block holds certpin commands only (or mark it <!-- illustrative: why -->)`);
      assert.ok(!line.includes('…'), `${block.file}:${block.line}: "${line}" cannot run as written`);
      const args = shellWords(substitute(line)).slice(1);
      const run = await runNode([BIN, ...args], { cwd: tourDir, target: 'site' });
      assert.equal(run.code, 0, `${block.file}:${block.line}: ${line}\n${run.output}`);
      assert.notEqual(run.stdout, '', `${block.file}:${block.line}: ${line} printed nothing`);
      commands++;
    }
  }
  assert.ok(commands >= 12, `ran ${commands} commands`);
  // The CI check catches the MITM too: the same verify exits 1 when api.example.com is intercepted.
  const intercepted = await runNode([BIN, 'verify', '--config', 'pins.json'], { cwd: tourDir, target: 'mitm' });
  assert.equal(intercepted.code, 1, intercepted.output);
  assert.match(intercepted.stdout + intercepted.stderr, /Certificate pinning failure for api\.example\.com/);
});
