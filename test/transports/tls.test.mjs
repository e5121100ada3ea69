// pinnedTlsOptions with tls.connect and http2.connect against real loopback servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import http2 from 'node:http2';
import { createPolicy, pinnedTlsOptions } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { lookupLoopback, otherHostCredentials, otherPinConfig, pinConfig, SECRET, tlsExchange as exchange, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 30_000 };
const goodChain = [pki.leaf, pki.intermediate];
const rogueChain = [pki.rogueLeaf, pki.rogueIntermediate];

async function tlsServer(t, cert, options = {}) {
  const server = await startTlsServer({ cert, onConnection: (socket) => socket.on('data', () => socket.end('pong')), ...options });
  t.after(() => server.close());
  return server;
}

const target = (server, extra = {}) => ({ host: '127.0.0.1', port: server.port, servername: 'localhost', ...extra });

test('tls.connect: pinned server accepted; bytes queued during the handshake never reach a server with other pins (G1)', T, async (t) => {
  const good = await tlsServer(t, goodChain);
  const rogue = await tlsServer(t, rogueChain);
  const policy = createPolicy(await pinConfig());
  assert.equal((await exchange(pinnedTlsOptions(policy, target(good)))).reply, 'pong');
  const error = await exchange(pinnedTlsOptions(policy, target(rogue))).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.ok(rogue.connections() >= 1);
  assert.equal(rogue.bytesReceived(), 0);
});

test('G2/docs/node-tls.md N9: a caller session option is dropped, so the check runs under the current policy', T, async (t) => {
  const good = await tlsServer(t, goodChain);
  const policy = createPolicy(await pinConfig());
  const first = await exchange(pinnedTlsOptions(policy, target(good)));
  const control = await exchange({ ...target(good), ca: pki.root.pem, session: first.session });
  assert.equal(control.sessionReused, true, 'the server would resume this session');
  policy.update(await otherPinConfig());
  const before = good.bytesReceived();
  const error = await exchange(pinnedTlsOptions(policy, target(good, { session: first.session }))).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(good.bytesReceived(), before);
});

test('G3: rejectUnauthorized:false and NODE_TLS_REJECT_UNAUTHORIZED=0 change nothing', T, async (t) => {
  const rogue = await tlsServer(t, rogueChain);
  const policy = createPolicy({ ca: [pki.root.pem], hosts: { 'api.example.test': { pins: [pki.intermediate.pin] } } });
  await withEnv({ NODE_TLS_REJECT_UNAUTHORIZED: '0' }, async () => {
    const control = await exchange(target(rogue));
    assert.equal(control.reply, 'pong', 'the variable is in effect for a plain client');
    const before = rogue.bytesReceived();
    const options = pinnedTlsOptions(policy, target(rogue, { rejectUnauthorized: false, checkServerIdentity: () => undefined }));
    assert.equal(options.rejectUnauthorized, true);
    const error = await exchange(options).then(() => null, (e) => e);
    assert.equal(error?.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    assert.equal(rogue.bytesReceived(), before);
  });
});

test('G5: a TLS 1.2 server that renegotiates is cut off', T, async (t) => {
  const outcomes = [];
  const server = await tlsServer(t, goodChain, {
    maxVersion: 'TLSv1.2',
    onConnection: (socket) => socket.once('data', () => socket.renegotiate({}, (err) => {
      outcomes.push(err ? 'failed' : 'done');
      if (!err) socket.end('renegotiated');
    })),
  });
  const control = await exchange({ ...target(server), ca: pki.root.pem });
  assert.equal(control.reply, 'renegotiated', 'a plain client lets the server renegotiate');
  const policy = createPolicy(await pinConfig());
  const error = await exchange(pinnedTlsOptions(policy, target(server))).then(() => null, (e) => e);
  assert.ok(error, 'the pinned connection must fail');
  assert.deepEqual(outcomes, ['done']);
});

async function h2Server(t, cert) {
  const counts = { tcp: 0, handshakes: 0, streams: 0 };
  const server = http2.createSecureServer({ key: cert[0].keyPem, cert: cert.map((c) => c.pem).join('') });
  server.on('connection', () => { counts.tcp++; });
  server.on('secureConnection', () => { counts.handshakes++; });
  server.on('stream', (stream) => { counts.streams++; stream.respond({ ':status': 200 }); stream.end('h2 ok'); });
  const sessions = new Set();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { for (const s of sessions) s.destroy(); server.close(resolve); }));
  return { port: server.address().port, counts };
}

function h2Get(authority, options) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(authority, options);
    session.on('error', (e) => { session.destroy(); reject(e); });
    const req = session.request({ ':path': '/', ':method': 'POST', authorization: SECRET.headers.authorization });
    req.end(SECRET.body);
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { session.close(); resolve(body); });
    req.on('error', () => {});
  });
}

test('http2.connect: pinned server accepted, a server with other pins never completes a handshake nor gets a stream', T, async (t) => {
  const good = await h2Server(t, goodChain);
  const rogue = await h2Server(t, rogueChain);
  const policy = createPolicy(await pinConfig());
  assert.equal(await h2Get(`https://localhost:${good.port}`, pinnedTlsOptions(policy, { host: '127.0.0.1' })), 'h2 ok');
  const error = await h2Get(`https://localhost:${rogue.port}`, pinnedTlsOptions(policy, { host: '127.0.0.1' })).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(good.counts.streams, 1);
  assert.ok(rogue.counts.tcp >= 1, 'the client reached the rogue server');
  // The client aborted before finishing its side of the handshake: the server cannot have decrypted any
  // application byte, and received no stream.
  assert.equal(rogue.counts.handshakes, 0);
  assert.equal(rogue.counts.streams, 0);
});

test('G3: with a policy ca, a caller secureContext trusting another root does not widen the trust store', T, async (t) => {
  const rogue = await tlsServer(t, rogueChain);
  // Only the test root is trusted, and the host is not pinned: standard validation against that root.
  const policy = createPolicy({ ca: pki.root.pem, hosts: {} });
  const widened = tls.createSecureContext({ ca: [pki.root.pem, pki.rogueRoot.pem] });
  const control = await exchange({ ...target(rogue), secureContext: widened });
  assert.equal(control.reply, 'pong', 'the widened context alone accepts the rogue server');
  const before = rogue.bytesReceived();
  const error = await exchange(pinnedTlsOptions(policy, target(rogue, { secureContext: widened }))).then(() => null, (e) => e);
  assert.ok(error, 'the rogue server was accepted');
  assert.match(String(error.code), /UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
  assert.equal(rogue.bytesReceived(), before);
});

test('docs/guarantees.md C4: tls.connect with the host of pinned api.example.test and the servername of unpinned other.test meets the pins of both', T, async (t) => {
  const other = await startTlsServer({ ...(await otherHostCredentials()), onConnection: (socket) => socket.on('data', () => socket.end('pong')) });
  t.after(() => other.close());
  const options = { host: 'api.example.test', port: other.port, servername: 'other.test', lookup: lookupLoopback };
  const control = await exchange({ ...options, ca: [pki.root.pem, pki.rogueRoot.pem] });
  assert.equal(control.reply, 'pong', 'an unpinned client sends its bytes to other.test');
  const before = other.bytesReceived();
  const error = await exchange(pinnedTlsOptions(createPolicy(await pinConfig()), options)).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(error.hostname, 'api.example.test');
  assert.equal(other.bytesReceived(), before);
});

test('a createConnection of the caller is refused: http2.connect would use it and skip the check', T, async () => {
  const policy = createPolicy(await pinConfig());
  assert.throws(() => pinnedTlsOptions(policy, { createConnection: () => tls.connect({ host: '127.0.0.1', port: 1 }) }), {
    name: 'TypeError', message: /createConnection is not supported/,
  });
  assert.throws(() => http2.connect('http://localhost:1', pinnedTlsOptions(policy)), { name: 'TypeError', message: /http: has no TLS to pin/ });
});

test('http2.connect: the servername of an unpinned host does not escape the pins of the authority', T, async (t) => {
  const creds = await otherHostCredentials();
  const server = http2.createSecureServer({ key: creds.key, cert: creds.cert.join('') });
  let streams = 0;
  server.on('stream', (stream) => { streams++; stream.respond({ ':status': 200 }); stream.end('h2 ok'); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const authority = `https://api.example.test:${server.address().port}`;
  const options = { servername: 'other.test', lookup: lookupLoopback };
  assert.equal(await h2Get(authority, { ...options, ca: [pki.root.pem, pki.rogueRoot.pem] }), 'h2 ok', 'control: an unpinned client sends the stream');
  const error = await h2Get(authority, pinnedTlsOptions(createPolicy(await pinConfig()), options)).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(streams, 1, 'the pinned stream never reached the server');
});

test('G2: an HTTP/2 session survives an update that keeps its pin and is closed by one that revokes it', T, async (t) => {
  const server = await h2Server(t, goodChain);
  const received = [];
  const policy = createPolicy(await pinConfig());
  const session = http2.connect(`https://localhost:${server.port}`, pinnedTlsOptions(policy, { host: '127.0.0.1' }));
  session.on('error', () => {});
  t.after(() => session.destroy());
  const get = (path) => new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, authorization: SECRET.headers.authorization });
    req.end();
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { received.push(path); resolve(body); });
    req.on('error', reject);
  });
  assert.equal(await get('/one'), 'h2 ok');
  const socket = session.socket;

  policy.update({ ...(await pinConfig()), hosts: { ...(await pinConfig()).hosts, 'new.example.test': { pins: [pki.intermediate2.pin] } } });
  assert.equal(await get('/two'), 'h2 ok', 'the session survived an update that keeps its pin');
  assert.equal(server.counts.handshakes, 1, 'on the same connection');
  assert.equal(session.destroyed, false);

  const closed = new Promise((resolve) => session.once('close', resolve));
  policy.update(await otherPinConfig());
  assert.equal(socket.destroyed, true, 'the update closed the session\'s socket');
  await closed;
  // Node 20 throws ERR_HTTP2_INVALID_SESSION; Node 24 fails the stream.
  const third = await new Promise((resolve) => {
    try {
      const req = session.request({ ':path': '/three' });
      req.on('error', resolve);
      req.on('response', () => resolve(null));
      req.end();
    } catch (error) {
      resolve(error);
    }
  });
  assert.ok(third instanceof Error, 'the next request reaches nobody');
  assert.equal(server.counts.streams, 2);
  assert.deepEqual(received, ['/one', '/two']);
});
