// got in every mode, against a man-in-the-middle whose certificate comes from a root the client
// trusts: HTTP/1.1, `http2: true` (http2-wrapper's ALPN probe), redirects, a proxy agent, a proxy from
// the environment, and an HTTP/2 session kept open across policy.update(). Each attack first fools
// plain got (the control), then pinnedGotOptions sends the attacker zero application bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent as HttpsAgent } from 'node:https';
import got from 'got';
// https-proxy-agent 5, the CONNECT agent axios uses (and many got users), in the lockfile through axios.
import createHttpsProxyAgent from 'https-proxy-agent';
import { createPolicy, pinnedAgent, pinnedGotOptions } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpMitm, startOriginAndMitm } from '../support/client-mitm.mjs';
import { sharedTinyproxy } from '../support/proxies.mjs';
import { lookupLoopback, otherPinConfig, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 60_000 };
const trust = [pki.root.pem, pki.rogueRoot.pem];
const post = { method: 'POST', headers: SECRET.headers, body: SECRET.body, retry: { limit: 0 }, throwHttpErrors: false };

const mitmAndOrigin = (t, handler) => startOriginAndMitm(t, pki, handler);

// One tinyproxy for the file; tunnels end with each test's agents.
const tinyproxy = sharedTinyproxy();

function pinnedGot(t, policy, settings) {
  const options = pinnedGotOptions(policy, settings);
  t.after(() => { options.agent.https.destroy(); options.agent.http2.destroy(); });
  return got.extend(options);
}

const failure = (promise) => promise.then((res) => assert.fail(`expected a refusal, got HTTP ${res.statusCode}`), (error) => error);

function assertSecretReached(mitm, protocol) {
  assert.equal(mitm.requests.length, 1, 'the control request reached the attacker');
  assert.equal(mitm.requests[0].protocol, protocol);
  assert.equal(mitm.requests[0].headers.authorization, SECRET.headers.authorization);
  assert.equal(mitm.requests[0].body, SECRET.body);
}

function assertNothingReached(mitm) {
  assert.ok(mitm.connections() >= 1, 'the pinned client did reach the attacker');
  assert.equal(mitm.bytesReceived(), 0, 'no application byte reached the attacker');
  assert.equal(mitm.requests.length, 0);
}

test('got HTTP/1.1: plain got is fooled by the trusted-root MITM; pinnedGotOptions refuses it with zero bytes and works with the real server', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const fooled = await got(mitm.url, { ...post, https: { certificateAuthority: trust } });
  assert.equal(fooled.statusCode, 200);
  assertSecretReached(mitm, 'http/1.1');

  const client = pinnedGot(t, createPolicy(await pinConfig()));
  const mitmBefore = mitm.requests.length;
  mitm.requests.length = 0;
  const bytesBefore = mitm.bytesReceived();
  const error = await failure(client(mitm.url, post));
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(mitm.bytesReceived(), bytesBefore, 'no application byte reached the attacker');
  assert.equal(mitm.requests.length, 0, `(${mitmBefore} control request before)`);

  const ok = await client(origin.url, post);
  assert.equal(ok.statusCode, 200);
  assert.equal(origin.requests[0].protocol, 'http/1.1');
});

test('got http2: true with agent.https = pinnedAgent is fooled (http2-wrapper reuses its unchecked ALPN probe); pinnedGotOptions pins HTTP/2', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const policy = createPolicy(await pinConfig());
  const agent = pinnedAgent(policy);
  t.after(() => agent.destroy());
  // The attack of issue 12, item 1: the agent is pinned, yet the request goes out on HTTP/2.
  const fooled = await got(mitm.url, { ...post, http2: true, agent: { https: agent }, https: { certificateAuthority: trust } });
  assert.equal(fooled.statusCode, 200);
  assertSecretReached(mitm, 'h2');

  const mitm2 = await startHttpMitm({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  t.after(() => mitm2.close());
  const client = pinnedGot(t, policy);
  const error = await failure(client(mitm2.url, { ...post, http2: true, https: { certificateAuthority: trust, rejectUnauthorized: false } }));
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assertNothingReached(mitm2);

  const ok = await client(origin.url, { ...post, http2: true });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.httpVersion, '2.0');
  assert.equal(origin.requests[0].protocol, 'h2');
  assert.equal(origin.requests[0].headers.authorization, SECRET.headers.authorization);
});

test('got redirects (HTTP/1.1 and HTTP/2): a 307 from the pinned server to the attacker is followed by plain got; pinned, the next hop is checked and gets zero bytes (G6)', T, async (t) => {
  let target;
  const { origin, mitm } = await mitmAndOrigin(t, (_req, res) => {
    res.statusCode = 307;
    res.setHeader('location', target);
    res.end();
  });
  // The attacker answers for another name of the same service (a DNS hijack of api.example.test).
  target = `https://api.example.test:${mitm.port}/next`;
  const fooled = await got(origin.url, { ...post, dnsLookup: lookupLoopback, https: { certificateAuthority: trust } });
  assert.equal(fooled.statusCode, 200);
  assert.equal(mitm.requests.length, 1, 'plain got followed the redirect to the attacker');
  assert.equal(mitm.requests[0].body, SECRET.body);
  mitm.requests.length = 0;

  const client = pinnedGot(t, createPolicy(await pinConfig()));
  for (const http2 of [false, true]) {
    const before = { bytes: mitm.bytesReceived(), originRequests: origin.requests.length };
    const error = await failure(client(origin.url, { ...post, http2, dnsLookup: lookupLoopback }));
    assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', `http2 ${http2}: ${error}`);
    assert.equal(origin.requests.length, before.originRequests + 1, 'the pinned server got the first request');
    assert.equal(mitm.bytesReceived(), before.bytes, 'no application byte reached the attacker');
    assert.equal(mitm.requests.length, 0);
  }
});

test('got through a proxy: a proxy agent in agent.https is fooled, and refused loudly by the pinned options; pinnedGotOptions({ proxy }) tunnels with pins on the origin (G4)', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const proxy = await tinyproxy.take();
  const proxyAgent = createHttpsProxyAgent({ host: '127.0.0.1', port: proxy.port });
  const fooled = await got(mitm.url, { ...post, agent: { https: proxyAgent }, https: { certificateAuthority: trust } });
  assert.equal(fooled.statusCode, 200);
  assertSecretReached(mitm, 'http/1.1');
  mitm.requests.length = 0;

  const policy = createPolicy(await pinConfig());
  const client = pinnedGot(t, policy);
  const connectionsBefore = mitm.connections();
  const bytesBefore = mitm.bytesReceived();
  for (const agent of [{ https: proxyAgent }, { https: new HttpsAgent({ ca: trust }) }]) {
    const refused = await failure(client(mitm.url, { ...post, agent }));
    assert.equal(refused.code, 'ERR_CERTPIN_INVALID_CONFIG', String(refused));
    assert.match(refused.message, /`agent.https` \(\w+\) is not the pinned agent/);
  }
  const otherH2 = await failure(client(mitm.url, { ...post, http2: true, agent: { http2: {} } }));
  assert.equal(otherH2.code, 'ERR_CERTPIN_INVALID_CONFIG');
  const session = await failure(client(mitm.url, { ...post, http2: true, h2session: {} }));
  assert.equal(session.code, 'ERR_CERTPIN_INVALID_CONFIG');
  assert.equal(mitm.connections(), connectionsBefore, 'refused before any connection');

  const tunnelled = pinnedGot(t, policy, { proxy: proxy.url });
  for (const http2 of [false, true]) {
    const error = await failure(tunnelled(mitm.url, { ...post, http2 }));
    assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', `http2 ${http2}: ${error}`);
  }
  assert.equal(mitm.bytesReceived(), bytesBefore, 'no application byte reached the attacker behind the proxy');
  assert.equal(mitm.requests.length, 0);
  for (const http2 of [false, true]) {
    const ok = await tunnelled(origin.url, { ...post, http2 });
    assert.equal(ok.statusCode, 200);
  }
  assert.deepEqual(origin.requests.map((r) => r.protocol), ['http/1.1', 'h2']);
  assert.match(await proxy.logSince(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`), 'the pinned requests went through the proxy');
});

test('got and HTTPS_PROXY: got ignores the environment; pinnedGotOptions({ proxy: "env" }) follows it (and NO_PROXY), pinned on the origin', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const proxy = await tinyproxy.take();
  const policy = createPolicy(await pinConfig());
  const client = pinnedGot(t, policy, { proxy: 'env' });
  await withEnv({ HTTPS_PROXY: proxy.url, https_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined }, async () => {
    const plain = await got(origin.url, { ...post, https: { certificateAuthority: trust } });
    assert.equal(plain.statusCode, 200);
    assert.doesNotMatch(await proxy.logSince(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`), 'plain got went direct: it does not read HTTPS_PROXY');
    const error = await failure(client(mitm.url, { ...post, http2: true }));
    assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
    const errorH1 = await failure(client(mitm.url, post));
    assert.equal(errorH1.code, 'ERR_CERTPIN_MISMATCH', String(errorH1));
    assert.equal(mitm.bytesReceived(), 0);
    assert.equal((await client(origin.url, post)).statusCode, 200);
    assert.match(await proxy.logSince(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`));
  });
  await withEnv({ HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1' }, async () => {
    assert.equal((await client(origin.url, post)).statusCode, 200, 'NO_PROXY: direct');
  });
  await withEnv({ HTTPS_PROXY: 'socks5://127.0.0.1:1080', NO_PROXY: undefined, no_proxy: undefined }, async () => {
    const error = await failure(client(origin.url, { ...post, http2: true }));
    assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG', 'a proxy certpin cannot pin through is refused, not ignored');
  });
});

test('got HTTP/2 session open across policy.update(): kept when the host still passes, closed when its pin is revoked (G2)', T, async (t) => {
  const { origin } = await mitmAndOrigin(t);
  const config = await pinConfig();
  const policy = createPolicy(config);
  const client = pinnedGot(t, policy);
  assert.equal((await client(origin.url, { ...post, http2: true })).statusCode, 200);
  const connections = origin.connections();
  policy.update(await pinConfig());
  assert.equal((await client(origin.url, { ...post, http2: true })).statusCode, 200);
  assert.equal(origin.connections(), connections, 'an update that changes nothing for the host reuses the session');
  policy.update(await otherPinConfig());
  const requests = origin.requests.length;
  const bytes = origin.bytesReceived();
  const error = await failure(client(origin.url, { ...post, http2: true }));
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(origin.requests.length, requests, 'no request went out on the session the update revoked');
  assert.equal(origin.bytesReceived(), bytes);
});

test('got: a hook of the caller that swaps agent.https, merged before pinnedGotOptions, is caught by certpin\'s hook: refused before connecting', T, async (t) => {
  const { mitm } = await mitmAndOrigin(t);
  const swapper = { hooks: { beforeRequest: [(options) => { options.agent = { https: new HttpsAgent({ ca: trust }) }; }] } };
  const options = pinnedGotOptions(createPolicy(await pinConfig()));
  t.after(() => { options.agent.https.destroy(); options.agent.http2.destroy(); });
  const error = await failure(got.extend(swapper, options)(mitm.url, post));
  assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG', String(error));
  assert.equal(mitm.connections(), 0, 'refused before any connection');
});
