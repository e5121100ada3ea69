// axios in every mode, against a man-in-the-middle whose certificate comes from a root the client
// trusts: HTTP/1.1, httpVersion 2 (axios's own http2.connect), redirects, a proxy option, HTTPS_PROXY
// from the environment, and HTTP/2 across policy.update(). Each attack first fools axios configured
// as the README used to suggest (`httpsAgent: pinnedAgent(policy)`), the control; then
// pinnedAxiosConfig sends the attacker zero application bytes, or refuses loudly before connecting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent as HttpsAgent } from 'node:https';
import axios from 'axios';
import { createPolicy, pinnedAgent, pinnedAxiosConfig } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startOriginAndMitm } from '../support/client-mitm.mjs';
import { sharedTinyproxy } from '../support/proxies.mjs';
import { lookupLoopback, otherPinConfig, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 60_000 };
const trust = [pki.root.pem, pki.rogueRoot.pem];
const post = (url, extra = {}) => ({ method: 'POST', url, headers: SECRET.headers, data: SECRET.body, validateStatus: () => true, ...extra });
const NO_PROXY_ENV = { HTTPS_PROXY: undefined, https_proxy: undefined, ALL_PROXY: undefined, all_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined };

const mitmAndOrigin = (t, handler) => startOriginAndMitm(t, pki, handler);

// One tinyproxy for the file; tunnels end with each test's agents.
const tinyproxy = sharedTinyproxy();

function pinnedClient(t, policy, settings) {
  const config = pinnedAxiosConfig(policy, axios, settings);
  t.after(() => config.httpsAgent.destroy());
  return axios.create(config);
}

function agentFor(t, policy, options) {
  const agent = pinnedAgent(policy, options);
  t.after(() => agent.destroy());
  return agent;
}

const failure = (promise) => promise.then((res) => assert.fail(`expected a refusal, got HTTP ${res.status}`), (error) => error);
// axios wraps errors (AxiosError, and for HTTP/2 Node's ERR_HTTP2_STREAM_CANCEL): the first certpin code on the cause chain.
function codeOf(error) {
  for (let e = error; e; e = e.cause) if (typeof e.code === 'string' && e.code.startsWith('ERR_CERTPIN_')) return e.code;
  return error?.code;
}

function assertSecretReached(mitm, protocol) {
  assert.equal(mitm.requests.length, 1, 'the control request reached the attacker');
  assert.equal(mitm.requests[0].protocol, protocol);
  assert.equal(mitm.requests[0].headers.authorization, SECRET.headers.authorization);
  assert.equal(mitm.requests[0].body, SECRET.body);
  mitm.requests.length = 0;
}

test('axios HTTP/1.1: a plain agent is fooled by the trusted-root MITM; pinnedAxiosConfig refuses it with zero bytes and works with the real server', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const plain = new HttpsAgent({ ca: trust });
  t.after(() => plain.destroy());
  assert.equal((await axios(post(mitm.url, { httpsAgent: plain, proxy: false }))).status, 200);
  assertSecretReached(mitm, 'http/1.1');

  const client = pinnedClient(t, createPolicy(await pinConfig()), { proxy: false });
  const bytes = mitm.bytesReceived();
  const error = await failure(client(post(mitm.url)));
  assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(mitm.bytesReceived(), bytes, 'no application byte reached the attacker');
  assert.equal(mitm.requests.length, 0);
  assert.equal((await client(post(origin.url))).status, 200);
  assert.equal(origin.requests[0].protocol, 'http/1.1');

  for (const [name, extra] of [['httpsAgent', { httpsAgent: plain }], ['transport', { transport: { request: () => { throw new Error('never called'); } } }]]) {
    const refused = await failure(client(post(mitm.url, extra)));
    assert.equal(refused.code, 'ERR_CERTPIN_INVALID_CONFIG', `${name}: ${refused}`);
  }
  assert.equal(mitm.bytesReceived(), bytes);
});

test('axios httpVersion 2 ignores httpsAgent (the control is fooled); pinnedAxiosConfig pins the HTTP/2 session with zero bytes to the attacker', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const policy = createPolicy(await pinConfig());
  // The attack of issue 12, item 2: the pinned agent is given, and never used.
  const fooled = await axios(post(mitm.url, { httpVersion: 2, httpsAgent: agentFor(t, policy), http2Options: { ca: trust } }));
  assert.equal(fooled.status, 200);
  assertSecretReached(mitm, 'h2');

  const client = pinnedClient(t, policy, { proxy: false });
  // The control's session may still send control frames (SETTINGS ACK, GOAWAY): count only new connections.
  const mark = mitm.mark();
  const connections = mitm.connections();
  const error = await failure(client(post(mitm.url, { httpVersion: 2, http2Options: { rejectUnauthorized: false } })));
  assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
  assert.ok(mitm.connections() > connections, 'the pinned client reached the attacker');
  assert.equal(mitm.bytesSince(mark), 0, 'no application byte reached the attacker');
  assert.equal(mitm.requests.length, 0);

  const ok = await client(post(origin.url, { httpVersion: 2 }));
  assert.equal(ok.status, 200);
  assert.equal(origin.requests[0].protocol, 'h2');
  assert.equal(origin.requests[0].headers.authorization, SECRET.headers.authorization);

  const own = await failure(client(post(mitm.url, { httpVersion: 2, http2Options: { createConnection: () => { throw new Error('never called'); } } })));
  assert.equal(own.code, 'ERR_CERTPIN_INVALID_CONFIG', String(own));
});

test('axios HTTP/2 after policy.update(): a session is kept while its chain passes, and no request goes on one the update revoked (G2)', T, async (t) => {
  const { origin } = await mitmAndOrigin(t);
  const policy = createPolicy(await pinConfig());
  const client = pinnedClient(t, policy, { proxy: false });
  // axios closes an HTTP/2 session idle for sessionTimeout (1 s by default): long enough here that only the policy decides.
  // axios deep-copies http2Options (here with an object inside) for each request: the session is still shared.
  const h2 = { httpVersion: 2, http2Options: { sessionTimeout: 30_000, settings: { enablePush: false } } };
  assert.equal((await client(post(origin.url, h2))).status, 200);
  const sessions = origin.connections();
  assert.equal((await client(post(origin.url, h2))).status, 200);
  assert.equal(origin.connections(), sessions, 'one session for both requests');
  policy.update(await pinConfig());
  assert.equal((await client(post(origin.url, h2))).status, 200);
  assert.equal(origin.connections(), sessions, 'an update that changes nothing for the host keeps its session');
  policy.update(await otherPinConfig());
  const requests = origin.requests.length;
  const mark = origin.mark();
  const connections = origin.connections();
  const error = await failure(client(post(origin.url, h2)));
  assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(origin.requests.length, requests, 'the revoked server got no request on the old session');
  assert.ok(origin.connections() > connections, 'a new connection was tried under the new policy');
  assert.equal(origin.bytesSince(mark), 0, 'and it carried no byte');
});

test('axios redirects: a 307 from the pinned server to the attacker is followed by a plain agent; pinned, the next hop is checked and gets zero bytes (G6)', T, async (t) => {
  let target;
  const { origin, mitm } = await mitmAndOrigin(t, (_req, res) => {
    res.statusCode = 307;
    res.setHeader('location', target);
    res.end();
  });
  target = `https://api.example.test:${mitm.port}/next`;
  const plain = new HttpsAgent({ ca: trust });
  t.after(() => plain.destroy());
  assert.equal((await axios(post(origin.url, { httpsAgent: plain, proxy: false, lookup: lookupLoopback }))).status, 200);
  assert.equal(mitm.requests.length, 1, 'the plain agent followed the redirect to the attacker');
  assert.equal(mitm.requests[0].body, SECRET.body);
  mitm.requests.length = 0;

  const client = pinnedClient(t, createPolicy(await pinConfig()), { proxy: false });
  const bytes = mitm.bytesReceived();
  const error = await failure(client(post(origin.url, { lookup: lookupLoopback })));
  assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(origin.requests.length, 2, 'the pinned server got the first request');
  assert.equal(mitm.bytesReceived(), bytes, 'no application byte reached the attacker');
  assert.equal(mitm.requests.length, 0);
});

test('axios proxy option: axios tunnels with its own agent and loses the check (the control is fooled); pinned, a proxy in the request is refused and one given to pinnedAxiosConfig is tunnelled with pins on the origin (G4)', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const proxy = await tinyproxy.take();
  const policy = createPolicy(await pinConfig());
  const proxyOption = { protocol: 'http', host: '127.0.0.1', port: proxy.port };
  // The attack of issue 12, item 3: pinned agent, proxy option, request at the attacker.
  const fooled = await axios(post(mitm.url, { httpsAgent: agentFor(t, policy, { ca: trust }), proxy: proxyOption }));
  assert.equal(fooled.status, 200);
  assertSecretReached(mitm, 'http/1.1');

  await withEnv(NO_PROXY_ENV, async () => {
    const client = pinnedClient(t, policy);
    const connections = mitm.connections();
    const bytes = mitm.bytesReceived();
    const refused = await failure(client(post(mitm.url, { proxy: proxyOption })));
    assert.equal(refused.code, 'ERR_CERTPIN_INVALID_CONFIG', String(refused));
    assert.match(refused.message, new RegExp(`through the proxy http://127\\.0\\.0\\.1:${proxy.port}`));
    assert.equal(mitm.connections(), connections, 'refused before any connection');

    const tunnelled = pinnedClient(t, policy, { proxy: proxy.url });
    const error = await failure(tunnelled(post(mitm.url)));
    assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
    assert.equal(mitm.bytesReceived(), bytes, 'no application byte reached the attacker behind the proxy');
    assert.equal(mitm.requests.length, 0);
    assert.equal((await tunnelled(post(origin.url))).status, 200);
    assert.match(await proxy.logSince(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`), 'the pinned request went through the proxy');
    const h2 = await failure(tunnelled(post(origin.url, { httpVersion: 2 })));
    assert.equal(h2.code, 'ERR_CERTPIN_INVALID_CONFIG', 'axios\'s HTTP/2 cannot use the proxy: refused, not sent direct');
  });
});

test('axios with HTTPS_PROXY: axios\'s env tunnel loses the check (the control is fooled); pinnedAxiosConfig follows the variable through its own tunnel, pinned', T, async (t) => {
  const { origin, mitm } = await mitmAndOrigin(t);
  const proxy = await tinyproxy.take();
  const policy = createPolicy(await pinConfig());
  await withEnv({ ...NO_PROXY_ENV, HTTPS_PROXY: proxy.url }, async () => {
    const fooled = await axios(post(mitm.url, { httpsAgent: agentFor(t, policy, { ca: trust }) }));
    assert.equal(fooled.status, 200);
    assertSecretReached(mitm, 'http/1.1');

    const client = pinnedClient(t, policy);
    const bytes = mitm.bytesReceived();
    const error = await failure(client(post(mitm.url)));
    assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
    assert.equal(mitm.bytesReceived(), bytes, 'no application byte reached the attacker behind the proxy');
    assert.equal(mitm.requests.length, 0);
    assert.equal((await client(post(origin.url))).status, 200);
    assert.match(await proxy.logSince(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`), 'the pinned request went through the proxy the environment names');
    const h2 = await failure(client(post(origin.url, { httpVersion: 2 })));
    assert.equal(h2.code, 'ERR_CERTPIN_INVALID_CONFIG', String(h2));
  });
  await withEnv({ ...NO_PROXY_ENV, HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1' }, async () => {
    const client = pinnedClient(t, policy);
    assert.equal((await client(post(origin.url))).status, 200, 'NO_PROXY: direct, still pinned');
    assert.equal((await client(post(origin.url, { httpVersion: 2 }))).status, 200);
  });
});

test('pinnedAxiosConfig refuses a bad proxy setting and an axios without getAdapter with a TypeError', () => {
  const policy = createPolicy({ hosts: {} });
  assert.throws(() => pinnedAxiosConfig(policy, {}), TypeError);
  assert.throws(() => pinnedAxiosConfig(policy, axios, { proxy: 'socks5://127.0.0.1:1080' }), TypeError);
  assert.throws(() => pinnedAxiosConfig(policy, axios, { proxy: 42 }), TypeError);
});
