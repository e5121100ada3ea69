// settings.caFile in a pin file read by loadPolicy: "trust only this CA", for pinned and unpinned
// hosts alike, as createPolicy({ ca }) does. The MITM's root is trusted by the machine
// (NODE_EXTRA_CA_CERTS), so only the caFile can refuse it on an unpinned host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadPolicy } from 'certpin';
import { chainPem, makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';

const pki = await makePki();
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = 'api.example.test';

function pinFolder(t, settings) {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-cafile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), pki.root.pem);
  writeFileSync(join(dir, 'extra-ca.pem'), chainPem(pki.root, pki.rogueRoot));
  const path = join(dir, 'pins.json');
  writeFileSync(path, JSON.stringify({ version: 1, settings, hosts: { [HOST]: { pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }] } } }));
  return { dir, path };
}

// Runs in a process of its own (started from the checkout, not the pin file's folder, so a relative
// caFile must be resolved from the file): one https.get per [name, port, servername] through
// pinnedAgent(loadPolicy(path)), printed as JSON.
const CLIENT = `
  import { request } from 'node:https';
  import { loadPolicy, pinnedAgent } from 'certpin';
  const [path, targets] = [process.argv[1], JSON.parse(process.argv[2])];
  const agent = pinnedAgent(await loadPolicy(path));
  const get = ([name, port, servername]) => new Promise((resolve) => {
    const options = { host: '127.0.0.1', port, path: '/', agent, headers: { authorization: 'Bearer app-secret' } };
    if (servername) options.servername = servername;
    request(options, (res) => { res.resume(); res.on('end', () => resolve({ name, ok: true })); })
      .on('error', (error) => resolve({ name, ok: false, code: error.code }))
      .end();
  });
  const results = [];
  for (const target of targets) results.push(await get(target));
  console.log(JSON.stringify(results));
`;

async function requests(folder, targets) {
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(folder.dir, 'extra-ca.pem') };
  delete env.NODE_TEST_CONTEXT;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CLIENT, folder.path, JSON.stringify(targets)], { cwd: ROOT, env, timeout: 30_000 });
  return Object.fromEntries(JSON.parse(stdout).map(({ name, ...result }) => [name, result]));
}

async function servers(t) {
  const good = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  const mitm = await startHttpsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  t.after(() => Promise.all([good.close(), mitm.close()]));
  return { good, mitm };
}

test('control: without a caFile, a MITM from another trusted root gets requests to an unpinned host', async (t) => {
  const { mitm } = await servers(t);
  const results = await requests(pinFolder(t, {}), [['unpinned mitm', mitm.port]]);
  assert.deepEqual(results['unpinned mitm'], { ok: true });
  assert.ok(mitm.bytesReceived() > 0);
});

test('loadPolicy applies settings.caFile (relative to the pin file) to unpinned and pinned hosts: zero bytes to the MITM', async (t) => {
  const { good, mitm } = await servers(t);
  const results = await requests(pinFolder(t, { caFile: 'ca.pem' }), [
    ['unpinned good', good.port],
    ['pinned good', good.port, HOST],
    ['unpinned mitm', mitm.port],
    ['pinned mitm', mitm.port, HOST],
  ]);
  assert.deepEqual(results['unpinned good'], { ok: true }, 'the caFile is the trust store, not a refusal of unpinned hosts');
  assert.deepEqual(results['pinned good'], { ok: true });
  assert.deepEqual(results['unpinned mitm'], { ok: false, code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
  assert.equal(results['pinned mitm'].ok, false);
  assert.equal(mitm.bytesReceived(), 0, 'the MITM received application bytes');
});

test('loadPolicy: a caFile that cannot be used, or one given with the ca option, is refused', async (t) => {
  const folder = pinFolder(t, { caFile: 'ca.pem' });
  await assert.rejects(loadPolicy(folder.path, { ca: pki.root.pem }), {
    code: 'ERR_CERTPIN_INVALID_CONFIG',
    message: /pins\.json: settings\.caFile names a trust store and so does the ca option: give only one of them/,
  });
  const missing = pinFolder(t, { caFile: 'missing.pem' });
  await assert.rejects(loadPolicy(missing.path), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /settings\.caFile: cannot use .*missing\.pem/ });
  const policy = await loadPolicy(folder.path);
  assert.ok(policy.ca !== undefined, 'the policy has the caFile as its trust store');
});

test('what a follower compares: the bundle is named by its absolute path, resolved from the pin file', async (t) => {
  const { pinFileConfig } = await import('../../build/src/pinfile/load.js');
  const { dir, path } = pinFolder(t, { caFile: 'ca.pem' });
  const loaded = pinFileConfig(path, readFileSync(path, 'utf8'));
  assert.equal(loaded.caFilePath, join(dir, 'ca.pem'));
  assert.deepEqual(loaded.caFileBytes, readFileSync(join(dir, 'ca.pem')));
  const without = pinFolder(t, {});
  assert.equal(pinFileConfig(without.path, readFileSync(without.path, 'utf8')).caFilePath, undefined);
});
