// docs/guarantees.md G8 under certpin/register: the worker threads and child processes an application starts are
// pinned too, however it starts them (docs/node-tls.md N15: `--import` preloads do not run in `eval`
// workers, no preload runs in a worker given `execArgv`, `spawn(process.execPath)` gets no
// command-line flag). Each way makes an HTTPS request with a bearer token to a corporate MITM whose
// root the machine trusts: without the hook every one is fooled; with it none sends a byte.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makePki } from '../support/pki.mjs';
import { makeAppDir, pinsFor, runToEnd, startApp, startSite } from './fixtures/harness.mjs';

const pki = await makePki();
const WAYS = [
  'worker file',
  'worker eval',
  'worker execArgv []',
  'worker eval, env {}',
  'worker eval, SHARE_ENV',
  'worker in a worker',
  'spawn(process.execPath)',
  "spawn('node')",
  'spawn, cwd /',
  'fork',
  'exec (a shell)',
];

describe('certpin/register in worker threads and child processes', () => {
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

  async function run(hook, url) {
    const result = await runToEnd(app, { hook, script: 'spawner.mjs', args: [url] });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.lines.map((line) => line.how), WAYS, result.stdout);
    return result;
  }

  test('control: without the hook, every worker and child is fooled by the MITM', async (t) => {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    const { lines } = await run('none', mitm.url);
    for (const line of lines) assert.equal(line.ok, true, JSON.stringify(line));
    assert.ok(mitm.bytesReceived() > 0);
  });

  for (const hook of ['import', 'require', 'NODE_OPTIONS']) {
    test(`${hook}: every worker and child reaches the pinned site`, async () => {
      const { lines, stderr } = await run(hook, good.url);
      for (const line of lines) {
        assert.deepEqual(line, { how: line.how, ok: true, status: 200 });
      }
      assert.doesNotMatch(stderr, /Warning/);
    });

    test(`${hook}: every worker and child is refused by the MITM, which receives zero bytes`, async (t) => {
      const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
      t.after(() => mitm.close());
      const { lines } = await run(hook, mitm.url);
      for (const line of lines) {
        assert.equal(line.ok, false, `${line.how} was not refused: ${JSON.stringify(line)}`);
        assert.equal(line.code, 'ERR_CERTPIN_MISMATCH', JSON.stringify(line));
      }
      assert.equal(mitm.bytesReceived(), 0, 'the MITM received application bytes');
    });
  }

  test('a worker started while the pin file is invalid runs with the pins its parent keeps in force', async (t) => {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    const running = await startApp(app);
    t.after(async () => {
      await running.stop();
      app.writePins(await pinsFor(['localhost']));
    });
    app.writePins('{ "version": 1, "hosts": ');
    await running.nextEvent('error');
    assert.deepEqual(await running.request('worker', good.url), { id: 1, ok: true, status: 200, body: 'ok' }, 'the worker did not start pinned');
    const refused = await running.request('worker', mitm.url);
    assert.equal(refused.code, 'ERR_CERTPIN_MISMATCH', JSON.stringify(refused));
    assert.equal(mitm.bytesReceived(), 0);
  });
});
