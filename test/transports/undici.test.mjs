// pinnedDispatcher and pinnedFetch against real loopback servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, Dispatcher, request } from 'undici';
import { createPolicy, pinnedDispatcher, pinnedFetch } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { lookupLoopback, otherHostCredentials, otherPinConfig, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 30_000 };

async function servers(t, handler) {
  const good = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] }, handler);
  const rogue = await startHttpsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] }, handler);
  for (const server of [good, rogue]) {
    server.resumed = [];
    server.server.on('secureConnection', (socket) => server.resumed.push(socket.isSessionReused()));
  }
  t.after(() => Promise.all([good.close(), rogue.close()]));
  return { good, rogue };
}

function closeAfter(t, dispatcher) {
  t.after(() => dispatcher.destroy());
  return dispatcher;
}

const causeCode = (error) => error?.cause?.code ?? error?.code;
const postInit = { method: 'POST', headers: SECRET.headers, body: SECRET.body };

test('pinnedFetch: a pinned server is accepted; a server with other pins gets no byte of a POST with credentials (G1)', T, async (t) => {
  const { good, rogue } = await servers(t);
  const fetch = pinnedFetch(createPolicy(await pinConfig()));
  closeAfter(t, fetch.dispatcher);
  const ok = await fetch(`https://localhost:${good.port}/login`, postInit);
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), 'ok');
  const error = await fetch(`https://localhost:${rogue.port}/login`, postInit).then(() => null, (e) => e);
  assert.equal(causeCode(error), 'ERR_CERTPIN_MISMATCH');
  assert.match(error.cause.message, /^Certificate pinning failure for localhost\n/);
  assert.ok(rogue.connections() >= 1);
  assert.equal(rogue.bytesReceived(), 0);
});

test('pinnedDispatcher with undici.request: zero bytes on rejection, and init.dispatcher cannot replace the pinned one', T, async (t) => {
  const { good, rogue } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const dispatcher = closeAfter(t, pinnedDispatcher(policy));
  const ok = await request(`https://localhost:${good.port}/`, { dispatcher, ...postInit });
  assert.equal(ok.statusCode, 200);
  await ok.body.text();
  const error = await request(`https://localhost:${rogue.port}/`, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');

  const fetch = pinnedFetch(policy);
  closeAfter(t, fetch.dispatcher);
  const unpinned = closeAfter(t, new Agent({ connect: { ca: [pki.rogueRoot.pem] } }));
  const sneaky = await fetch(`https://localhost:${rogue.port}/`, { ...postInit, dispatcher: unpinned }).then(() => null, (e) => e);
  assert.equal(causeCode(sneaky), 'ERR_CERTPIN_MISMATCH');
  assert.equal(rogue.bytesReceived(), 0);
});

test('a pinned dispatcher is an undici Dispatcher: instanceof holds, and its own request() and compose() keep the check', T, async (t) => {
  const { good, rogue } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const dispatcher = closeAfter(t, pinnedDispatcher(policy));
  assert.ok(dispatcher instanceof Dispatcher);
  assert.ok(closeAfter(t, pinnedDispatcher(policy, { proxy: 'http://127.0.0.1:9' })) instanceof Dispatcher);
  const ok = await dispatcher.request({ origin: `https://localhost:${good.port}`, path: '/', method: 'GET' });
  assert.equal(ok.statusCode, 200);
  await ok.body.text();
  const seen = [];
  const composed = dispatcher.compose((dispatch) => (options, handler) => { seen.push(options.origin); return dispatch(options, handler); });
  const error = await request(`https://localhost:${rogue.port}/`, { dispatcher: composed, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(seen.length, 1, 'the interceptor ran');
  assert.equal(rogue.bytesReceived(), 0);
});

test('options cannot weaken validation: a connect function or factory is refused, a connect object is hardened (G3)', T, async (t) => {
  const { rogue } = await servers(t);
  const policy = createPolicy(await pinConfig());
  assert.throws(() => pinnedDispatcher(policy, { connect: () => {} }), { name: 'TypeError', message: /connect must be an object/ });
  assert.throws(() => pinnedDispatcher(policy, { factory: (origin, opts) => new Agent(opts) }), { name: 'TypeError', message: /factory/ });
  assert.throws(() => pinnedFetch(policy, { connect: () => {} }), TypeError);
  assert.throws(() => pinnedDispatcher(policy, { proxy: 42 }), TypeError);

  const session = await new Promise((resolve, reject) => {
    // a session with the rogue server, made by an unpinned client: resuming it would skip every check
    import('node:tls').then(({ connect }) => {
      const socket = connect({ host: '127.0.0.1', port: rogue.port, servername: 'localhost', ca: pki.rogueRoot.pem });
      socket.once('session', (s) => { resolve(s); socket.end(); });
      socket.on('error', reject);
    });
  });
  const before = rogue.bytesReceived();
  const dispatcher = closeAfter(t, pinnedDispatcher(policy, {
    connect: { rejectUnauthorized: false, checkServerIdentity: () => undefined, session, ca: pki.rogueRoot.pem, lookup: lookupLoopback },
  }));
  const error = await request(`https://api.example.test:${rogue.port}/`, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', 'connect.lookup is used, the rest cannot weaken the check');
  assert.equal(rogue.bytesReceived(), before);
});

test('G2: after policy.update() neither a keep-alive socket nor a TLS session of the old policy is used', T, async (t) => {
  const { good } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const dispatcher = closeAfter(t, pinnedDispatcher(policy));
  const url = `https://localhost:${good.port}/`;
  for (let i = 0; i < 4; i++) await (await request(url, { dispatcher })).body.text();
  assert.ok(good.connections() < 4, 'keep-alive reuse happened before the update');
  // A new connection: undici resumes the session it cached.
  await (await request(url, { dispatcher, reset: true })).body.text();
  await (await request(url, { dispatcher, reset: true })).body.text();
  assert.equal(good.resumed.at(-1), true, 'session resumption happened before the update');

  policy.update(await otherPinConfig());
  const before = good.requests.length;
  for (let i = 0; i < 3; i++) {
    const error = await request(url, { dispatcher, ...postInit }).then(() => null, (e) => e);
    assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', `request ${i} after the update`);
  }
  assert.equal(good.requests.length, before);
});

test('G2: an update that revokes the pin closes the open socket; the request queued for it is not sent on it', T, async (t) => {
  let releaseSlow;
  const gate = new Promise((resolve) => { releaseSlow = resolve; });
  const { good } = await servers(t, (req, res) => {
    if (req.url === '/slow') void gate.then(() => res.end('slow'));
    else res.end('ok');
  });
  t.after(() => releaseSlow());
  const policy = createPolicy(await pinConfig());
  const dispatcher = closeAfter(t, pinnedDispatcher(policy, { connections: 1, pipelining: 1 }));
  const slow = request(`https://localhost:${good.port}/slow`, { dispatcher }).then(() => null, (e) => e);
  const queued = request(`https://localhost:${good.port}/queued`, { dispatcher, ...postInit }).then(() => null, (e) => e);
  for (let i = 0; i < 100 && good.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(good.requests.length, 1);
  policy.update(await otherPinConfig());
  assert.equal((await slow)?.code, 'ERR_CERTPIN_MISMATCH', 'the connection the new policy refuses was closed under the request');
  assert.equal((await queued)?.code, 'ERR_CERTPIN_MISMATCH', 'the queued request got a new connection, checked under the new policy');
  assert.deepEqual(good.requests.map((r) => r.url), ['/slow']);
});

test('G3: NODE_TLS_REJECT_UNAUTHORIZED=0 and connect.rejectUnauthorized:false change nothing', T, async (t) => {
  const { good, rogue } = await servers(t);
  const policy = createPolicy({ ca: [pki.root.pem], hosts: { 'api.example.test': { pins: [pki.intermediate.pin] } } });
  const fetch = pinnedFetch(policy, { connect: { rejectUnauthorized: false } });
  closeAfter(t, fetch.dispatcher);
  await withEnv({ NODE_TLS_REJECT_UNAUTHORIZED: '0' }, async () => {
    const control = closeAfter(t, new Agent());
    const res = await request(`https://localhost:${rogue.port}/`, { dispatcher: control });
    assert.equal(res.statusCode, 200, 'the environment variable is in effect for an unpinned dispatcher');
    await res.body.text();
    const before = rogue.bytesReceived();
    const error = await fetch(`https://localhost:${rogue.port}/`, postInit).then(() => null, (e) => e);
    assert.equal(causeCode(error), 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    assert.equal(rogue.bytesReceived(), before);
    assert.equal((await fetch(`https://localhost:${good.port}/`)).status, 200);
  });
});

test('G6: a redirect from a pinned host to a host whose server has other pins is rejected', T, async (t) => {
  const { good, rogue } = await servers(t, (req, res) => {
    if (req.url === '/go') res.writeHead(302, { location: `https://api.example.test:${rogue.port}/landing` }).end();
    else res.end('landed');
  });
  const fetch = pinnedFetch(createPolicy(await pinConfig()), { connect: { lookup: lookupLoopback } });
  closeAfter(t, fetch.dispatcher);
  const manual = await fetch(`https://localhost:${good.port}/go`, { redirect: 'manual' });
  assert.equal(manual.status, 302, 'the first hop answers with a redirect');
  const error = await fetch(`https://localhost:${good.port}/go`, { headers: SECRET.headers }).then(() => null, (e) => e);
  assert.equal(causeCode(error), 'ERR_CERTPIN_MISMATCH');
  assert.equal(error.cause.hostname, 'api.example.test');
  assert.equal(rogue.bytesReceived(), 0);
});

test('hostname variants (case, trailing dot, IDN) meet the same pins', T, async (t) => {
  const { good, rogue } = await servers(t);
  const fetch = pinnedFetch(createPolicy(await pinConfig()), { connect: { lookup: lookupLoopback } });
  closeAfter(t, fetch.dispatcher);
  for (const name of ['API.Example.TEST', 'api.example.test.', 'Bücher.Example.Test']) {
    assert.equal((await fetch(`https://${name}:${good.port}/`)).status, 200, name);
    const error = await fetch(`https://${name}:${rogue.port}/`, postInit).then(() => null, (e) => e);
    assert.equal(causeCode(error), 'ERR_CERTPIN_MISMATCH', name);
  }
  assert.equal(rogue.bytesReceived(), 0);
});

test('violation reports carry the port of each connection, also when one connector serves many origins', T, async (t) => {
  const a = await servers(t);
  const b = await servers(t);
  const reports = [];
  const fetch = pinnedFetch(createPolicy(await pinConfig(), { onViolation: (r) => reports.push(r) }));
  closeAfter(t, fetch.dispatcher);
  await fetch(`https://localhost:${a.rogue.port}/`).catch(() => {});
  await fetch(`https://localhost:${b.rogue.port}/`).catch(() => {});
  assert.deepEqual(reports.map((r) => [r.hostname, r.port]), [['localhost', a.rogue.port], ['localhost', b.rogue.port]]);
});

test('a global Request object is accepted and still pinned', T, async (t) => {
  const { good, rogue } = await servers(t);
  const fetch = pinnedFetch(createPolicy(await pinConfig()));
  closeAfter(t, fetch.dispatcher);
  const ok = await fetch(new globalThis.Request(`https://localhost:${good.port}/r`, { method: 'POST', body: 'x', headers: { 'x-a': '1' } }));
  assert.equal(ok.status, 200);
  assert.equal(good.requests[0].headers['x-a'], '1');
  assert.equal(good.requests[0].body, 'x');
  const error = await fetch(new globalThis.Request(`https://localhost:${rogue.port}/r`)).then(() => null, (e) => e);
  assert.equal(causeCode(error), 'ERR_CERTPIN_MISMATCH');
});

test('docs/guarantees.md C4: a Host header or connect.servername naming an unpinned host does not escape the pins of the URL host', T, async (t) => {
  const other = await startHttpsServer(await otherHostCredentials());
  t.after(() => other.close());
  const url = `https://api.example.test:${other.port}/login`;
  const trust = [pki.root.pem, pki.rogueRoot.pem];
  const viaHost = closeAfter(t, new Agent({ connect: { ca: trust, lookup: lookupLoopback } }));
  const control = await request(url, { dispatcher: viaHost, ...postInit, headers: { ...SECRET.headers, host: 'other.test' } });
  assert.equal(control.statusCode, 200, 'an unpinned dispatcher sends the request to other.test');
  await control.body.text();
  const viaServername = closeAfter(t, new Agent({ connect: { ca: trust, lookup: lookupLoopback, servername: 'other.test' } }));
  assert.equal((await (await import('undici')).fetch(url, { dispatcher: viaServername, ...postInit })).status, 200);
  assert.equal(other.requests.length, 2);

  const before = other.bytesReceived();
  const policy = createPolicy(await pinConfig());
  const dispatcher = closeAfter(t, pinnedDispatcher(policy, { connect: { lookup: lookupLoopback } }));
  const error = await request(url, { dispatcher, ...postInit, headers: { ...SECRET.headers, host: 'other.test' } }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', 'Host header');
  assert.equal(error.hostname, 'api.example.test');
  const fetch = pinnedFetch(policy, { connect: { lookup: lookupLoopback, servername: 'other.test' } });
  closeAfter(t, fetch.dispatcher);
  const fetchError = await fetch(url, postInit).then(() => null, (e) => e);
  assert.equal(causeCode(fetchError), 'ERR_CERTPIN_MISMATCH', 'connect.servername');
  assert.equal(other.bytesReceived(), before, 'no byte of the pinned requests reached other.test');
});

test('G2/G7: an update that keeps the pin costs no handshake; one that revokes it closes the connection and the next fails with zero bytes', T, async (t) => {
  const { good } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const pooled = closeAfter(t, pinnedDispatcher(policy));
  const fresh = closeAfter(t, pinnedDispatcher(policy));
  const url = `https://localhost:${good.port}/`;
  const get = async (dispatcher, options = {}) => (await request(url, { dispatcher, ...options })).body.text();
  await get(pooled);
  await get(fresh, { reset: true }); // a new connection per request, closed after the response
  await get(fresh, { reset: true });
  assert.deepEqual(good.resumed, [false, false, true], 'keep-alive and resumption happen before the update');
  const connections = good.connections();

  policy.update({ ...(await pinConfig()), hosts: { ...(await pinConfig()).hosts, 'new.example.test': { pins: [pki.intermediate2.pin] } } });
  await get(pooled);
  assert.equal(good.connections(), connections, 'the keep-alive connection is kept');
  await get(fresh, { reset: true });
  assert.deepEqual(good.resumed, [false, false, true, true], 'the cached session is resumed: no new full handshake');

  const closed = new Promise((resolve) => pooled.once('disconnect', resolve));
  policy.update(await otherPinConfig());
  await closed;
  const before = good.bytesReceived();
  for (const dispatcher of [pooled, fresh]) {
    const error = await request(url, { dispatcher, ...postInit }).then(() => null, (e) => e);
    assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', 'the new connection was checked under the new policy');
  }
  assert.equal(good.bytesReceived(), before, 'no byte reached the server after the revocation');
  assert.deepEqual(good.resumed, [false, false, true, true], 'the session verified under the old pins was not resumed');
});

test('G2: requests in flight across updates that keep the pin all succeed, on the connections already made', T, async (t) => {
  const { good } = await servers(t);
  const policy = createPolicy(await pinConfig());
  const dispatcher = closeAfter(t, pinnedDispatcher(policy, { connections: 4 }));
  const config = await pinConfig();
  const url = `https://localhost:${good.port}/`;
  let started = 0;
  const failures = [];
  const worker = async () => {
    while (started < 400) {
      // An update every 20 requests, while the other workers' requests are queued or in flight.
      if (++started % 20 === 0) policy.update({ ...config, hosts: { ...config.hosts, [`n${started}.example.test`]: { pins: [pki.intermediate2.pin] } } });
      try {
        await (await request(url, { dispatcher })).body.text();
      } catch (error) {
        failures.push(error.code ?? error.message);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.deepEqual(failures, []);
  assert.ok(good.connections() <= 4, `${good.connections()} connections for 400 requests and 20 updates`);
});
