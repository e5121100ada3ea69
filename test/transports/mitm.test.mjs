// Real attacks with mitmproxy: its CA is trusted by the client (a corporate inspection root, or one
// an attacker got installed). Pinned clients refuse the interception; unpinned clients with the same
// trust store are fooled, which proves each attack is real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, ProxyAgent, fetch as undiciFetch, request } from 'undici';
import { createPolicy, pinnedAgent, pinnedDispatcher, pinnedFetch } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { startMitmdump } from '../support/proxies.mjs';
import { httpsRequest, lookupLoopback, SECRET } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 90_000 };
const postInit = { method: 'POST', headers: SECRET.headers, body: SECRET.body };

function policyTrusting(mitmCa) {
  const pins = [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];
  return createPolicy({ ca: [pki.root.pem, mitmCa], hosts: { '127.0.0.1': { pins }, 'api.example.test': { pins } } });
}

async function origin(t) {
  const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());
  return server;
}

test('mitmproxy as the corporate CONNECT proxy (TLS inspection): pinned client refuses, unpinned client is fooled', T, async (t) => {
  const server = await origin(t);
  const dir = await mkdtemp(join(tmpdir(), 'certpin-mitm-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const rootFile = join(dir, 'root.pem');
  await writeFile(rootFile, pki.root.pem);
  const mitm = await startMitmdump({ mode: 'regular', upstreamCa: rootFile });
  t.after(() => mitm.stop());
  const url = `https://127.0.0.1:${server.port}/login`;

  const unpinned = new ProxyAgent({ uri: mitm.url, requestTls: { ca: [pki.root.pem, mitm.caPem] } });
  t.after(() => unpinned.destroy());
  const fooled = await request(url, { dispatcher: unpinned, ...postInit });
  assert.equal(fooled.statusCode, 200);
  assert.equal(await fooled.body.text(), 'ok');
  assert.equal(server.requests.length, 1, 'the unpinned request went through the interception to the server');
  assert.equal(server.requests[0].headers.authorization, SECRET.headers.authorization, 'and the proxy saw the token');

  const policy = policyTrusting(mitm.caPem);
  const dispatcher = pinnedDispatcher(policy, { proxy: mitm.url });
  t.after(() => dispatcher.destroy());
  const before = server.bytesReceived();
  const error = await request(url, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH', `mitmproxy said:\n${mitm.output()}`);
  assert.ok(error.peerPins.every((p) => p.pin !== pki.intermediate.pin), 'the chain is mitmproxy\'s');
  assert.equal(server.bytesReceived(), before, 'no byte of the pinned request reached the server');
  assert.equal(server.requests.length, 1);
});

test('mitmproxy as a reverse proxy after a DNS hijack: pinned clients refuse, unpinned clients are fooled', T, async (t) => {
  const server = await origin(t);
  const mitm = await startMitmdump({ mode: `reverse:https://127.0.0.1:${server.port}` });
  t.after(() => mitm.stop());
  // DNS says api.example.test is the attacker's box: here, mitmdump's port on loopback.
  const url = `https://api.example.test:${mitm.port}/login`;
  const trust = [pki.root.pem, mitm.caPem];

  const fooledHttps = await httpsRequest(url, { ca: trust, lookup: lookupLoopback, agent: false, method: 'POST', headers: SECRET.headers }, SECRET.body);
  assert.equal(fooledHttps.status, 200);
  const plainAgent = new Agent({ connect: { ca: trust, lookup: lookupLoopback } });
  t.after(() => plainAgent.destroy());
  const fooledFetch = await undiciFetch(url, { dispatcher: plainAgent, ...postInit });
  assert.equal(fooledFetch.status, 200);
  assert.equal(await fooledFetch.text(), 'ok');
  assert.equal(server.requests.length, 2, 'both unpinned requests reached the server through the attacker');

  const policy = policyTrusting(mitm.caPem);
  const before = server.bytesReceived();
  const agent = pinnedAgent(policy);
  t.after(() => agent.destroy());
  const agentError = await httpsRequest(url, { agent, lookup: lookupLoopback, method: 'POST', headers: SECRET.headers }, SECRET.body).then(() => null, (e) => e);
  assert.equal(agentError?.code, 'ERR_CERTPIN_MISMATCH', `mitmproxy said:\n${mitm.output()}`);
  const fetch = pinnedFetch(policy, { connect: { lookup: lookupLoopback } });
  t.after(() => fetch.dispatcher.destroy());
  const fetchError = await fetch(url, postInit).then(() => null, (e) => e);
  assert.equal(fetchError?.cause?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(server.bytesReceived(), before, 'no byte of the pinned requests reached the server');
  assert.equal(server.requests.length, 2);
});

test('mitmproxy: connections made while the host was unpinned are closed by the update that pins it', T, async (t) => {
  const server = await origin(t);
  const mitm = await startMitmdump({ mode: `reverse:https://127.0.0.1:${server.port}` });
  t.after(() => mitm.stop());
  const url = `https://api.example.test:${mitm.port}/login`;
  const trust = [pki.root.pem, mitm.caPem];
  const policy = createPolicy({ ca: trust, hosts: {} }); // api.example.test is not pinned yet
  const agent = pinnedAgent(policy);
  t.after(() => agent.destroy());
  const dispatcher = pinnedDispatcher(policy, { connect: { lookup: lookupLoopback } });
  t.after(() => dispatcher.destroy());

  // The control: unpinned, both clients reach the server through the attacker and keep the connection.
  let pooled;
  const first = await httpsRequest(url, { agent, lookup: lookupLoopback, method: 'POST', headers: SECRET.headers, onRequest: (req) => req.once('socket', (s) => { pooled = s; }) }, SECRET.body);
  assert.equal(first.status, 200);
  const viaUndici = await request(url, { dispatcher, ...postInit });
  assert.equal(viaUndici.statusCode, 200);
  await viaUndici.body.text();
  assert.equal(server.requests.length, 2, `both requests went through the attacker:\n${mitm.output()}`);

  const undiciClosed = new Promise((resolve) => dispatcher.once('disconnect', resolve));
  const pins = [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];
  policy.update({ ca: trust, hosts: { 'api.example.test': { pins } } });
  assert.equal(pooled.destroyed, true, 'the pooled socket through the attacker was closed by the update');
  await undiciClosed;

  const before = server.bytesReceived();
  const agentError = await httpsRequest(url, { agent, lookup: lookupLoopback, method: 'POST', headers: SECRET.headers }, SECRET.body).then(() => null, (e) => e);
  assert.equal(agentError?.code, 'ERR_CERTPIN_MISMATCH');
  const undiciError = await request(url, { dispatcher, ...postInit }).then(() => null, (e) => e);
  assert.equal(undiciError?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(server.bytesReceived(), before, 'no byte went through the attacker after the update');
  assert.equal(server.requests.length, 2);
});
