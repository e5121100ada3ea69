// Test-only preload for the README examples (`node --import …/readme-preload.mjs example.mjs`): the
// examples talk to https://api.example.com as a reader's application would, and this sends those
// connections to a local server instead, keeping the name (SNI, certificate check) api.example.com.
// Every TLS client in Node (undici, node:https and so axios and ws, http2) calls `connect` on the
// node:tls module object, so replacing it there redirects them all. A TLS connection to any host that
// is not routed is refused, so the examples can never reach the network.
//
// CERTPIN_README_ROUTES: JSON {"host:port": localPort}.
import { syncBuiltinESMExports } from 'node:module';
import tls from 'node:tls';

const routes = JSON.parse(process.env.CERTPIN_README_ROUTES ?? '{}');
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const originalConnect = tls.connect;

/** tls.connect(options[, cb]), (port[, host][, options][, cb]) as one options object and the callback. */
function normalize(args) {
  const callback = typeof args.at(-1) === 'function' ? args.at(-1) : undefined;
  const [first, second, third] = args;
  if (first !== null && typeof first === 'object') return [{ ...first }, callback];
  const options = { port: first };
  if (typeof second === 'string') options.host = second;
  const extra = [second, third].find((value) => value !== null && typeof value === 'object');
  return [{ ...extra, ...options }, callback];
}

tls.connect = function connect(...args) {
  const [options, callback] = normalize(args);
  if (options.socket === undefined) {
    const host = options.host ?? 'localhost';
    const port = Number(options.port ?? 443);
    const local = routes[`${host}:${port}`];
    if (local !== undefined) {
      options.servername ??= host;
      options.host = '127.0.0.1';
      options.port = local;
    } else if (!LOOPBACK.has(host)) {
      throw new Error(`readme-preload: no route for ${host}:${port}; the README tests never leave loopback`);
    }
  }
  return callback === undefined ? originalConnect.call(this, options) : originalConnect.call(this, options, callback);
};
syncBuiltinESMExports();
