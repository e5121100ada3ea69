// settings.caFile under certpin/register: "trust only this CA" for every connection of the process,
// to pinned and unpinned hosts. The MITM's root is trusted by the machine (NODE_EXTRA_CA_CERTS): only
// the caFile can refuse it on a host the pin file does not pin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { makeAppDir, pinsFor, startApp, startSite } from './fixtures/harness.mjs';

const pki = await makePki();
const CLIENTS = ['fetch', 'https.get', 'tls.connect', 'axios', 'got', 'http2', 'ws'];
/** The site's address by IP: 127.0.0.1 is not in the pin file, so the host is unpinned. */
const unpinnedUrl = (site, client) => (client === 'http2' ? site.h2url : site.url).replace('localhost', '127.0.0.1');

describe('certpin/register with settings.caFile', () => {
  let app;
  let good;
  before(async () => {
    app = await makeAppDir();
    writeFileSync(join(app.dir, 'ca.pem'), pki.root.pem);
    good = await startSite([pki.leaf, pki.intermediate]);
  });
  after(async () => {
    await good?.close();
    app?.rm();
  });

  async function mitmSite(t) {
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    return mitm;
  }

  async function running(t, settings) {
    app.writePins(await pinsFor(['localhost'], settings));
    const handle = await startApp(app);
    t.after(() => handle.stop());
    return handle;
  }

  test('control: without a caFile, every client is fooled by a MITM on an unpinned host', async (t) => {
    const mitm = await mitmSite(t);
    const hooked = await running(t, {});
    for (const client of CLIENTS) assert.equal((await hooked.request(client, unpinnedUrl(mitm, client))).ok, true, client);
    assert.ok(mitm.bytesReceived() > 0);
  });

  test('with a caFile, unpinned hosts are validated against it: the MITM gets zero bytes, the real site works', async (t) => {
    const mitm = await mitmSite(t);
    const hooked = await running(t, { caFile: 'ca.pem' });
    for (const client of CLIENTS) {
      const result = await hooked.request(client, unpinnedUrl(mitm, client));
      assert.equal(result.ok, false, `${client} was not refused: ${JSON.stringify(result)}`);
      assert.equal(result.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', `${client}: ${JSON.stringify(result)}`);
      assert.equal((await hooked.request(client, unpinnedUrl(good, client))).ok, true, `${client} to the real site`);
    }
    // A pinned host: the MITM's chain fails validation against the caFile before the pins are looked at.
    for (const client of ['fetch', 'https.get']) assert.equal((await hooked.request(client, mitm.url)).code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', client);
    assert.equal(mitm.bytesReceived(), 0, 'the MITM received application bytes');
  });

  test('a caFile added by a reload closes unpinned keep-alive connections validated with the old roots', async (t) => {
    const mitm = await mitmSite(t);
    const hooked = await running(t, {});
    assert.equal((await hooked.request('https.keepAlive', unpinnedUrl(mitm, 'https.keepAlive'))).ok, true);
    const open = await hooked.command({ open: unpinnedUrl(mitm, 'tls.connect') });
    assert.equal(open.ok, true, JSON.stringify(open));
    app.writePins(await pinsFor(['localhost'], { caFile: 'ca.pem' }));
    await hooked.nextEvent('reload');
    // Closed because the trust store changed under it: retried, it is validated against the caFile.
    const { id, code } = await hooked.nextEvent('closed');
    assert.deepEqual({ id, code }, { id: open.id, code: 'ERR_CERTPIN_POLICY_CHANGED' });
    const bytes = mitm.bytesReceived();
    const result = await hooked.request('https.keepAlive', unpinnedUrl(mitm, 'https.keepAlive'));
    assert.equal(result.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', JSON.stringify(result));
    assert.equal(mitm.bytesReceived(), bytes, 'nothing was sent on the old connection');
  });
});
