// The pin file is followed while the application runs. G2: after a reload, a keep-alive socket or a
// TLS session verified under the old pins is trusted only if it passes the new ones. A file that turns
// invalid keeps the last valid pins in force.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makePki } from '../support/pki.mjs';
import { makeAppDir, pinsFor, startApp, startSite } from './fixtures/harness.mjs';

const pki = await makePki();
// Clients whose next request would reuse something: a keep-alive socket (the application's own agent,
// fetch's global dispatcher) or a cached TLS session (an agent without keep-alive).
const REUSING = ['https.keepAlive', 'fetch', 'https.session'];
const pick = ({ id, code }) => ({ id, code });

describe('certpin/register following the pin file', () => {
  let app;
  let site;
  before(async () => {
    site = await startSite([pki.leaf, pki.intermediate]);
  });
  after(() => site?.close());

  async function started(t) {
    app = await makeAppDir();
    t.after(() => app.rm());
    app.writePins(await pinsFor(['localhost']));
    const running = await startApp(app);
    t.after(() => running.stop());
    return running;
  }

  async function reload(running, document) {
    app.writePins(document);
    return running.nextEvent('reload');
  }

  test('G2: a reload keeps connections that pass the new pins, and refuses reused ones that do not', async (t) => {
    const running = await started(t);
    for (const client of REUSING) assert.equal((await running.request(client, site.url)).ok, true, client);
    const connections = site.connections();
    const resumed = site.resumed();

    // A rewrite that keeps the pin (as `certpin rotate` does when it records lastChecked): the
    // keep-alive sockets and the session are re-checked and still used.
    const same = await pinsFor(['localhost']);
    same.hosts.localhost.lastChecked = new Date().toISOString();
    await reload(running, same);
    for (const client of REUSING) assert.equal((await running.request(client, site.url)).ok, true, client);
    assert.equal(site.connections(), connections + 1, 'only the session client opened a connection');
    assert.equal(site.resumed(), resumed + 1, 'and it resumed its TLS session');

    // The pin removed: the same requests would reuse a socket or a session, and must fail instead.
    const bytes = site.https.bytesReceived();
    const removed = await pinsFor(['localhost']);
    removed.hosts.localhost.pins = [pki.intermediate2.pin, pki.rogueIntermediate.pin];
    await reload(running, removed);
    for (const client of REUSING) {
      const result = await running.request(client, site.url);
      assert.equal(result.ok, false, `${client} still got through: ${JSON.stringify(result)}`);
      assert.equal(result.code, 'ERR_CERTPIN_MISMATCH', `${client}: ${JSON.stringify(result)}`);
    }
    assert.equal(site.resumed(), resumed + 1, 'no session was resumed under the new pins');
    assert.equal(site.https.bytesReceived(), bytes, 'nothing was sent under the new pins');
  });

  test('G2: a reload closes each open connection it no longer allows, with the error the pinned transports give', async (t) => {
    const running = await started(t);
    const pinned = await running.command({ open: site.url });
    const unpinned = await running.command({ open: site.ipUrl });
    assert.equal(pinned.ok && unpinned.ok, true, JSON.stringify([pinned, unpinned]));

    // 127.0.0.1 pinned too: the connection made to it without pins is closed, to be retried under them.
    await reload(running, await pinsFor(['localhost', '127.0.0.1']));
    assert.deepEqual(pick(await running.nextEvent('closed')), { id: unpinned.id, code: 'ERR_CERTPIN_POLICY_CHANGED' });
    const pinnedIp = await running.command({ open: site.ipUrl });
    assert.equal(pinnedIp.ok, true, JSON.stringify(pinnedIp));

    // localhost report-only, without the site's pin: the connection may not stand on its old check,
    // it must be checked and reported afresh (transports/handshake.ts recheck).
    const reportOnly = await pinsFor(['localhost', '127.0.0.1']);
    reportOnly.hosts.localhost = { pins: [pki.intermediate2.pin, pki.rogueIntermediate.pin], enforce: false };
    await reload(running, reportOnly);
    assert.deepEqual(pick(await running.nextEvent('closed')), { id: pinned.id, code: 'ERR_CERTPIN_POLICY_CHANGED' });

    // The pin of 127.0.0.1 revoked: closed with the mismatch, as the transports close a pooled socket.
    const revoked = structuredClone(reportOnly);
    revoked.hosts['127.0.0.1'].pins = [pki.intermediate2.pin, pki.rogueIntermediate.pin];
    await reload(running, revoked);
    assert.deepEqual(pick(await running.nextEvent('closed')), { id: pinnedIp.id, code: 'ERR_CERTPIN_MISMATCH' });
  });

  test('a pin file that turns invalid keeps the last valid pins in force, and is still followed', async (t) => {
    const running = await started(t);
    const mitm = await startSite([pki.rogueLeaf, pki.rogueIntermediate]);
    t.after(() => mitm.close());
    app.writePins('{ "version": 1, "hosts": { "localhost": ');
    const { error } = await running.nextEvent('error');
    assert.match(error, /pins\.json: not valid JSON/);
    assert.equal((await running.request('fetch', site.url)).ok, true);
    assert.equal((await running.request('https.get', mitm.url)).code, 'ERR_CERTPIN_MISMATCH');
    assert.equal(mitm.bytesReceived(), 0);
    assert.match(running.stderr(), /CertpinWarning: .*pins\.json: not valid JSON/);

    // A valid file again is applied: here one that pins the MITM's intermediate instead.
    const moved = await pinsFor(['localhost']);
    moved.hosts.localhost.pins = [pki.rogueIntermediate.pin, pki.intermediate2.pin];
    await reload(running, moved);
    assert.equal((await running.request('https.get', mitm.url)).ok, true);
    assert.equal((await running.request('https.get', site.url)).code, 'ERR_CERTPIN_MISMATCH');
  });
});
