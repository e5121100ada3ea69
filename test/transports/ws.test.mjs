// ws (WebSockets) against a man-in-the-middle whose certificate comes from a root the client trusts:
// directly with pinnedAgent, through a CONNECT proxy with pinnedProxyAgent, and across a redirect
// (followRedirects). The control (ws with the same trust and no pins) is fooled each time; pinned,
// the attacker gets zero application bytes (no upgrade request, no Authorization header).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { createPolicy, pinnedAgent, pinnedProxyAgent } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpMitm } from '../support/client-mitm.mjs';
import { startTinyproxy } from '../support/proxies.mjs';
import { lookupLoopback, pinConfig, SECRET } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 60_000 };
const trust = [pki.root.pem, pki.rogueRoot.pem];

async function wsServer(t, cert, upgrade) {
  const wss = new WebSocketServer({ noServer: true });
  const server = await startHttpMitm({
    cert,
    upgrade: upgrade ?? ((req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send('hello'))),
  });
  t.after(() => { for (const client of wss.clients) client.terminate(); wss.close(); return server.close(); });
  return server;
}

/** Resolves the first message, or rejects with the connection's error. */
function firstMessage(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: SECRET.headers.authorization }, ...options });
    ws.once('message', (data) => { resolve(String(data)); ws.terminate(); });
    ws.once('error', reject);
  });
}

const failure = (promise) => promise.then((message) => assert.fail(`expected a refusal, got ${message}`), (error) => error);

test('ws: the control is fooled by the trusted-root MITM; through pinnedAgent the attacker gets no upgrade request, the real server works', T, async (t) => {
  const origin = await wsServer(t, [pki.leaf, pki.intermediate]);
  const mitm = await wsServer(t, [pki.rogueLeaf, pki.rogueIntermediate]);
  const wss = `wss://127.0.0.1:${mitm.port}/stream`;
  assert.equal(await firstMessage(wss, { ca: trust }), 'hello');
  assert.equal(mitm.requests[0].headers.authorization, SECRET.headers.authorization, 'the control reached the attacker');

  const agent = pinnedAgent(createPolicy(await pinConfig()));
  t.after(() => agent.destroy());
  const mark = mitm.mark();
  const error = await failure(firstMessage(wss, { agent, rejectUnauthorized: false }));
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(mitm.bytesSince(mark), 0, 'no application byte reached the attacker');
  assert.equal(mitm.requests.length, 1);
  assert.equal(await firstMessage(`wss://127.0.0.1:${origin.port}/stream`, { agent }), 'hello');
});

test('ws through a CONNECT proxy (pinnedProxyAgent): pins apply to the origin inside the tunnel (G4)', T, async (t) => {
  const origin = await wsServer(t, [pki.leaf, pki.intermediate]);
  const mitm = await wsServer(t, [pki.rogueLeaf, pki.rogueIntermediate]);
  const proxy = await startTinyproxy();
  t.after(() => proxy.stop());
  const plain = pinnedProxyAgent(createPolicy({ ca: trust, hosts: {} }), proxy.url);
  t.after(() => plain.destroy());
  assert.equal(await firstMessage(`wss://127.0.0.1:${mitm.port}/`, { agent: plain }), 'hello', 'the control: no pins for the host, the tunnel reaches the attacker');
  assert.equal(mitm.requests.length, 1);

  const agent = pinnedProxyAgent(createPolicy(await pinConfig()), proxy.url);
  t.after(() => agent.destroy());
  const mark = mitm.mark();
  const error = await failure(firstMessage(`wss://127.0.0.1:${mitm.port}/`, { agent }));
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(mitm.bytesSince(mark), 0);
  assert.equal(mitm.requests.length, 1);
  assert.equal(await firstMessage(`wss://127.0.0.1:${origin.port}/`, { agent }), 'hello');
  assert.match(await proxy.log(), new RegExp(`127\\.0\\.0\\.1:${origin.port}`), 'the pinned connection went through the proxy');
});

test('ws followRedirects: a redirect to the attacker is followed by the control; with pinnedAgent the next hop is checked and gets zero bytes (G6)', T, async (t) => {
  const mitm = await wsServer(t, [pki.rogueLeaf, pki.rogueIntermediate]);
  const redirect = await wsServer(t, [pki.leaf, pki.intermediate], (_req, socket) => {
    socket.end(`HTTP/1.1 307 Temporary Redirect\r\nLocation: wss://api.example.test:${mitm.port}/next\r\nContent-Length: 0\r\n\r\n`);
  });
  const url = `wss://127.0.0.1:${redirect.port}/`;
  assert.equal(await firstMessage(url, { ca: trust, followRedirects: true, lookup: lookupLoopback }), 'hello');
  assert.equal(mitm.requests.length, 1, 'the control followed the redirect to the attacker');

  const agent = pinnedAgent(createPolicy(await pinConfig()));
  t.after(() => agent.destroy());
  const mark = mitm.mark();
  const error = await failure(firstMessage(url, { agent, followRedirects: true, lookup: lookupLoopback }));
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(redirect.requests.length, 2, 'the pinned server got the first request');
  assert.equal(mitm.bytesSince(mark), 0);
  assert.equal(mitm.requests.length, 1);
});
