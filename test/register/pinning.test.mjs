// certpin/register pins an application that never imports certpin: every client it uses is refused by
// a corporate-MITM server whose root the machine trusts (NODE_EXTRA_CA_CERTS), with zero application
// bytes sent (G1), while the same application without the hook is fooled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makePki } from '../support/pki.mjs';
import { CLIENTS, makeAppDir, pinsFor, runToEnd, startApp, startSite, urlFor } from './fixtures/harness.mjs';

const pki = await makePki();

describe('certpin/register on an unmodified application', () => {
  let app;
  let good;
  before(async () => {
    app = await makeAppDir();
    app.writePins(await pinsFor(['localhost']));
    good = await startSite([pki.leaf, pki.intermediate]);
  });
  after(async () => {
    await good?.close();
    app?.rm();
  });

  /** A fresh MITM per run, so its byte count is that run's alone. */
  async function mitmRun(t, hook, env = {}) {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    const running = await startApp(app, { hook, env });
    t.after(() => running.stop());
    const results = {};
    for (const client of CLIENTS) results[client] = await running.request(client, urlFor(mitm, client));
    return { results, bytes: mitm.bytesReceived(), running };
  }

  test('control: without the hook, every client is fooled by the MITM', async (t) => {
    const { results, bytes } = await mitmRun(t, 'none');
    for (const client of CLIENTS) assert.equal(results[client].ok, true, `${client}: ${JSON.stringify(results[client])}`);
    assert.ok(bytes > 0);
  });

  for (const hook of ['import', 'NODE_OPTIONS']) {
    test(`with ${hook === 'import' ? '--import certpin/register' : 'NODE_OPTIONS=--import certpin/register'}, every client works with the right pins`, async (t) => {
      const running = await startApp(app, { hook });
      t.after(() => running.stop());
      for (const client of CLIENTS) {
        const result = await running.request(client, urlFor(good, client));
        assert.equal(result.ok, true, `${client}: ${JSON.stringify(result)}`);
        assert.equal(result.body, client === 'ws' ? 'echo app-secret' : 'ok');
      }
    });

    test(`with ${hook}, every client is refused by the MITM and it receives zero bytes`, async (t) => {
      const { results, bytes, running } = await mitmRun(t, hook);
      for (const client of CLIENTS) {
        assert.equal(results[client].ok, false, `${client} was not refused: ${JSON.stringify(results[client])}`);
        assert.equal(results[client].code, 'ERR_CERTPIN_MISMATCH', `${client}: ${JSON.stringify(results[client])}`);
      }
      assert.equal(bytes, 0, 'the MITM received application bytes');
      assert.doesNotMatch(running.stderr(), /Warning|Error/);
    });
  }

  test('G3: neither NODE_TLS_REJECT_UNAUTHORIZED=0 nor rejectUnauthorized: false lets the MITM in', async (t) => {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    const running = await startApp(app, { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } });
    t.after(() => running.stop());
    for (const client of ['fetch', 'https.get', 'https.insecure', 'tls.insecure', 'axios', 'ws']) {
      const result = await running.request(client, mitm.url);
      assert.equal(result.code, 'ERR_CERTPIN_MISMATCH', `${client}: ${JSON.stringify(result)}`);
    }
    assert.equal(mitm.bytesReceived(), 0);
  });

  test('hosts not in the pin file keep standard validation; with unpinned: deny they are refused', async (t) => {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    // 127.0.0.1 is not in the file: the MITM's chain is valid for the machine's trust store, so it passes.
    const allowing = await startApp(app);
    t.after(() => allowing.stop());
    for (const client of ['fetch', 'https.get', 'tls.connect', 'axios']) {
      assert.equal((await allowing.request(client, mitm.ipUrl)).ok, true, client);
    }
    // And an insecure request to an unpinned host stays the application's own business.
    const rogueOnly = await startSite([pki.rogueLeaf]);
    t.after(() => rogueOnly.close());
    assert.equal((await allowing.request('https.insecure', rogueOnly.ipUrl)).ok, true);
    assert.equal((await allowing.request('https.get', rogueOnly.ipUrl)).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    const denyApp = await makeAppDir();
    t.after(() => denyApp.rm());
    denyApp.writePins(await pinsFor(['localhost'], { unpinned: 'deny' }));
    const denying = await startApp(denyApp);
    t.after(() => denying.stop());
    const before = mitm.bytesReceived();
    for (const client of ['fetch', 'https.get', 'tls.connect', 'axios']) {
      const result = await denying.request(client, mitm.ipUrl);
      assert.equal(result.code, 'ERR_CERTPIN_UNPINNED_HOST', `${client}: ${JSON.stringify(result)}`);
    }
    assert.equal(mitm.bytesReceived(), before);
    assert.equal((await denying.request('fetch', good.url)).ok, true);
  });

  test('--require certpin/register pins a CommonJS application the same way', async (t) => {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    const run = await runToEnd(app, { hook: 'require', script: 'app.cjs', args: [good.url, mitm.url] });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.lines.shift(), { event: 'started' });
    assert.equal(run.lines.length, 10, run.stdout);
    for (const line of run.lines) {
      if (line.url === good.url) assert.equal(line.ok, true, JSON.stringify(line));
      else assert.equal(line.code, 'ERR_CERTPIN_MISMATCH', JSON.stringify(line));
    }
    assert.equal(mitm.bytesReceived(), 0);
    const control = await runToEnd(app, { hook: 'none', script: 'app.cjs', args: [mitm.url] });
    assert.ok(control.lines.length === 6 && control.lines.every((line) => line.ok !== false), control.stdout);
  });
});
