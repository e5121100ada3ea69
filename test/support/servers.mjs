// Real servers on 127.0.0.1, port 0, for transport tests. Each counts the application bytes clients
// send, so a test can prove that a pinned client sent nothing to a server it rejected. close() destroys
// every open socket, so a test that registers it with t.after() never leaves a handle behind.
import { createServer as createTcpServer } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer } from 'node:tls';
import { KeyObject } from 'node:crypto';

const HOST = '127.0.0.1';

const isEntry = (value) => typeof value === 'object' && value !== null && 'keyPem' in value;

function keyPemOf(key) {
  if (key instanceof KeyObject) return key.export({ type: 'pkcs8', format: 'pem' });
  return isEntry(key) ? key.keyPem : key;
}

/**
 * `cert`: a PEM string or PKI entry, or an array of them (leaf first) served as the chain. `key`: PEM,
 * a private KeyObject or a PKI entry; defaults to the key of `cert`'s first entry.
 */
function credentials({ key, cert, ...options }) {
  const chain = Array.isArray(cert) ? cert : [cert];
  const privateKey = key ?? (isEntry(chain[0]) ? chain[0] : undefined);
  if (privateKey === undefined || chain[0] === undefined) throw new TypeError('a test server needs cert (and key unless cert is a PKI entry)');
  const pem = chain.map((c) => String(isEntry(c) ? c.pem : c).trim()).join('\n');
  return { ...options, key: keyPemOf(privateKey), cert: `${pem}\n` };
}

/**
 * Listens on `host`:`port` (default 127.0.0.1, any free port) and keeps track of the server's sockets:
 * returns `{ server, host, port, bytesReceived(), connections(), close() }`, where close() also destroys
 * every open socket. `countBytesOf(server, count)` hooks `count(socket)` onto the sockets whose bytes
 * count (the TLS ones for a TLS server); without it bytesReceived() stays 0.
 */
export async function listenTracked(server, { host = HOST, port = 0, countBytesOf = () => {} } = {}) {
  const sockets = new Set();
  let bytes = 0;
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  countBytesOf(server, (socket) => socket.on('data', (chunk) => { bytes += chunk.length; }));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  let closing;
  return {
    server,
    host,
    port: server.address().port,
    /** Application bytes received from clients (decrypted, for TLS). */
    bytesReceived: () => bytes,
    /** TCP connections accepted so far. */
    connections: () => connections,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/**
 * A TLS server. `options` are tls.createServer options plus `key`/`cert` (see credentials),
 * `onConnection(tlsSocket)`, called for every completed handshake (without it connections stay open and
 * silent), and `host`/`port` to listen on (default 127.0.0.1, any free port). Also returns
 * `tlsClientErrors`: handshakes that failed, e.g. because a client aborted them.
 */
export async function startTlsServer({ onConnection, host, port, ...options }) {
  const server = createTlsServer(credentials(options));
  const tlsClientErrors = [];
  server.on('tlsClientError', (error) => tlsClientErrors.push(error));
  server.on('secureConnection', (socket) => {
    socket.on('error', () => {});
    onConnection?.(socket);
  });
  const handle = await listenTracked(server, { host, port, countBytesOf: (s, count) => s.on('secureConnection', count) });
  return { ...handle, tlsClientErrors };
}

/**
 * An HTTPS server. `handler(req, res, body)` runs once the request body has been read; the default
 * answers 200 `ok`. Every request is recorded in `requests` as `{ method, url, headers, body }`.
 */
export async function startHttpsServer(options, handler = (_req, res) => res.end('ok')) {
  const requests = [];
  const server = createHttpsServer(credentials(options), (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  const tlsClientErrors = [];
  server.on('tlsClientError', (error) => tlsClientErrors.push(error));
  const handle = await listenTracked(server, { countBytesOf: (s, count) => s.on('secureConnection', (socket) => {
    socket.on('error', () => {});
    count(socket);
  }) });
  return { ...handle, requests, tlsClientErrors, url: `https://${HOST}:${handle.port}/` };
}

const BEHAVIOURS = {
  /** Answers the ClientHello with plain HTTP, as a web server on the wrong port would. */
  http: (socket) => socket.once('data', () => {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad request');
  }),
  /** Reads the ClientHello, then closes the connection in the middle of the handshake. */
  close: (socket) => socket.once('data', () => socket.destroy()),
  /** Accepts and never answers, so a client can only time out. */
  silent: () => {},
};

/**
 * A plain TCP server for broken peers: `behaviour` is 'http', 'close', 'silent' or a function of the
 * socket. bytesReceived() counts the raw bytes (ClientHello included).
 */
export async function startPlainTcpServer(behaviour) {
  const onSocket = typeof behaviour === 'function' ? behaviour : BEHAVIOURS[behaviour];
  if (!onSocket) throw new TypeError(`unknown behaviour ${JSON.stringify(behaviour)}; use ${Object.keys(BEHAVIOURS).join(', ')} or a function`);
  const server = createTcpServer((socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  return listenTracked(server, { countBytesOf: (s, count) => s.on('connection', count) });
}

/**
 * The peers a probe cannot inspect, for the error-message tests of inspect() and of the CLI: plain
 * HTTP on the port, a close mid-handshake (`closing`), a server that accepts and never answers, and a port
 * nothing listens on (`refusedPort`). close() stops the three servers.
 */
export async function startBrokenPeers() {
  const [http, closing, silent, closed] = await Promise.all(['http', 'close', 'silent', 'silent'].map((behaviour) => startPlainTcpServer(behaviour)));
  await closed.close();
  return { http, closing, silent, refusedPort: closed.port, close: () => Promise.all([http, closing, silent].map((server) => server.close())) };
}

