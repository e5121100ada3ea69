// The servers the README examples talk to, on 127.0.0.1 (readme-preload.mjs routes the examples'
// api.example.com and reports.example.net there):
// - the genuine api.example.com: a certificate from the test intermediate, HTTP/1.1, HTTP/2 and
//   WebSocket (echo) on one port;
// - reports.example.net: a violation report collector (certpin's own handler) over HTTPS;
// - a TLS-intercepting MITM for api.example.com, as a corporate inspection proxy is: a certificate for
//   the same name from the rogue root (which the test machine trusts, like a pushed corporate root),
//   relaying to the genuine site. It counts every decrypted byte a client sends it.
import { generateKeyPairSync } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { WebSocketServer } from 'ws';
import { createCertificate } from '../../build/src/lib/x509.js';
import { createCollector } from '../../build/src/index.js';
import { chainPem, makePki } from './pki.mjs';
import { listenTracked } from './servers.mjs';

const HOST = '127.0.0.1';

function issue(issuer, dnsName) {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const { pem } = createCertificate({
    subject: `CN=${dnsName}`,
    publicKey: key,
    issuer: { subject: issuer.subject, privateKey: issuer.key },
    dnsNames: [dnsName],
  });
  return { key: key.export({ type: 'pkcs8', format: 'pem' }), cert: chainPem(pem, issuer) };
}

/** Listens on 127.0.0.1 with its sockets tracked (listenTracked); a TLS socket's errors are its client's. */
function listen(server, options) {
  server.on('secureConnection', (socket) => socket.on('error', () => {}));
  return listenTracked(server, options);
}

async function startSite(credentials) {
  const requests = [];
  const server = createSecureServer({ ...credentials, allowHTTP1: true }, (req, res) => {
    requests.push({ httpVersion: req.httpVersion, method: req.method, path: req.url });
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ user: 'ada', path: req.url }));
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
  const handle = await listen(server);
  return {
    ...handle,
    requests,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await handle.close();
    },
  };
}

async function startReportCollector(credentials) {
  const collector = createCollector();
  const handle = await listen(createHttpsServer(credentials, collector.handler));
  return { ...handle, reports: () => collector.accepted };
}

/** A TLS-terminating MITM relaying to `upstreamPort`; `bytesReceived()` counts decrypted client bytes. */
async function startMitm(credentials, upstreamPort, upstreamCa) {
  const server = createTlsServer({ ...credentials, ALPNProtocols: ['h2', 'http/1.1'] }, (client) => {
    const alpn = client.alpnProtocol || undefined;
    const upstream = tlsConnect({ host: HOST, port: upstreamPort, servername: 'api.example.com', ca: upstreamCa, ...(alpn ? { ALPNProtocols: [alpn] } : {}) });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  // connections() counts TCP connections: a client that refuses the certificate may close before the
  // TLS server sees the handshake end.
  return listen(server, { countBytesOf: (s, count) => s.on('secureConnection', count) });
}

/**
 * Starts the three servers. Returns `{ site, collector, mitm, pki, extraCa, routes(target), close() }`:
 * `routes('site' | 'mitm')` is the CERTPIN_README_ROUTES value sending api.example.com:443 to the
 * genuine site or to the MITM (reports.example.net:443 always goes to the collector); `extraCa` is the
 * PEM for NODE_EXTRA_CA_CERTS: the test root and the rogue root, both trusted by the machine.
 */
export async function startReadmeServers() {
  const pki = await makePki();
  const site = await startSite(issue(pki.intermediate, 'api.example.com'));
  const collector = await startReportCollector(issue(pki.intermediate, 'reports.example.net'));
  const mitm = await startMitm(issue(pki.rogueIntermediate, 'api.example.com'), site.port, pki.root.pem);
  return {
    pki,
    site,
    collector,
    mitm,
    extraCa: chainPem(pki.root, pki.rogueRoot),
    routes: (target) => JSON.stringify({
      'api.example.com:443': target === 'mitm' ? mitm.port : site.port,
      'reports.example.net:443': collector.port,
    }),
    close: () => Promise.all([site.close(), collector.close(), mitm.close()]),
  };
}
