// certpin/register with its pin file in a Kubernetes ConfigMap or Secret volume: the kubelet updates
// it by swapping the folder's `..data` symlink, so no event names the pin file. The hook must follow
// it anyway: a pin revoked by the update is refused at once, with zero bytes sent.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeletVolume } from '../support/kubelet.mjs';
import { makePki } from '../support/pki.mjs';
import { makeAppDir, pinsFor, startApp, startSite } from './fixtures/harness.mjs';

const pki = await makePki();

describe('certpin/register with the pin file in a ConfigMap volume', () => {
  let app;
  let site;
  before(async () => {
    app = await makeAppDir();
    site = await startSite([pki.leaf, pki.intermediate]);
  });
  after(async () => {
    await site?.close();
    app?.rm();
  });

  for (const hook of ['import', 'require']) {
    test(`${hook}: a ..data swap that revokes the pin is applied, and the pin is refused`, async (t) => {
      const volume = kubeletVolume(join(app.dir, `config-${hook}`), { 'pins.json': await pinsFor(['localhost']) });
      const running = await startApp(app, { hook, env: { CERTPIN_CONFIG: volume.path('pins.json') } });
      t.after(() => running.stop());
      for (const client of ['https.keepAlive', 'fetch', 'https.get']) assert.equal((await running.request(client, site.url)).ok, true, client);

      const revoked = await pinsFor(['localhost']);
      revoked.hosts.localhost.pins = [{ pin: pki.intermediate.pin, status: 'rejected' }, { pin: pki.intermediate2.pin, status: 'active' }];
      volume.update({ 'pins.json': revoked });
      await running.nextEvent('reload');
      const bytes = site.https.bytesReceived();
      for (const client of ['https.keepAlive', 'fetch', 'https.get', 'tls.connect']) {
        const result = await running.request(client, site.url);
        assert.equal(result.code, 'ERR_CERTPIN_MISMATCH', `${client}: ${JSON.stringify(result)}`);
      }
      assert.equal(site.https.bytesReceived(), bytes, 'nothing was sent under the revoked pin');
    });
  }

  test('an invalid update is reported once, and the next valid one is applied', async (t) => {
    const volume = kubeletVolume(join(app.dir, 'config-invalid'), { 'pins.json': await pinsFor(['localhost']) });
    const running = await startApp(app, { env: { CERTPIN_CONFIG: volume.path('pins.json') } });
    t.after(() => running.stop());
    volume.update({ 'pins.json': '{ "version": 1, "hosts": ' });
    assert.match((await running.nextEvent('error')).error, /pins\.json: not valid JSON/);
    assert.equal((await running.request('https.get', site.url)).ok, true, 'the last valid pins stay in force');
    const moved = await pinsFor(['localhost']);
    moved.hosts.localhost.pins = [pki.rogueIntermediate.pin, pki.intermediate2.pin];
    volume.update({ 'pins.json': moved });
    await running.nextEvent('reload');
    assert.equal((await running.request('https.get', site.url)).code, 'ERR_CERTPIN_MISMATCH');
    assert.equal(running.stderr().match(/CertpinWarning/g)?.length, 1, running.stderr());
  });

  test('an update is applied while an application writes into the folder without pause', async (t) => {
    const volume = kubeletVolume(join(app.dir, 'config-busy'), { 'pins.json': await pinsFor(['localhost']) });
    const running = await startApp(app, { env: { CERTPIN_CONFIG: volume.path('pins.json') } });
    t.after(() => running.stop());
    const revoked = await pinsFor(['localhost']);
    revoked.hosts.localhost.pins = [pki.intermediate2.pin, pki.rogueIntermediate.pin];
    volume.update({ 'pins.json': revoked });
    let reloaded = false;
    const reload = running.nextEvent('reload', 30_000).then(() => { reloaded = true; });
    // A log line every few ms: the debounce alone (100 ms of quiet) would wait for the burst to end.
    let writes = 0;
    while (!reloaded && writes < 3000) {
      appendFileSync(volume.path('app.log'), `line ${writes++}\n`);
      await sleep(2); // the pace of the burst, not a wait for something to happen
    }
    await reload;
    assert.ok(writes < 3000, `no reload during ${writes} writes`);
    assert.equal((await running.request('https.get', site.url)).code, 'ERR_CERTPIN_MISMATCH');
  });
});
