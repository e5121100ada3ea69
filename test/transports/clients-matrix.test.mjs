// The README's "Clients and modes" table, checked two ways. First against real attacks that cut
// across the clients: mitmproxy as the TLS-inspecting corporate proxy that HTTPS_PROXY names (its CA
// trusted by the client), through which every pinned client that follows the environment refuses to
// talk (the origin behind it gets zero bytes) while a client without certpin is fooled; and undici's
// HTTP/2 (allowH2) against an h2 MITM. Then the table itself: every client row has a cell per mode,
// every refusal names a real error code, and every test file it cites exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import got from 'got';
import WebSocket from 'ws';
import { Agent as UndiciAgent, request as undiciRequest } from 'undici';
import { createPolicy, pinnedAgent, pinnedAxiosConfig, pinnedDispatcher, pinnedFetch, pinnedGotOptions, pinnedProxyAgent } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpMitm } from '../support/client-mitm.mjs';
import { startMitmdump } from '../support/proxies.mjs';
import { Worker } from 'node:worker_threads';
import { httpsRequest, pinConfig, SECRET, withEnv } from '../support/transport-fixtures.mjs';

const pki = await makePki();
const T = { timeout: 120_000 };
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLEAN_ENV = { HTTPS_PROXY: undefined, https_proxy: undefined, HTTP_PROXY: undefined, http_proxy: undefined, ALL_PROXY: undefined, all_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined };

function policyTrusting(extraCa) {
  const pins = [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];
  return createPolicy({ ca: [pki.root.pem, extraCa], hosts: { '127.0.0.1': { pins }, 'api.example.test': { pins } } });
}

function codeOf(error) {
  for (let e = error; e; e = e.cause) if (typeof e.code === 'string' && e.code.startsWith('ERR_CERTPIN_')) return e.code;
  return error?.code;
}

const refusal = (promise) => promise.then(() => null, (error) => error);

function wsOpen(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: SECRET.headers.authorization }, ...options });
    ws.once('upgrade', () => { ws.terminate(); resolve('upgraded'); });
    ws.once('unexpected-response', (_req, res) => { ws.terminate(); resolve(res.statusCode); });
    ws.once('error', reject);
  });
}

test('mitmproxy as the HTTPS_PROXY TLS-inspection box: a client without certpin is fooled; axios, got (h1, h2), node:https, ws and fetch pinned from the environment all refuse, the origin gets zero bytes', T, async (t) => {
  const origin = await startHttpMitm({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => origin.close());
  const dir = await mkdtemp(join(tmpdir(), 'certpin-matrix-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'root.pem'), pki.root.pem);
  const mitm = await startMitmdump({ mode: 'regular', upstreamCa: join(dir, 'root.pem') });
  t.after(() => mitm.stop());
  const policy = policyTrusting(mitm.caPem);
  const url = `https://127.0.0.1:${origin.port}/login`;
  const post = { method: 'POST', headers: SECRET.headers };

  await withEnv({ ...CLEAN_ENV, HTTPS_PROXY: mitm.url }, async () => {
    // The control: axios as the README used to show it (a pinned agent, HTTPS_PROXY set).
    const bare = pinnedAgent(policy, { ca: [pki.root.pem, mitm.caPem] });
    t.after(() => bare.destroy());
    const fooled = await axios({ ...post, url, data: SECRET.body, httpsAgent: bare });
    assert.equal(fooled.status, 200, `mitmproxy said:\n${mitm.output()}`);
    assert.equal(origin.requests.length, 1, 'the intercepted request reached the origin');
    assert.equal(origin.requests[0].headers.authorization, SECRET.headers.authorization, 'through the proxy, which read it');

    const bytes = origin.bytesReceived();
    const axiosConfig = pinnedAxiosConfig(policy, axios);
    const gotOptions = pinnedGotOptions(policy, { proxy: 'env' });
    const agent = pinnedProxyAgent(policy, 'env');
    const fetch = pinnedFetch(policy, { proxy: 'env' });
    t.after(() => {
      axiosConfig.httpsAgent.destroy();
      gotOptions.agent.https.destroy();
      gotOptions.agent.http2.destroy();
      agent.destroy();
      return fetch.dispatcher.destroy();
    });
    const attempts = {
      axios: refusal(axios.create(axiosConfig)({ ...post, url, data: SECRET.body })),
      'got HTTP/1.1': refusal(got.extend(gotOptions)(url, { ...post, body: SECRET.body, retry: { limit: 0 } })),
      'got HTTP/2': refusal(got.extend(gotOptions)(url, { ...post, body: SECRET.body, http2: true, retry: { limit: 0 } })),
      'node:https': refusal(httpsRequest(url, { ...post, agent }, SECRET.body)),
      ws: refusal(wsOpen(`wss://127.0.0.1:${origin.port}/`, { agent })),
      fetch: refusal(fetch(url, { ...post, body: SECRET.body })),
    };
    for (const [client, attempt] of Object.entries(attempts)) {
      const error = await attempt;
      assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', `${client}: ${error?.stack ?? error}\nmitmproxy said:\n${mitm.output()}`);
    }
    assert.equal(origin.bytesReceived(), bytes, 'no byte of a pinned request reached the origin through the inspection proxy');
    assert.equal(origin.requests.length, 1);
  });
});

test('undici allowH2 against an h2 MITM from a trusted root: the plain agent is fooled over HTTP/2, pinnedDispatcher refuses with zero bytes', T, async (t) => {
  const origin = await startHttpMitm({ cert: [pki.leaf, pki.intermediate] });
  const mitm = await startHttpMitm({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  t.after(() => Promise.all([origin.close(), mitm.close()]));
  const plain = new UndiciAgent({ allowH2: true, connect: { ca: [pki.root.pem, pki.rogueRoot.pem] } });
  t.after(() => plain.destroy());
  const fooled = await undiciRequest(mitm.url, { dispatcher: plain, method: 'POST', headers: SECRET.headers, body: SECRET.body });
  await fooled.body.text();
  assert.equal(mitm.requests[0].protocol, 'h2');
  assert.equal(mitm.requests[0].body, SECRET.body);

  const dispatcher = pinnedDispatcher(policyTrusting(pki.rogueRoot.pem), { allowH2: true });
  t.after(() => dispatcher.destroy());
  const mark = mitm.mark();
  const error = await refusal(undiciRequest(mitm.url, { dispatcher, method: 'POST', headers: SECRET.headers, body: SECRET.body }));
  assert.equal(codeOf(error), 'ERR_CERTPIN_MISMATCH', String(error));
  assert.equal(mitm.bytesSince(mark), 0);
  assert.equal(mitm.requests.length, 1);
  const ok = await undiciRequest(origin.url, { dispatcher });
  await ok.body.text();
  assert.equal(origin.requests[0].protocol, 'h2');
});

// Runs in a worker: builds a policy from workerData.config and POSTs the secret through a pinned agent.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const https = require('node:https');
import(workerData.certpin).then(({ createPolicy, pinnedAgent }) => {
  const agent = pinnedAgent(createPolicy(workerData.config));
  const done = (outcome) => { agent.destroy(); parentPort.postMessage(outcome); };
  https.request({ host: '127.0.0.1', port: workerData.port, path: '/login', method: 'POST', agent, headers: workerData.headers }, (res) => {
    res.resume().on('end', () => done(String(res.statusCode)));
  }).on('error', (error) => done(error.code)).end(workerData.body);
});
`;

function inWorker(config, port) {
  const certpin = new URL('../../build/src/index.js', import.meta.url).href;
  const worker = new Worker(WORKER, { eval: true, workerData: { certpin, config, port, headers: SECRET.headers, body: SECRET.body } });
  return new Promise((resolve, reject) => {
    worker.once('message', (outcome) => worker.terminate().then(() => resolve(outcome)));
    worker.once('error', reject);
  });
}

test('worker threads, library setup: a worker that builds its own policy and pinned agent is pinned like the main thread (the unpinned control is fooled)', T, async (t) => {
  const mitm = await startHttpMitm({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  t.after(() => mitm.close());
  const config = await pinConfig();
  assert.equal(await inWorker({ ca: config.ca, hosts: {} }, mitm.port), '200');
  assert.equal(mitm.requests[0].headers.authorization, SECRET.headers.authorization, 'the unpinned worker reached the attacker');
  const mark = mitm.mark();
  assert.equal(await inWorker(config, mitm.port), 'ERR_CERTPIN_MISMATCH');
  assert.equal(mitm.bytesSince(mark), 0);
  assert.equal(mitm.requests.length, 1);
});

test('the README "Clients and modes" table: a cell for every mode of every client, refusals with real codes, cited tests that exist', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Clients and modes');
  assert.notEqual(start, -1, 'the README has the section');
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
  const rows = section.split('\n').filter((line) => line.startsWith('| ')).map((line) => line.slice(2, -2).split(' | '));
  const [header, ...clients] = rows;
  assert.deepEqual(header, ['client (certpin call)', 'HTTP/1.1', 'HTTP/2', 'proxy option', 'proxy from the environment', 'redirects', 'worker threads ¹', 'open connection after an update ²']);
  const names = clients.map((row) => row[0]);
  for (const client of ['node:https', 'undici / fetch', 'tls', 'http2', 'axios', 'got', 'ws']) {
    assert.ok(names.some((name) => name.startsWith(client)), `a row for ${client}`);
  }
  const codes = readFileSync(join(ROOT, 'src', 'errors.ts'), 'utf8');
  for (const row of clients) {
    assert.equal(row.length, header.length, `${row[0]}: one cell per mode`);
    for (const [i, cell] of row.entries()) {
      assert.match(cell, /pinned|refused|n\/a|as node:https|as got|G2|never reused/, `${row[0]} / ${header[i]}: says what happens`);
      for (const [, code] of cell.matchAll(/refused with `(\w+)`/g)) assert.ok(codes.includes(`'${code}'`), `${code} is a CertpinError code`);
    }
  }
  const cited = [...section.matchAll(/`(test\/[\w/.-]+\.test\.mjs)`/g)].map((m) => m[1]);
  assert.ok(cited.length >= 8);
  for (const file of cited) assert.ok(existsSync(join(ROOT, file)), `${file} exists`);
  for (const client of ['node:https', 'undici / fetch', 'tls and http2', 'axios', 'got', 'ws']) {
    assert.match(section, new RegExp(`${client.replace(/[/.]/g, '\\$&')}:\\s+\`test/`), `the tests of ${client} are named`);
  }
});
