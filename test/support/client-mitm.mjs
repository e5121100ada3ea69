// A TLS-terminating man-in-the-middle that speaks HTTP/1.1 and HTTP/2, for the client tests (got,
// axios, ws). It ends TLS with the certificate it is given (a rogue chain from a root the client
// trusts), counts every decrypted application byte (bytesReceived), and hands the plaintext to a
// backend that answers: an HTTP/2 (h2c) server when ALPN chose h2, an HTTP/1.1 server otherwise, both
// recording each request (method, url, headers, body) and answering through `handler`.
import { connect } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createH2cServer } from 'node:http2';
import { startTlsServer } from './servers.mjs';

async function listenLoopback(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  return server.address().port;
}

/**
 * `cert`: the chain to present (PKI entries, leaf first). `handler(req, res, body)` answers every
 * request (default: 200 `ok`); `upgrade(req, socket, head)` handles HTTP/1.1 upgrades (WebSockets).
 * Returns `{ port, url, requests, bytesReceived(), connections(), h1, h2, close() }`.
 */
export async function startHttpMitm({ cert, handler = (_req, res) => res.end('ok'), upgrade } = {}) {
  const requests = [];
  const record = (protocol) => (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ protocol, method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const h1 = createHttpServer(record('http/1.1'));
  if (upgrade) h1.on('upgrade', (req, socket, head) => {
    requests.push({ protocol: 'http/1.1', method: req.method, url: req.url, headers: req.headers, body: '', upgrade: true });
    upgrade(req, socket, head);
  });
  const h2 = createH2cServer(record('h2'));
  const backendSockets = new Set();
  for (const server of [h1, h2]) server.on('connection', (socket) => {
    backendSockets.add(socket);
    socket.on('close', () => backendSockets.delete(socket));
  });
  const h1Port = await listenLoopback(h1);
  const h2Port = await listenLoopback(h2);
  const perConnection = [];
  const front = await startTlsServer({
    cert,
    ALPNProtocols: ['h2', 'http/1.1'],
    onConnection(socket) {
      const counter = { bytes: 0 };
      perConnection.push(counter);
      socket.on('data', (chunk) => { counter.bytes += chunk.length; });
      const backend = connect({ host: '127.0.0.1', port: socket.alpnProtocol === 'h2' ? h2Port : h1Port });
      backend.on('error', () => socket.destroy());
      socket.on('close', () => backend.destroy());
      backend.on('close', () => socket.destroy());
      socket.pipe(backend).pipe(socket);
    },
  });
  return {
    port: front.port,
    url: `https://127.0.0.1:${front.port}/`,
    requests,
    /** Decrypted application bytes the clients sent (request lines, headers, bodies, HTTP/2 frames). */
    bytesReceived: front.bytesReceived,
    /** A mark for bytesSince(): the number of TLS connections so far. */
    mark: () => perConnection.length,
    /**
     * Decrypted application bytes received on the TLS connections made after `mark`: what a client sent
     * on new connections, leaving out the control frames (SETTINGS ACK, GOAWAY) an older HTTP/2 session
     * may still send.
     */
    bytesSince: (mark) => perConnection.slice(mark).reduce((sum, c) => sum + c.bytes, 0),
    /** TCP connections accepted (a TLS handshake that a pinned client aborts still counts). */
    connections: front.connections,
    async close() {
      for (const socket of backendSockets) socket.destroy();
      h2.close();
      await Promise.all([front.close(), new Promise((resolve) => h1.close(resolve))]);
    },
  };
}

/**
 * The real origin (the test PKI's leaf and intermediate, answering with `handler`) and a
 * man-in-the-middle holding a certificate from the trusted rogue CA, both closed after the test `t`.
 */
export async function startOriginAndMitm(t, pki, handler) {
  const origin = await startHttpMitm({ cert: [pki.leaf, pki.intermediate], handler });
  const mitm = await startHttpMitm({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  t.after(() => Promise.all([origin.close(), mitm.close()]));
  return { origin, mitm };
}
