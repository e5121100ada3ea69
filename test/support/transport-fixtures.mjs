// Shared pieces of the transport tests: the policy they pin, a resolver that sends every name to
// 127.0.0.1, a promise-returning https request, and an environment-variable scope.
import https from 'node:https';
import { makePki } from './pki.mjs';
import { connect as tlsConnect } from 'node:tls';

/**
 * A pin configuration: `localhost`, `api.example.test`, `bücher.example.test` and `127.0.0.1` are
 * pinned to the test intermediate (plus a backup key that no server uses). The trust store holds the
 * test root and the rogue root, so a rogue server passes standard validation and only pinning stops
 * it (a mis-issuing trusted CA, a corporate inspection root).
 */
export async function pinConfig(extra = {}) {
  const pki = await makePki();
  const pins = [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];
  return {
    ca: [pki.root.pem, pki.rogueRoot.pem],
    hosts: {
      localhost: { pins },
      'api.example.test': { pins },
      'bücher.example.test': { pins },
      '127.0.0.1': { pins },
    },
    ...extra,
  };
}

/** The same hosts pinned only to the second intermediate, which the servers here do not use: every pinned connection fails. */
export async function otherPinConfig() {
  const pki = await makePki();
  const config = await pinConfig();
  for (const host of Object.values(config.hosts)) host.pins = [pki.intermediate2.pin];
  return config;
}

/** A `lookup` for net/tls/undici that resolves every name to 127.0.0.1 (like curl's --resolve). */
export function lookupLoopback(_hostname, options, callback) {
  if (typeof options === 'function') return options(null, '127.0.0.1', 4);
  if (options?.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
  return callback(null, '127.0.0.1', 4);
}

/**
 * `https.request` as a promise: resolves `{ status, body, reusedSocket, sessionReused }`, rejects with
 * the request's error. `body` is written and the request ended.
 */
export function httpsRequest(urlOrOptions, options = {}, body) {
  return new Promise((resolve, reject) => {
    const { onRequest, ...requestOptions } = options;
    const onResponse = (res) => {
      const chunks = [];
      const sessionReused = res.socket.isSessionReused();
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'), reusedSocket: req.reusedSocket, sessionReused }));
      res.on('error', reject);
    };
    const req = typeof urlOrOptions === 'string'
      ? https.request(urlOrOptions, requestOptions, onResponse)
      : https.request({ ...urlOrOptions, ...requestOptions }, onResponse);
    req.on('error', reject);
    onRequest?.(req);
    req.end(body);
  });
}

/** Runs `fn` with environment variables set, restoring them afterwards. */
export async function withEnv(vars, fn) {
  const saved = {};
  for (const [name, value] of Object.entries(vars)) {
    saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return await fn();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** The request a rejected client must never get out: a secret in a header and in the body. */
export const SECRET = Object.freeze({
  headers: { authorization: 'Bearer s3cr3t-token', 'content-type': 'application/json' },
  body: JSON.stringify({ password: 'hunter2' }),
});

let otherHost;

/**
 * Credentials of `other.test`, an ordinary server of its own domain: its certificate (SAN other.test
 * only) comes from the rogue intermediate, which the transport tests' trust store accepts. Reached at
 * the address of a pinned host with a Host header or servername naming it, it passes standard
 * validation: only checking the pins of every name the connection is for (docs/guarantees.md C4) stops it.
 * Returns `{ cert: [leafPem, intermediatePem], key, pin }` for startHttpsServer/startTlsServer.
 */
export async function otherHostCredentials() {
  if (otherHost) return otherHost;
  const pki = await makePki();
  const { generateKeyPairSync } = await import('node:crypto');
  const { createCertificate } = await import('../../build/src/lib/x509.js');
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const leaf = createCertificate({
    subject: 'CN=other.test',
    publicKey: key,
    issuer: { subject: pki.rogueIntermediate.subject, privateKey: pki.rogueIntermediate.key },
    dnsNames: ['other.test'],
  });
  otherHost = Object.freeze({ cert: [leaf.pem, pki.rogueIntermediate.pem], key: key.export({ type: 'pkcs8', format: 'pem' }), pin: pki.rogueIntermediate.pin });
  return otherHost;
}

/**
 * A raw TLS exchange: connects with `options`, writes the secret at once (queued during the handshake,
 * so a check that lets it out is caught), resolves `{ reply, sessionReused, session }` or rejects.
 */
export function tlsExchange(options) {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(options);
    let reply = '';
    socket.write(`POST /login HTTP/1.1\r\nAuthorization: ${SECRET.headers.authorization}\r\n\r\n${SECRET.body}`);
    socket.on('data', (chunk) => { reply += chunk; });
    socket.on('end', () => resolve({ reply, sessionReused: socket.isSessionReused(), session: socket.getSession() }));
    socket.on('error', reject);
  });
}
