// pinnedAgent against real loopback servers, with node:https, axios, got and ws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import got from 'got';
import WebSocket, { WebSocketServer } from 'ws';
import { createPolicy, pinnedAgent, pinnedTlsOptions, PinMismatchError } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { httpsRequest, lookupLoopback, otherHostCredentials, otherPinConfig, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const goodChain = [pki.leaf, pki.intermediate];
const rogueChain = [pki.rogueLeaf, pki.rogueIntermediate];

async function servers(t, options = {}, handler) {
  const good = await startHttpsServer({ cert: goodChain, ...options }, handler);
  const rogue = await startHttpsServer({ cert: rogueChain, ...options }, handler);
  t.after(() => Promise.all([good.close(), rogue.close()]));
  return { good, rogue };
}

function agentFor(t, policy, options) {
  const agent = pinnedAgent(policy, options);
  t.after(() => agent.destroy());
  return agent;
}

const post = (port, agent, extra = {}) =>
  httpsRequest({ host: 'localhost', port, path: '/login', method: 'POST', agent, headers: SECRET.headers }, extra, SECRET.body);

test('node:https: a pinned server is accepted; a server with other pins gets no byte of a POST with credentials (G1)', { timeout: 30_000 }, async (t) => {
  const { good, rogue } = await servers(t);
  const agent = agentFor(t, createPolicy(await pinConfig()));
  const ok = await post(good.port, agent);
  assert.equal(ok.status, 200);
  assert.equal(good.requests[0].headers.authorization, SECRET.headers.authorization);

  const error = await post(rogue.port, agent).then(() => null, (e) => e);
  assert.ok(error instanceof PinMismatchError, `expected a pin mismatch, got ${error}`);
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(error.hostname, 'localhost');
  assert.equal(error.peerPins[0].pin, pki.rogueLeaf.pin);
  assert.ok(rogue.connections() >= 1, 'the client did reach the rogue server');
  assert.equal(rogue.bytesReceived(), 0, 'no application byte reached the rogue server');
  assert.equal(rogue.requests.length, 0);
});

test('axios (httpsAgent), got (agent.https) and ws (agent) are pinned through the agent, with zero bytes on rejection', { timeout: 30_000 }, async (t) => {
  const { good, rogue } = await servers(t);
  for (const server of [good, rogue]) {
    const wss = new WebSocketServer({ server: server.server });
    wss.on('connection', (ws) => ws.send('hello'));
    t.after(() => new Promise((resolve) => wss.close(resolve)));
  }
  const agent = agentFor(t, createPolicy(await pinConfig()));
  const url = (server) => `https://localhost:${server.port}/api`;

  const a = await axios.post(url(good), SECRET.body, { httpsAgent: agent, headers: SECRET.headers });
  assert.equal(a.status, 200);
  const axiosError = await axios.post(url(rogue), SECRET.body, { httpsAgent: agent, headers: SECRET.headers }).then(() => null, (e) => e);
  assert.equal(axiosError?.code, 'ERR_CERTPIN_MISMATCH');

  const g = await got.post(url(good), { agent: { https: agent }, headers: SECRET.headers, body: SECRET.body, retry: { limit: 0 } });
  assert.equal(g.statusCode, 200);
  const gotError = await got.post(url(rogue), { agent: { https: agent }, headers: SECRET.headers, body: SECRET.body, retry: { limit: 0 } }).then(() => null, (e) => e);
  assert.equal(gotError?.code, 'ERR_CERTPIN_MISMATCH');

  const wsMessage = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${good.port}/`, { agent, headers: SECRET.headers });
    ws.on('message', (data) => { resolve(String(data)); ws.close(); });
    ws.on('error', reject);
  });
  assert.equal(wsMessage, 'hello');
  const wsError = await new Promise((resolve) => {
    const ws = new WebSocket(`wss://localhost:${rogue.port}/`, { agent, headers: SECRET.headers });
    ws.on('open', () => { resolve(null); ws.close(); });
    ws.on('error', resolve);
  });
  assert.equal(wsError?.code, 'ERR_CERTPIN_MISMATCH');

  assert.equal(rogue.bytesReceived(), 0);
  assert.ok(rogue.connections() >= 3);
});

test('G2: after policy.update() a pooled keep-alive socket is not reused', { timeout: 30_000 }, async (t) => {
  const { good } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const agent = agentFor(t, policy, { keepAlive: true });
  const first = await post(good.port, agent);
  const second = await post(good.port, agent);
  assert.equal(first.status, 200);
  assert.equal(second.reusedSocket, true, 'the test needs keep-alive reuse to happen before the update');
  assert.equal(good.connections(), 1);

  policy.update(await otherPinConfig());
  const error = await post(good.port, agent).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(good.requests.length, 2, 'the request was not sent on the old socket');
  assert.equal(Object.keys(agent.freeSockets).length, 0, 'old idle sockets were closed');
});

test('G2: after policy.update() a cached TLS session is not resumed, and a caller session option does not bypass', { timeout: 30_000 }, async (t) => {
  const { good } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const agent = agentFor(t, policy, { keepAlive: false });
  await post(good.port, agent);
  const resumed = await post(good.port, agent);
  assert.equal(resumed.reusedSocket, false);
  assert.equal(resumed.sessionReused, true, 'the test needs session resumption to happen before the update');

  // A session of the old policy, obtained by the caller.
  const session = await new Promise((resolve, reject) => {
    const socket = tls.connect(pinnedTlsOptions(policy, { host: '127.0.0.1', port: good.port, servername: 'localhost' }));
    socket.once('session', (s) => { resolve(s); socket.end(); });
    socket.on('error', reject);
  });

  policy.update(await otherPinConfig());
  const before = good.bytesReceived();
  const viaCache = await post(good.port, agent).then(() => null, (e) => e);
  assert.equal(viaCache?.code, 'ERR_CERTPIN_MISMATCH');
  const viaOption = await post(good.port, agent, { session }).then(() => null, (e) => e);
  assert.equal(viaOption?.code, 'ERR_CERTPIN_MISMATCH');
  const viaAgentOption = await post(good.port, agentFor(t, policy, { session })).then(() => null, (e) => e);
  assert.equal(viaAgentOption?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(good.bytesReceived(), before);
});

test('G2: a session resumed while the policy changed under the handshake is cut before the request goes out', { timeout: 30_000 }, async (t) => {
  const { good } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const agent = agentFor(t, policy, { keepAlive: false });
  await post(good.port, agent);
  const newConfig = await otherPinConfig();
  const before = good.bytesReceived();
  // The session of the current version is picked when the socket is made; the update lands before
  // the (resumed, hence unchecked) handshake completes.
  const error = await post(good.port, agent, { onRequest: (req) => req.once('socket', () => policy.update(newConfig)) }).then(() => null, (e) => e);
  // The update lands on 'socket', before any byte of the handshake is read: the resumed session's
  // chain is checked against the new pins, which it does not match (the code the hook gives too).
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', `expected a refusal, got ${error}`);
  assert.equal(good.bytesReceived(), before);
});

test('G2: an update that revokes the pin closes the open socket; the request queued for it gets a new checked connection', { timeout: 30_000 }, async (t) => {
  let releaseSlow;
  const slowGate = new Promise((resolve) => { releaseSlow = resolve; });
  const { good } = await servers(t, {}, (req, res) => {
    if (req.url === '/slow') void slowGate.then(() => res.end('slow'));
    else res.end('ok');
  });
  t.after(() => releaseSlow());
  const policy = createPolicy(await pinConfig());
  const agent = agentFor(t, policy, { keepAlive: true, maxSockets: 1 });
  const slow = httpsRequest({ host: 'localhost', port: good.port, path: '/slow', agent }).then(() => null, (e) => e);
  const queued = post(good.port, agent).then(() => null, (e) => e);
  for (let i = 0; i < 100 && good.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(good.requests.length, 1, 'the slow request is in flight');
  policy.update(await otherPinConfig());
  assert.equal((await slow)?.code, 'ERR_CERTPIN_MISMATCH', 'the connection the new policy refuses was closed under the request');
  assert.equal((await queued)?.code, 'ERR_CERTPIN_MISMATCH', 'the queued request got a new connection, checked under the new policy');
  assert.deepEqual(good.requests.map((r) => r.url), ['/slow'], 'the queued request never reached the server');
  assert.equal(good.connections(), 2);
});

test('G2: an update that keeps the pin keeps the open socket; the queued request goes out on it', { timeout: 30_000 }, async (t) => {
  let releaseSlow;
  const slowGate = new Promise((resolve) => { releaseSlow = resolve; });
  const { good } = await servers(t, {}, (req, res) => {
    if (req.url === '/slow') void slowGate.then(() => res.end('slow'));
    else res.end('ok');
  });
  const policy = createPolicy(await pinConfig());
  const agent = agentFor(t, policy, { keepAlive: true, maxSockets: 1 });
  const slow = httpsRequest({ host: 'localhost', port: good.port, path: '/slow', agent });
  const queued = post(good.port, agent);
  for (let i = 0; i < 100 && good.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  policy.update({ ...(await pinConfig()), hosts: { ...(await pinConfig()).hosts, 'new.example.test': { pins: [pki.intermediate2.pin] } } });
  releaseSlow();
  assert.equal((await slow).body, 'slow');
  const second = await queued;
  assert.equal(second.status, 200);
  assert.equal(good.connections(), 1, 'the queued request went out on the kept socket: no new connection');
});

test('G3: rejectUnauthorized:false and NODE_TLS_REJECT_UNAUTHORIZED=0 change nothing', { timeout: 30_000 }, async (t) => {
  const { good, rogue } = await servers(t);
  // Trusts only the test root: the rogue chain now fails standard validation.
  const policy = createPolicy({ ca: [pki.root.pem], hosts: { 'api.example.test': { pins: [pki.intermediate.pin] } } });
  const agent = agentFor(t, policy, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  await withEnv({ NODE_TLS_REJECT_UNAUTHORIZED: '0' }, async () => {
    const control = await httpsRequest({ host: 'localhost', port: rogue.port, agent: new https.Agent() });
    assert.equal(control.status, 200, 'the environment variable is in effect for an unpinned client');
    const before = rogue.bytesReceived();
    // localhost is unpinned (standard validation only); the rogue chain does not validate.
    const error = await post(rogue.port, agent, { rejectUnauthorized: false }).then(() => null, (e) => e);
    assert.equal(error?.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    assert.equal(rogue.bytesReceived(), before);
    assert.equal((await post(good.port, agent)).status, 200);
  });
});

test('G3 in a child process started with NODE_TLS_REJECT_UNAUTHORIZED=0', { timeout: 30_000 }, async (t) => {
  const { rogue } = await servers(t);
  const script = `
    import https from 'node:https';
    import { createPolicy, pinnedAgent } from 'certpin';
    const [rootPem, pin, port] = JSON.parse(process.argv[1]);
    const agent = pinnedAgent(createPolicy({ ca: [rootPem], hosts: { localhost: { pins: [pin] } } }), { rejectUnauthorized: false });
    const plain = await new Promise((r) => https.get({ host: 'localhost', port }, (res) => { res.resume(); r(res.statusCode); }).on('error', (e) => r(e.code)));
    const pinned = await new Promise((r) => https.get({ host: 'localhost', port, agent }, (res) => { res.resume(); r(res.statusCode); }).on('error', (e) => r(e.code)));
    agent.destroy();
    console.log(JSON.stringify({ plain, pinned }));
  `;
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  const stdout = await new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([pki.root.pem, pki.intermediate.pin, rogue.port])], {
      cwd, env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' }, timeout: 20_000,
    }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
    t.after(() => child.kill());
  });
  const result = JSON.parse(stdout.trim().split('\n').pop());
  assert.equal(result.plain, 200, 'an unpinned client in that process accepts the untrusted server');
  assert.equal(result.pinned, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  assert.equal(rogue.requests.length, 1, 'only the unpinned control request arrived');
});

test('G5: a server that renegotiates (TLS 1.2) is cut off', { timeout: 30_000 }, async (t) => {
  const renegotiations = [];
  const handler = (req, res) => req.socket.renegotiate({}, (err) => { renegotiations.push(err ? 'refused' : 'done'); res.end('renegotiated'); });
  const { good } = await servers(t, { maxVersion: 'TLSv1.2' }, handler);
  const control = await httpsRequest({ host: 'localhost', port: good.port, ca: pki.root.pem, agent: false });
  assert.equal(control.body, 'renegotiated', 'a plain client lets the server renegotiate');
  const agent = agentFor(t, createPolicy(await pinConfig()));
  const error = await httpsRequest({ host: 'localhost', port: good.port, agent }).then(() => null, (e) => e);
  assert.ok(error, 'the pinned request must fail');
  assert.match(String(error.code), /ERR_SSL|ECONNRESET/);
  assert.deepEqual(renegotiations, ['done']);
});

test('hostname variants (case, trailing dot, IDN) meet the same pins', { timeout: 30_000 }, async (t) => {
  const { good, rogue } = await servers(t);
  const agent = agentFor(t, createPolicy(await pinConfig()));
  const variants = ['API.Example.TEST', 'api.example.test.', 'Bücher.Example.Test'];
  for (const name of variants) {
    const target = (server) => `https://${name}:${server.port}/`;
    const ok = await httpsRequest(target(good), { agent, lookup: lookupLoopback });
    assert.equal(ok.status, 200, name);
    const error = await httpsRequest(target(rogue), { agent, lookup: lookupLoopback, method: 'POST', headers: SECRET.headers }, SECRET.body).then(() => null, (e) => e);
    assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', `${name} must meet the pins of its normalised name`);
  }
  // host passed as written, not through a URL
  const error = await post(rogue.port, agent, { host: 'API.EXAMPLE.TEST.', lookup: lookupLoopback }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(rogue.bytesReceived(), 0);
});

test('violation reports name the host and port of the connection', { timeout: 30_000 }, async (t) => {
  const { rogue } = await servers(t);
  const reports = [];
  const policy = createPolicy(await pinConfig(), { onViolation: (report) => reports.push(report) });
  const agent = agentFor(t, policy);
  await post(rogue.port, agent).catch(() => {});
  assert.equal(reports.length, 1);
  assert.equal(reports[0].hostname, 'localhost');
  assert.equal(reports[0].port, rogue.port);
});

test('docs/guarantees.md C4: a Host header or servername naming an unpinned host does not escape the pins of the URL host', { timeout: 30_000 }, async (t) => {
  const other = await startHttpsServer(await otherHostCredentials());
  t.after(() => other.close());
  // DNS (here lookupLoopback) sends pinned api.example.test to a server holding an ordinary
  // certificate for its own domain, other.test, from a CA the client trusts.
  const url = `https://api.example.test:${other.port}/login`;
  const trusting = new https.Agent({ ca: [pki.root.pem, pki.rogueRoot.pem] });
  t.after(() => trusting.destroy());
  const variants = [
    { headers: { ...SECRET.headers, host: 'other.test' } },
    { headers: SECRET.headers, servername: 'other.test' },
  ];
  for (const variant of variants) {
    const control = await httpsRequest(url, { agent: trusting, lookup: lookupLoopback, method: 'POST', ...variant }, SECRET.body);
    assert.equal(control.status, 200, 'an unpinned client sends the request to other.test');
  }
  assert.equal(other.requests.length, 2);
  assert.equal(other.requests[0].headers.authorization, SECRET.headers.authorization);

  const before = other.bytesReceived();
  const agent = agentFor(t, createPolicy(await pinConfig()));
  for (const variant of variants) {
    const error = await httpsRequest(url, { agent, lookup: lookupLoopback, method: 'POST', ...variant }, SECRET.body).then(() => null, (e) => e);
    assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', `${JSON.stringify(variant)}: the pins of api.example.test apply`);
    assert.equal(error.hostname, 'api.example.test');
  }
  assert.equal(other.bytesReceived(), before, 'no byte of the pinned requests reached other.test');
  assert.equal(other.requests.length, 2);
});

test('host forms: a name that normalises to nothing is refused; a zone ID gives an error event, never a throw', { timeout: 30_000 }, async (t) => {
  const { rogue } = await servers(t);
  // Node's hostname check accepts "localhost.." for the certificate of localhost.
  const control = await httpsRequest({ host: 'localhost..', port: rogue.port, agent: false, lookup: lookupLoopback, ca: [pki.root.pem, pki.rogueRoot.pem] });
  assert.equal(control.status, 200, 'an unpinned client accepts the name');
  const agent = agentFor(t, createPolicy(await pinConfig()));
  const before = rogue.bytesReceived();
  const error = await httpsRequest({ host: 'localhost..', port: rogue.port, agent, lookup: lookupLoopback, method: 'POST', headers: SECRET.headers }, {}, SECRET.body).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_INVALID_INPUT', 'refused, not treated as unpinned');
  assert.match(error.message, /"localhost\.\."/);
  assert.equal(rogue.bytesReceived(), before);

  // This threw synchronously from the agent's createConnection before (normalizeHostname threw).
  const requestError = (options) => new Promise((resolve, reject) => {
    let req;
    try {
      req = https.request({ agent, ...options }, () => reject(new Error('a response arrived')));
    } catch (thrown) {
      reject(new Error(`https.request threw synchronously: ${thrown.message}`));
      return;
    }
    req.on('error', resolve);
    req.end();
  });
  const zone = await requestError({ host: 'fe80::1%lo', port: 9 });
  assert.ok(zone instanceof Error, 'the zone ID request ends in an error event');
});

test('G2/G7: an update that keeps the pin costs no handshake; one that revokes it closes the socket and the next connection fails with zero bytes', { timeout: 30_000 }, async (t) => {
  const { good } = await servers(t);
  const handshakes = { full: 0, resumed: 0 };
  good.server.on('secureConnection', (socket) => { handshakes[socket.isSessionReused() ? 'resumed' : 'full']++; });
  const policy = createPolicy(await pinConfig());
  const pooled = agentFor(t, policy, { keepAlive: true });
  const fresh = agentFor(t, policy, { keepAlive: false });
  let socket;
  await post(good.port, pooled, { onRequest: (req) => req.once('socket', (s) => { socket = s; }) });
  await post(good.port, fresh);
  assert.equal((await post(good.port, fresh)).sessionReused, true);
  assert.deepEqual(handshakes, { full: 2, resumed: 1 });

  // Same pins, a new trust store object, one more host: nothing changes for localhost.
  policy.update({ ...(await pinConfig()), hosts: { ...(await pinConfig()).hosts, 'new.example.test': { pins: [pki.intermediate2.pin] } } });
  assert.equal(socket.destroyed, false, 'the pooled socket passed the re-check');
  assert.equal((await post(good.port, pooled)).reusedSocket, true, 'the pooled socket is reused');
  assert.equal((await post(good.port, fresh)).sessionReused, true, 'the cached session is resumed');
  assert.deepEqual(handshakes, { full: 2, resumed: 2 }, 'no new full handshake');

  policy.update(await otherPinConfig());
  assert.equal(socket.destroyed, true, 'the pooled socket was closed by the update itself');
  const before = good.bytesReceived();
  for (const agent of [pooled, fresh]) {
    const error = await post(good.port, agent).then(() => null, (e) => e);
    assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', 'the new connection was checked under the new policy');
  }
  assert.equal(good.bytesReceived(), before, 'no byte reached the server after the revocation');
  assert.equal(handshakes.resumed, 2, 'the session verified under the old pins was not resumed');
});

test('G2: a WebSocket through pinnedAgent survives an update that keeps its pin and is closed by one that revokes it', { timeout: 30_000 }, async (t) => {
  const { good } = await servers(t);
  const wss = new WebSocketServer({ server: good.server });
  t.after(() => new Promise((resolve) => wss.close(resolve)));
  const received = [];
  const serverClosed = new Promise((resolve) => wss.on('connection', (peer) => {
    peer.on('message', (data) => { received.push(String(data)); peer.send(`echo ${data}`); });
    peer.on('close', resolve);
  }));
  const policy = createPolicy(await pinConfig());
  const agent = agentFor(t, policy);
  const ws = new WebSocket(`wss://localhost:${good.port}/`, { agent, headers: SECRET.headers });
  ws.on('error', () => {});
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const echo = (text) => new Promise((resolve) => { ws.once('message', (data) => resolve(String(data))); ws.send(text); });
  assert.equal(await echo('one'), 'echo one');

  policy.update({ ...(await pinConfig()), hosts: { ...(await pinConfig()).hosts, 'new.example.test': { pins: [pki.intermediate2.pin] } } });
  assert.equal(await echo('two'), 'echo two', 'the WebSocket survived an update that keeps its pin');
  assert.equal(good.connections(), 1, 'on the same connection');

  const clientClosed = new Promise((resolve) => ws.once('close', resolve));
  policy.update(await otherPinConfig());
  const sent = new Promise((resolve) => ws.send('three', resolve));
  await Promise.all([clientClosed, serverClosed]);
  assert.ok(await sent, 'the frame after the revocation could not be sent');
  assert.deepEqual(received, ['one', 'two'], 'the frame after the revocation reached nobody');
});

test('https.request with pinnedTlsOptions (no agent) opens its own checked connection', { timeout: 30_000 }, async (t) => {
  const { good, rogue } = await servers(t);
  const control = await httpsRequest({ host: 'localhost', port: rogue.port, agent: false, ca: [pki.root.pem, pki.rogueRoot.pem] });
  assert.equal(control.status, 200, 'an unpinned request with the same trust store reaches the rogue server');
  const policy = createPolicy(await pinConfig());
  const ok = await httpsRequest({ ...pinnedTlsOptions(policy, { host: 'localhost', port: good.port }), path: '/' });
  assert.equal(ok.status, 200);
  const before = rogue.bytesReceived();
  const error = await httpsRequest({ ...pinnedTlsOptions(policy, { host: 'localhost', port: rogue.port }), path: '/login', method: 'POST', headers: SECRET.headers }, {}, SECRET.body).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(rogue.bytesReceived(), before);
});
