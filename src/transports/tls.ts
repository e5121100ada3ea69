import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { assertPolicy, type PinPolicy } from '../policy/policy.js';
import { notifyViolation } from '../reports/deliver.js';
import { followSocket, hardenTlsOptions, verificationRecorder } from './handshake.js';

/** The `createConnection` of {@link pinnedTlsOptions}' result, which `http2.connect` calls instead of `tls.connect`. */
type CreateConnection = (authority: URL | { hostname?: string; host?: string; port?: string | number; protocol?: string } | ConnectionOptions, options?: unknown) => TLSSocket;

/**
 * Opens every connection made from these options itself, so that certpin sees the socket: it is
 * tracked with what it was verified with and re-checked on `policy.update()` (G2), which an HTTP/2
 * session, open for as long as the application likes, would otherwise escape. Called by
 * `http2.connect(authority, options)` as Node's own code would call `tls.connect` (ALPN `h2`, the
 * authority's host as servername unless it is an IP), and by `https.request(options, callback)`.
 */
function pinnedCreateConnection(policy: PinPolicy, options: ConnectionOptions): CreateConnection {
  return function createConnection(first, second) {
    let connectOptions: ConnectionOptions;
    if (typeof second === 'object' && second !== null) {
      // http2.connect(authority, options): `second` is its copy of these options.
      const authority = first as { hostname?: string; host?: string; port?: string | number; protocol?: string };
      const protocol = authority.protocol || (second as { protocol?: string }).protocol || 'https:';
      if (protocol !== 'https:') {
        throw new TypeError(`pinnedTlsOptions: ${protocol} has no TLS to pin; use an https: authority`);
      }
      let host = authority.hostname || authority.host || 'localhost';
      if (host.startsWith('[')) host = host.slice(1, -1);
      const port = authority.port !== undefined && authority.port !== '' ? Number(authority.port) : 443;
      const given = second as ConnectionOptions & { createConnection?: unknown };
      // Its checkServerIdentity is certpin's own from these options: the caller's runs after the new one.
      const { createConnection: _ours, checkServerIdentity: _check, ...rest } = given;
      connectOptions = {
        ...rest,
        // Node's http2 passes host and port as arguments, which options.host overrides (tls.connect).
        host: rest.host ?? host,
        port: rest.port ?? port,
        ALPNProtocols: rest.ALPNProtocols ?? ['h2', ...((given as { allowHTTP1?: boolean }).allowHTTP1 === true ? ['http/1.1'] : [])],
      };
      if (!connectOptions.servername && !isIP(host)) connectOptions.servername = host;
    } else {
      const { createConnection: _ours, checkServerIdentity: _check, ...rest } = first as ConnectionOptions & { createConnection?: unknown };
      connectOptions = rest;
      const host = rest.host;
      if (!rest.servername && typeof host === 'string' && !isIP(host)) connectOptions.servername = host;
    }
    const { holder, onVerified } = verificationRecorder(policy);
    const withCallerCheck = options.checkServerIdentity ? { ...connectOptions, checkServerIdentity: options.checkServerIdentity } : connectOptions;
    const socket = tls.connect(hardenTlsOptions(policy, withCallerCheck, 443, { onViolation: notifyViolation, onVerified }));
    socket.disableRenegotiation?.();
    followSocket(policy, socket, { verified: holder });
    return socket;
  };
}

/**
 * Options for `tls.connect` and `http2.connect` that accept only the pinned identity. `options` pass
 * through, except what would weaken validation: `rejectUnauthorized` is always true, a `session` is
 * dropped (resumption would skip the check), renegotiation is refused, TLS 1.2 is the minimum, and a
 * `checkServerIdentity` of yours runs after certpin's, never instead of it. The pins of every name
 * the connection is for apply: `host`, `servername`, and for `http2.connect` the authority's host
 * (docs/guarantees.md C4).
 *
 * A `createConnection` of yours is refused with a `TypeError`: `http2.connect` would call it instead
 * of `tls.connect` and skip the check. The result carries certpin's own `createConnection`, through
 * which `http2.connect` opens its connection: an HTTP/2 session is then re-checked on
 * `policy.update()`, kept if it still passes, closed if not (G2). A socket you open yourself with
 * `tls.connect(options)` is checked during its handshake only.
 *
 * @example
 * ```js
 * import tls from 'node:tls'
 * import http2 from 'node:http2'
 * import { createPolicy, pinnedTlsOptions } from 'certpin'
 * const socket = tls.connect(pinnedTlsOptions(policy, { host: 'api.example.com', port: 443, servername: 'api.example.com' }))
 * const session = http2.connect('https://api.example.com', pinnedTlsOptions(policy))
 * ```
 */
export function pinnedTlsOptions(policy: PinPolicy, options: ConnectionOptions = {}): ConnectionOptions {
  assertPolicy(policy, 'pinnedTlsOptions');
  const given = options as ConnectionOptions & { createConnection?: unknown };
  if (given.createConnection !== undefined) {
    throw new TypeError('pinnedTlsOptions: options.createConnection is not supported: http2.connect would open the connection with it and skip the pin check');
  }
  const hardened = hardenTlsOptions(policy, options, 443, { onViolation: notifyViolation }) as ConnectionOptions & { createConnection?: CreateConnection };
  hardened.createConnection = pinnedCreateConnection(policy, options);
  return hardened;
}
