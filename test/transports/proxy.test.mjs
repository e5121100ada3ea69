// G4: through a real HTTP CONNECT proxy (tinyproxy), pins still apply to the origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { createPolicy, pinnedDispatcher, pinnedFetch, pinnedTlsOptions } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { startTinyproxy } from '../support/proxies.mjs';
import { otherHostCredentials, otherPinConfig, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 60_000 };
const postInit = { method: 'POST', headers: SECRET.headers, body: SECRET.body };

async function setup(t) {
  const proxy = await startTinyproxy();
  t.after(() => proxy.stop());
  const good = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  const rogue = await startHttpsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  t.after(() => Promise.all([good.close(), rogue.close()]));
  return { proxy, good, rogue };
}

/** Tunnels tinyproxy opened, as its log tells. */
const tunnels = async (proxy) => (await proxy.log()).split('\n').filter((line) => line.includes('Established connection to host')).length;

test('pinnedDispatcher with proxy: a URL: the origin behind tinyproxy is pinned', T, async (t) => {
  const { proxy, good, rogue } = await setup(t);
  const dispatcher = pinnedDispatcher(createPolicy(await pinConfig()), { proxy: proxy.url });
  t.after(() => dispatcher.destroy());
  const ok = await request(`https://127.0.0.1:${good.port}/`, { dispatcher, ...postInit });
  assert.equal(ok.statusCode, 200);
  await ok.body.text();
  const error = await request(`https://127.0.0.1:${rogue.port}/`, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.ok(await tunnels(proxy) >= 2, `both requests went through the proxy:\n${await proxy.log()}`);
  assert.ok(rogue.connections() >= 1);
  assert.equal(rogue.bytesReceived(), 0);
});

test('proxy options cannot weaken the origin check (requestTls is hardened)', T, async (t) => {
  const { proxy, rogue } = await setup(t);
  const dispatcher = pinnedDispatcher(createPolicy(await pinConfig()), {
    proxy: { uri: proxy.url, requestTls: { rejectUnauthorized: false, checkServerIdentity: () => undefined } },
  });
  t.after(() => dispatcher.destroy());
  const error = await request(`https://localhost:${rogue.port}/`, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(rogue.bytesReceived(), 0);
});

test("proxy: 'env' follows HTTPS_PROXY, and pins still apply", T, async (t) => {
  const { proxy, good, rogue } = await setup(t);
  await withEnv({ HTTPS_PROXY: proxy.url, https_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined }, async () => {
    const fetch = pinnedFetch(createPolicy(await pinConfig()), { proxy: 'env' });
    t.after(() => fetch.dispatcher.destroy());
    assert.equal((await fetch(`https://127.0.0.1:${good.port}/`)).status, 200);
    const error = await fetch(`https://127.0.0.1:${rogue.port}/`, postInit).then(() => null, (e) => e);
    assert.equal(error?.cause?.code, 'ERR_CERTPIN_MISMATCH');
  });
  assert.ok(await tunnels(proxy) >= 1, 'the request went through the proxy named by HTTPS_PROXY');
  assert.equal(rogue.bytesReceived(), 0);
});

test('pinnedTlsOptions over a CONNECT tunnel made by hand', T, async (t) => {
  const { proxy, good, rogue } = await setup(t);
  const policy = createPolicy(await pinConfig());
  const tunnel = (port) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path: `127.0.0.1:${port}` });
    req.on('connect', (res, socket) => (res.statusCode === 200 ? resolve(socket) : reject(new Error(`proxy said ${res.statusCode}`))));
    req.on('error', reject);
    req.end();
  });
  const talk = (socket) => new Promise((resolve, reject) => {
    const secure = tls.connect(pinnedTlsOptions(policy, { socket, servername: 'localhost' }));
    secure.write(`POST / HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${SECRET.headers.authorization}\r\nConnection: close\r\n\r\n`);
    let reply = '';
    secure.on('data', (d) => { reply += d; });
    secure.on('end', () => resolve(reply));
    secure.on('error', (e) => { socket.destroy(); reject(e); });
  });
  assert.match(await talk(await tunnel(good.port)), /^HTTP\/1\.1 200/);
  const error = await talk(await tunnel(rogue.port)).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(rogue.bytesReceived(), 0);
});

test('docs/guarantees.md C4: through a proxy, requestTls.servername naming an unpinned host does not escape the pins of the origin', T, async (t) => {
  const proxy = await startTinyproxy();
  t.after(() => proxy.stop());
  const other = await startHttpsServer(await otherHostCredentials());
  t.after(() => other.close());
  const url = `https://127.0.0.1:${other.port}/login`;
  const control = new ProxyAgent({ uri: proxy.url, requestTls: { servername: 'other.test', ca: [pki.root.pem, pki.rogueRoot.pem] } });
  t.after(() => control.destroy());
  const fooled = await request(url, { dispatcher: control, ...postInit });
  assert.equal(fooled.statusCode, 200, 'an unpinned ProxyAgent sends the request to other.test');
  await fooled.body.text();
  assert.equal(other.requests.length, 1);

  const before = other.bytesReceived();
  const dispatcher = pinnedDispatcher(createPolicy(await pinConfig()), { proxy: { uri: proxy.url, requestTls: { servername: 'other.test' } } });
  t.after(() => dispatcher.destroy());
  const error = await request(url, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', 'the pins of 127.0.0.1 apply');
  assert.equal(error.hostname, '127.0.0.1');
  assert.ok(await tunnels(proxy) >= 2, 'both went through the proxy');
  assert.equal(other.bytesReceived(), before);
});

test('G2 through a proxy: requests queued across updates are sent again on a checked tunnel, not failed', T, async (t) => {
  const { proxy, good } = await setup(t);
  const config = await pinConfig();
  const policy = createPolicy(config);
  const dispatcher = pinnedDispatcher(policy, { proxy: proxy.url, connections: 2 });
  t.after(() => dispatcher.destroy());
  const url = `https://127.0.0.1:${good.port}/`;
  let started = 0;
  const failures = [];
  const worker = async () => {
    while (started < 120) {
      if (++started % 20 === 0) policy.update({ ...config, hosts: { ...config.hosts, [`n${started}.example.test`]: { pins: [pki.intermediate2.pin] } } });
      try {
        await (await request(url, { dispatcher })).body.text();
      } catch (error) {
        failures.push(error.code ?? error.message);
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  assert.deepEqual(failures, []);
  assert.equal(good.requests.length, 120);

  // An update that revokes the pin: the request queued behind a slow one goes out on a new tunnel,
  // checked under the new policy, and fails there without a byte sent.
  policy.update(await otherPinConfig());
  const before = good.bytesReceived();
  const error = await request(url, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(good.bytesReceived(), before);
});
