// pinnedProxyAgent: node:https through a CONNECT proxy (tinyproxy) with the pins on the origin behind
// it, what a proxy is told (CONNECT line, credentials), a proxy that refuses the tunnel, and which
// proxy the environment names for a host (HTTPS_PROXY, ALL_PROXY, NO_PROXY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createPolicy, pinnedProxyAgent } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpMitm } from '../support/client-mitm.mjs';
import { startTinyproxy } from '../support/proxies.mjs';
import { httpsRequest, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 60_000 };
const CLEAN_ENV = { HTTPS_PROXY: undefined, https_proxy: undefined, ALL_PROXY: undefined, all_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined };

function agentFor(t, policy, proxy) {
  const agent = pinnedProxyAgent(policy, proxy);
  t.after(() => agent.destroy());
  return agent;
}

const postTo = (port, agent) =>
  httpsRequest({ host: '127.0.0.1', port, path: '/login', method: 'POST', agent, headers: SECRET.headers }, {}, SECRET.body);

test('node:https through tinyproxy with pinnedProxyAgent: the attacker behind the proxy gets zero bytes, the control is fooled, the real origin works (G4)', T, async (t) => {
  const origin = await startHttpMitm({ cert: [pki.leaf, pki.intermediate] });
  const mitm = await startHttpMitm({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  const proxy = await startTinyproxy();
  t.after(() => Promise.all([origin.close(), mitm.close(), proxy.stop()]));
  const unpinned = agentFor(t, createPolicy({ ca: [pki.root.pem, pki.rogueRoot.pem], hosts: {} }), proxy.url);
  assert.equal((await postTo(mitm.port, unpinned)).status, 200);
  assert.equal(mitm.requests[0].headers.authorization, SECRET.headers.authorization, 'the control reached the attacker through the proxy');

  const agent = agentFor(t, createPolicy(await pinConfig()), proxy.url);
  const mark = mitm.mark();
  const error = await postTo(mitm.port, agent).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(mitm.bytesSince(mark), 0);
  assert.equal(mitm.requests.length, 1);
  assert.equal((await postTo(origin.port, agent)).status, 200);
  assert.equal((await postTo(origin.port, agent)).reusedSocket, true, 'the tunnelled connection is kept alive');
  assert.match(await proxy.log(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`));
});

test('a proxy that refuses the tunnel: the request fails with ERR_CERTPIN_PROXY_TUNNEL naming the proxy, not its credentials; credentials go in Proxy-Authorization', T, async (t) => {
  const seen = [];
  const proxy = createServer((socket) => {
    socket.once('data', (chunk) => {
      seen.push(chunk.toString('latin1'));
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => proxy.close(resolve)));
  const agent = agentFor(t, createPolicy(await pinConfig()), `http://us%40er:p%3Ass@127.0.0.1:${proxy.address().port}`);
  const error = await postTo(443, agent).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_PROXY_TUNNEL', String(error));
  assert.match(error.message, new RegExp(`the proxy http://127\\.0\\.0\\.1:${proxy.address().port} did not open a tunnel to 127\\.0\\.0\\.1:443: "HTTP/1.1 407`));
  assert.doesNotMatch(error.message, /p:ss|us@er/);
  assert.match(seen[0], /^CONNECT 127\.0\.0\.1:443 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:443\r\n/);
  assert.match(seen[0], new RegExp(`Proxy-Authorization: Basic ${Buffer.from('us@er:p:ss').toString('base64')}\r\n`));
  assert.doesNotMatch(seen[0], /authorization: Bearer|hunter2/i, 'nothing of the request reaches the proxy');
});

test("proxy: 'env' reads HTTPS_PROXY (then ALL_PROXY) and NO_PROXY at each connection; a proxy it cannot pin through is refused, not ignored", async () => {
  const agent = pinnedProxyAgent(createPolicy({ hosts: {} }), 'env');
  try {
    await withEnv({ ...CLEAN_ENV }, () => assert.equal(agent.proxyFor('api.example.test', 443), undefined));
    await withEnv({ ...CLEAN_ENV, HTTPS_PROXY: 'proxy.corp:3128' }, () => assert.equal(agent.proxyFor('api.example.test', 443)?.href, 'http://proxy.corp:3128/'));
    await withEnv({ ...CLEAN_ENV, https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }, () => assert.equal(agent.proxyFor('a.test', 443)?.host, 'lower:1'));
    await withEnv({ ...CLEAN_ENV, ALL_PROXY: 'http://all:3' }, () => assert.equal(agent.proxyFor('a.test', 443)?.host, 'all:3'));
    const cases = [
      ['*', 'api.example.test', 443, true],
      ['example.test', 'api.example.test', 443, false],
      ['api.example.test', 'API.example.test.', 443, true],
      ['.example.test', 'api.example.test', 443, true],
      ['*.example.test', 'api.example.test', 443, true],
      ['api.example.test:8443', 'api.example.test', 443, false],
      ['api.example.test:8443', 'api.example.test', 8443, true],
      ['other.test, 127.0.0.1', '127.0.0.1', 443, true],
      ['[::1]', '::1', 443, true],
    ];
    for (const [noProxy, host, port, direct] of cases) {
      await withEnv({ ...CLEAN_ENV, HTTPS_PROXY: 'http://proxy.corp:3128', NO_PROXY: noProxy }, () => {
        assert.equal(agent.proxyFor(host, port) === undefined, direct, `NO_PROXY=${noProxy} for ${host}:${port}`);
      });
    }
    await withEnv({ ...CLEAN_ENV, HTTPS_PROXY: 'socks5://127.0.0.1:1080' }, async () => {
      assert.throws(() => agent.proxyFor('a.test', 443), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /socks5:\/\/ proxies are not supported/ });
      const error = await postTo(443, agent).then(() => null, (e) => e);
      assert.equal(error?.code, 'ERR_CERTPIN_INVALID_CONFIG', 'an error event, never a throw from createConnection');
    });
  } finally {
    agent.destroy();
  }
});

test('pinnedProxyAgent refuses a proxy it cannot use when it is built, with a TypeError', () => {
  const policy = createPolicy({ hosts: {} });
  for (const proxy of ['socks5://127.0.0.1:1080', 'http://[bad', 42, { uri: 'http://proxy' }, true]) {
    assert.throws(() => pinnedProxyAgent(policy, proxy), TypeError, String(proxy));
  }
  assert.throws(() => pinnedProxyAgent(policy, 'env', { proxyEnv: process.env }), { name: 'TypeError', message: /proxyEnv is not supported here/ });
});
