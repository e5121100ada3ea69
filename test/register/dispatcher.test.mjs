// Another library replacing fetch's global dispatcher after the hook ran does not unpin the process:
// certpin/register sits below every dispatcher, in tls.connect, so any undici Agent, one that turns
// certificate checks off, or a ProxyAgent tunnelling through an HTTP CONNECT proxy (G4), still
// connects only to the pinned identity.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { makePki } from '../support/pki.mjs';
import { makeAppDir, pinsFor, startApp, startSite } from './fixtures/harness.mjs';

const pki = await makePki();

/** A plain HTTP CONNECT proxy on loopback (any host is sent to 127.0.0.1), counting the tunnels it opened. */
async function startConnectProxy() {
  const sockets = new Set();
  let tunnels = 0;
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.once('data', (head) => {
      const [, port] = /^CONNECT [^:\s]+:(\d+) HTTP/.exec(head.toString('latin1')) ?? [];
      if (!port) return client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      const upstream = connect(Number(port), '127.0.0.1', () => {
        tunnels++;
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        client.pipe(upstream).pipe(client);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    tunnels: () => tunnels,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

describe('certpin/register when the global dispatcher is replaced', () => {
  let app;
  let site;
  let mitm;
  let proxy;
  before(async () => {
    app = await makeAppDir();
    app.writePins(await pinsFor(['localhost']));
    [site, mitm, proxy] = await Promise.all([
      startSite([pki.leaf, pki.intermediate]),
      startSite([pki.rogueLeaf, pki.rogueIntermediate]),
      startConnectProxy(),
    ]);
  });
  after(async () => {
    await Promise.all([site?.close(), mitm?.close(), proxy?.close()]);
    app?.rm();
  });

  for (const dispatcher of ['undici.Agent', 'undici.Agent insecure', 'undici.ProxyAgent']) {
    test(`pins still hold after setGlobalDispatcher(new ${dispatcher})`, async (t) => {
      const running = await startApp(app);
      t.after(() => running.stop());
      const tunnels = proxy.tunnels();
      assert.deepEqual(await running.command({ dispatcher, proxy: proxy.url }), { id: 1, ok: true });
      const refused = await running.request('fetch', mitm.url);
      assert.equal(refused.code, 'ERR_CERTPIN_MISMATCH', JSON.stringify(refused));
      assert.equal(mitm.bytesReceived(), 0);
      const allowed = await running.request('fetch', site.url);
      assert.equal(allowed.ok, true, JSON.stringify(allowed));
      if (dispatcher === 'undici.ProxyAgent') assert.equal(proxy.tunnels(), tunnels + 2, 'both requests went through the proxy');
    });
  }

  test('control: without the hook the replaced dispatchers are fooled', async (t) => {
    const running = await startApp(app, { hook: 'none' });
    t.after(() => running.stop());
    for (const dispatcher of ['undici.Agent', 'undici.ProxyAgent']) {
      await running.command({ dispatcher, proxy: proxy.url });
      const result = await running.request('fetch', `${mitm.url}${dispatcher}`);
      assert.equal(result.ok, true, `${dispatcher}: ${JSON.stringify(result)}`);
    }
  });
});
